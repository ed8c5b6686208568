"""Load on `pycc serve --workers 2` with locust (headless): typists, huge pastes, 10,000 documents, kill -9.

One run, one JSON object on stdout. Every phase starts its own server on 127.0.0.1
(a free port), with 32 tokens in a token file (one per simulated user, so the
default rate limits per token are on, as for a team), and telemetry to a
temporary SQLite file. Traffic goes to 127.0.0.1 only and every phase stops by
itself.

1. **budget** and **no_budget**: `--users` (32) users for `--seconds` (60) s. Most
   type a real file (the standard library's modules, one per user) a character at a
   time, 5 to 15 characters a second, each with its own document id; `--pasters`
   (2) of them instead paste a 100,000-character text without a document id every
   2 s, the request that the time budget is for. The same load runs with the
   default `--deadline-ms 1000` and with `--deadline-ms 0` (no budget). Reported:
   requests/s, p50/p99 (typing requests alone, and all), errors, cut answers, and
   the workers' RSS before, after and at peak (VmHWM).
2. **documents**: 8 users send 10,000 requests, each with a new document id and the
   first 300 characters of a file; the workers' RSS is sampled every 1,000 requests
   and must stay bounded by the document cache (256 documents / 64 MB per worker).
3. **kill9**: the typing load of phase 1 for `--seconds`, with one worker killed by
   ``kill -9`` halfway: failed requests, when the arbiter had two workers again, and
   when the last failure was seen.

    python benchmarks/load.py                       # the shipped model, about 5 minutes
    python benchmarks/load.py --model DIR --seconds 30 --users 16
"""
from __future__ import annotations

import gevent.monkey  # locust patches on import; do it first and explicitly

gevent.monkey.patch_all()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import sysconfig  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402
import psutil  # noqa: E402
import requests  # noqa: E402
from locust import HttpUser, between, constant, task  # noqa: E402
from locust.env import Environment  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
STDLIB = Path(sysconfig.get_paths()["stdlib"])
FILES = ["bisect.py", "textwrap.py", "shlex.py", "fnmatch.py", "glob.py", "heapq.py", "queue.py", "sched.py",
         "colorsys.py", "keyword.py", "numbers.py", "operator.py", "getopt.py", "this.py", "abc.py", "cmd.py"]
SOURCES = [(STDLIB / name).read_text() for name in FILES if (STDLIB / name).exists()]
PASTE = ("".join(SOURCES) * 20)[:100_000]


class Config:  # filled in by main(): locust builds users itself, so they read it from here
    tokens: list[str] = []
    next_user = 0


def next_token() -> str:
    token = Config.tokens[Config.next_user % len(Config.tokens)]
    Config.next_user += 1
    return token


class Typist(HttpUser):
    wait_time = between(1 / 15, 1 / 5)  # 5 to 15 characters a second

    def on_start(self):
        self.headers = {"Authorization": f"Bearer {next_token()}"}
        self.text = random.choice(SOURCES)
        self.position = random.randrange(len(self.text) // 2)
        self.document = f"load-{id(self)}"

    @task
    def keystroke(self):
        self.position = self.position + 1 if self.position < len(self.text) else 1
        self.client.post("/api/complete", json={"text": self.text[:self.position], "document": self.document},
                         headers=self.headers, name="type")


class Paster(HttpUser):
    wait_time = constant(2)

    def on_start(self):
        self.headers = {"Authorization": f"Bearer {next_token()}"}

    @task
    def paste(self):
        self.client.post("/api/complete", json={"text": PASTE}, headers=self.headers, name="paste")


class NewDocument(HttpUser):
    wait_time = constant(0)
    sent = 0
    total = 10_000

    def on_start(self):
        self.headers = {"Authorization": f"Bearer {next_token()}"}

    @task
    def open_document(self):
        if NewDocument.sent >= NewDocument.total:
            self.stop()
            return
        NewDocument.sent += 1
        text = SOURCES[NewDocument.sent % len(SOURCES)][:300]
        self.client.post("/api/complete", json={"text": text, "document": f"doc-{NewDocument.sent}"},
                         headers=self.headers, name="new-document")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: Path, folder: Path, extra: list[str]):
    port = free_port()
    log = open(folder / f"serve-{port}.log", "wb")
    process = subprocess.Popen([sys.executable, "-m", "pycodecomplete", "serve", "--model", str(model), "--port",
                                str(port), "--workers", "2", "--token-file", str(folder / "tokens"),
                                "--db", f"sqlite:///{folder / 'events.sqlite'}", *extra],
                               cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    process.log_path = folder / f"serve-{port}.log"
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{base}/api/health", timeout=2).ok and len(workers(process)) == 2:
                time.sleep(2)  # both workers warm
                return process, base
        except requests.ConnectionError:
            pass
        if process.poll() is not None:
            break
        time.sleep(0.2)
    raise SystemExit(f"server did not start: {(folder / f'serve-{port}.log').read_text()[-2000:]}")


def workers(process) -> list[psutil.Process]:
    try:
        return psutil.Process(process.pid).children()
    except psutil.NoSuchProcess:
        return []


def memory(process) -> dict:
    """RSS now and peak (VmHWM) per worker, in MB."""
    out = {}
    for worker in workers(process):
        try:
            status = Path(f"/proc/{worker.pid}/status").read_text()
            peak = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
            out[worker.pid] = {"rss_mb": round(worker.memory_info().rss / 2**20, 1), "peak_mb": round(peak / 1024, 1)}
        except (psutil.NoSuchProcess, FileNotFoundError):
            pass
    return out


def stop_server(process) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


def run_locust(base: str, users: list[tuple[type, int]], seconds: float, during=None, done=None) -> Environment:
    env = Environment(user_classes=[cls for cls, _ in users], host=base)
    failures_at: list[float] = []
    cuts = {"read": 0, "search": 0}

    def on_request(request_type, name, response_time, response_length, response=None, exception=None, **kw):
        if exception is not None:
            failures_at.append(time.monotonic())
        elif response is not None and response.status_code == 200 and name in ("type", "paste"):
            cut = response.json().get("cut")
            if cut:
                cuts[cut] += 1

    env.events.request.add_listener(on_request)
    runner = env.create_local_runner()
    total = sum(count for _, count in users)
    for cls, count in users:
        cls.weight, cls.fixed_count = 1, count
    runner.start(total, spawn_rate=total)
    started = time.monotonic()
    if during is not None:
        gevent.spawn(during, started)
    while time.monotonic() - started < seconds and not (done is not None and done()):
        gevent.sleep(0.5)
    runner.quit()
    env.failures_at, env.cuts, env.started = failures_at, cuts, started
    return env


def summary(env: Environment, seconds: float) -> dict:
    def entry(stats):
        return {"requests": stats.num_requests, "failures": stats.num_failures,
                "rps": round(stats.num_requests / seconds, 1),
                "p50_ms": stats.get_response_time_percentile(0.5), "p99_ms": stats.get_response_time_percentile(0.99),
                "max_ms": round(stats.max_response_time or 0, 1)}

    out = {"all": entry(env.stats.total)}
    for name in ("type", "paste", "new-document"):
        stats = env.stats.get(name, "POST")
        if stats.num_requests:
            out[name] = entry(stats)
    out["cut_answers"] = env.cuts
    return out


def load_phase(model, folder, args, deadline_ms: int) -> dict:
    process, base = start_server(model, folder, ["--deadline-ms", str(deadline_ms)])
    try:
        before = memory(process)
        env = run_locust(base, [(Typist, args.users - args.pasters), (Paster, args.pasters)], args.seconds)
        return {"deadline_ms": deadline_ms, **summary(env, args.seconds), "memory_before": before,
                "memory_after": memory(process)}
    finally:
        stop_server(process)


def documents_phase(model, folder) -> dict:
    process, base = start_server(model, folder, [])
    samples = []

    def sample(started):
        while True:
            samples.append({"requests": NewDocument.sent, "memory": memory(process)})
            gevent.sleep(5)

    try:
        started = time.monotonic()
        env = run_locust(base, [(NewDocument, 8)], 900, during=sample,
                         done=lambda: NewDocument.sent >= NewDocument.total)
        elapsed = time.monotonic() - started
        samples.append({"requests": NewDocument.sent, "memory": memory(process)})
        return {**summary(env, elapsed), "seconds": round(elapsed, 1), "rss_samples": samples[::3] + samples[-1:]}
    finally:
        stop_server(process)


def kill_phase(model, folder, args) -> dict:
    process, base = start_server(model, folder, [])
    events = {}

    def killer(started):
        gevent.sleep(args.seconds / 2)
        original = {w.pid for w in workers(process)}
        os.kill(min(original), signal.SIGKILL)
        events["killed_at"] = time.monotonic()
        while True:  # the replacement logs that it serves once it is warm (post_worker_init ran)
            new = [w.pid for w in workers(process) if w.pid not in original]
            if new and f"[{new[0]}] [INFO] ASGI server listening" in process.log_path.read_text(errors="replace"):
                break
            gevent.sleep(0.05)
        events["two_workers_again_s"] = round(time.monotonic() - events["killed_at"], 2)

    try:
        env = run_locust(base, [(Typist, args.users)], args.seconds, during=killer)
        last = max(env.failures_at, default=None)
        return {**summary(env, args.seconds), "failed_requests": env.stats.total.num_failures,
                "errors": {f"{v.method} {v.name}: {v.error}"[:200]: v.occurrences for v in env.stats.errors.values()},
                "two_workers_again_s": events.get("two_workers_again_s"),
                "last_failure_after_kill_s": round(last - events["killed_at"], 2) if last else None}
    finally:
        stop_server(process)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "trained-models" / "default")
    parser.add_argument("--users", type=int, default=32)
    parser.add_argument("--pasters", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--phases", default="budget,no_budget,documents,kill9")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="pycc-load-"))
    Config.tokens = [f"load-token-{k:02d}-{os.urandom(8).hex()}" for k in range(max(32, args.users))]
    (folder / "tokens").write_text("\n".join(Config.tokens) + "\n")
    result = {"model": str(args.model), "users": args.users, "seconds": args.seconds, "cpus": os.cpu_count(),
              "load_before": [round(x, 2) for x in os.getloadavg()]}
    phases = args.phases.split(",")
    if "budget" in phases:
        result["budget"] = load_phase(args.model, folder, args, 1000)
    if "no_budget" in phases:
        result["no_budget"] = load_phase(args.model, folder, args, 0)
    if "documents" in phases:
        result["documents"] = documents_phase(args.model, folder)
    if "kill9" in phases:
        result["kill9"] = kill_phase(args.model, folder, args)
    result["load_after"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
