"""Per-keystroke completion latency through HTTP, against the design's original method.

One run, one JSON object on stdout, for one model or several side by side:

1. Builds the Keras model for `--preset` (random Keras-initialised weights are fine
   for timing) and writes it as a model directory, or uses each `--model DIR`. A
   `--model` value may carry `pycc serve` flags for that server only:
   `--model "trained-models/gpt2-cpu --runtime numpy"`.
2. Starts one `pycc serve` (gunicorn, one worker) per model, one after another, on
   free ports, and times each process start -> first completion served.
3. Types a real Python file (the first ~2,000 characters of the standard library's
   `textwrap.py`, or `--file`) one character per request: POST /api/complete with
   the text so far, n=5, one document id, over one keep-alive connection per server.
   With several models the whole file goes to each server in turn, as one server is
   used; `--interleaved` sends character k to every server before character k+1
   instead (load drifts hit all alike, but the servers evict each other's weights
   from the CPU caches).
   Reports the client-side round trip per keystroke (p50, p99, mean, max), the
   server's own `elapsed_ms`, and the workers' resident memory.
4. Runs the design's original method on each model and the same text, at
   `--original-suggestions` cursor positions spread over the file. The original app
   (its `CodeGenerator.predict_n`) made one suggestion of 25 characters per request
   by calling `model.predict` on the 100 characters before the cursor once for each
   of the 25 characters, appending the predicted character each time. For a GPT-2,
   the same: 25 `model.predict` calls on the context tokens before the cursor (no KV
   cache), appending the predicted token each time (GPyT's serving). Both the time
   per suggestion (25 calls) and per single call are reported.
5. Prints every side, the ratios of their medians (`speedup_p50` per request: one
   25-call suggestion against our 5 suggestions; `speedup_per_call_p50` against a
   single call), which targets each model meets (`pycodecomplete.defaults.LATENCY_TARGETS`),
   and each model's p50 over the first model's (`p50_over_first`).

With `--record`, each trained model's `serving` figures go into its `metrics.json`,
where the default-model rule reads them (`pycodecomplete.defaults`).

    python benchmarks/latency.py --preset paper
    python benchmarks/latency.py --model trained-models/default --model trained-models/gpt2-cpu
    python benchmarks/latency.py --preset gpt2-cpu      # a random GPT-2 of the preset's size
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
import requests

from pycodecomplete.defaults import LATENCY_TARGETS as TARGETS, missed_targets

ROOT = Path(__file__).resolve().parent.parent


def sample_file(path: str | None, chars: int) -> tuple[str, str]:
    path = Path(path) if path else Path(sysconfig.get_paths()["stdlib"]) / "textwrap.py"
    text = path.read_text()
    if len(text) > chars:
        text = text[: text.rfind("\n", 0, chars) + 1]
    return str(path), text


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values, q) -> float:
    return float(np.percentile(np.asarray(values), q))


def summary_ms(values) -> dict:
    return {"p50": round(percentile(values, 50), 3), "p99": round(percentile(values, 99), 3),
            "mean": round(statistics.fmean(values), 3), "max": round(max(values), 3)}


def build_model(preset_name: str, model_dir: Path):
    from pycodecomplete.artifact import write_json_atomic, write_manifest, write_npz_atomic
    from pycodecomplete.config import preset

    if preset(preset_name).arch == "gpt2":  # GPT-2 family: random keras-hub weights, stdlib tokenizer
        return build_gpt_model(preset_name, model_dir)
    from pycodecomplete.ml.lstm.model import build_lstm, export_weights
    from pycodecomplete.vocab import CharVocabulary

    config = preset(preset_name)
    model = build_lstm(config)  # Keras initialisers: glorot kernels, orthogonal recurrent, zero biases
    write_manifest(model_dir, config, CharVocabulary().to_json(), name=f"bench-{preset_name}-random")
    write_npz_atomic(model_dir / "weights.npz", export_weights(model, config))
    write_json_atomic(model_dir / "summary.json", {"note": "random weights, for latency only"})
    return model, config


def build_gpt_model(preset_name: str, model_dir: Path):
    from pycodecomplete.artifact import TOKENIZER, write_bytes_atomic, write_json_atomic, write_manifest, \
        write_npz_atomic
    from pycodecomplete.config import preset
    from pycodecomplete.corpus import load_corpus
    from pycodecomplete.ml.gpt2.model import build_gpt, export_weights
    from pycodecomplete.corpus.tokenizer import train_tokenizer

    config = preset(preset_name)
    tokenizer = train_tokenizer((f.text for f in load_corpus(None).split("train")), config.gpt_vocab_size)
    config = config.with_overrides({"gpt_vocab_size": tokenizer.vocab_size})
    model = build_gpt(config)
    write_manifest(model_dir, config, tokenizer.describe(), name=f"bench-{preset_name}-random")
    write_bytes_atomic(model_dir / TOKENIZER, tokenizer.to_str().encode())
    write_npz_atomic(model_dir / "weights.npz", export_weights(model, config))
    write_json_atomic(model_dir / "summary.json", {"note": "random weights, for latency only"})
    return model, config


def load_keras(model_dir: Path):
    from pycodecomplete.artifact import ModelArtifact
    from pycodecomplete.ml.lstm.model import build_lstm, import_weights

    artifact = ModelArtifact.load(model_dir)
    if artifact.config.arch == "gpt2":
        from pycodecomplete.ml.gpt2.scoring import load_keras_model
        return load_keras_model(artifact), artifact.config
    return import_weights(build_lstm(artifact.config), artifact.config, artifact.weights()), artifact.config


def describe(config) -> str:
    if config.arch == "gpt2":
        return f"{config.gpt_layers}x{config.gpt_width} GPT-2 ({config.gpt_vocab_size} BPE tokens, context {config.seq_len})"
    return f"{config.lstm_layers}x{config.lstm_units} LSTM"


def serve(model_dir: Path, port: int, workers: int, log_path: Path, extra: list[str]):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    command = [sys.executable, "-m", "pycodecomplete", "serve", "--model", str(model_dir),
               "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers), *extra]
    log = open(log_path, "wb")
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    url = f"http://127.0.0.1:{port}/api/complete"
    deadline = started + 120
    while time.perf_counter() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            response = requests.post(url, json={"text": "import ", "n": 5}, timeout=10)
            if response.status_code == 200:
                return process, time.perf_counter() - started
        except requests.ConnectionError:
            pass
        time.sleep(0.02)
    process.kill()
    raise SystemExit(f"server did not answer within 120 s:\n{log_path.read_text()}")


def worker_rss_mb(process: subprocess.Popen) -> dict:
    master = psutil.Process(process.pid)
    workers = master.children(recursive=True)
    return {"workers": [round(w.memory_info().rss / 2**20, 1) for w in workers],
            "master": round(master.memory_info().rss / 2**20, 1)}


def type_files(ports: dict, text: str, n: int, interleaved: bool) -> dict:
    """One request per character, over one keep-alive connection per server (stdlib
    http.client: the `requests` library alone adds about 1 ms of client-side Python per
    call): the whole file to each server in turn, or (`interleaved`) each character to
    every server before the next character. Returns {label: (round trips ms, server
    elapsed ms, empty answers)}."""
    connections = {label: http.client.HTTPConnection("127.0.0.1", port, timeout=30) for label, port in ports.items()}
    headers = {"Content-Type": "application/json"}
    out = {label: ([], [], 0) for label in ports}
    order = [(end, label) for end in range(1, len(text) + 1) for label in connections] if interleaved else \
        [(end, label) for label in connections for end in range(1, len(text) + 1)]
    for end, label in order:
        body = json.dumps({"text": text[:end], "n": n, "document": "latency-benchmark"})
        for connection in (connections[label],):
            started = time.perf_counter()
            connection.request("POST", "/api/complete", body, headers)
            response = connection.getresponse()
            answer = json.loads(response.read())
            elapsed = (time.perf_counter() - started) * 1000
            if response.status != 200:
                raise SystemExit(f"{label}: HTTP {response.status}: {answer}")
            round_trips, server, empty = out[label]
            round_trips.append(elapsed)
            server.append(answer["elapsed_ms"])
            out[label] = (round_trips, server, empty + (not answer["suggestions"]))
    for connection in connections.values():
        connection.close()
    return out


def original_method_gpt(model, config, model_dir: Path, text: str, chars: int, suggestions: int) -> tuple[list, list]:
    """GPyT's serving, as the design's `predict_n`: for one suggestion, `chars` times model.predict
    on the last `seq_len` context tokens (a full forward pass, no KV cache), each time appending
    the predicted token. Returns (ms per suggestion, ms per call) at `suggestions` cursor positions."""
    from pycodecomplete.artifact import ModelArtifact
    from pycodecomplete.bpe import SEPARATOR_ID, BPETokenizer

    tokenizer = BPETokenizer.from_artifact(ModelArtifact.load(model_dir))
    ids = np.concatenate([[SEPARATOR_ID], tokenizer.encode(text)]).astype(np.int32)
    window = max(1, config.seq_len - chars)  # the context, leaving room for the appended tokens

    def predict(tokens):
        x = np.array(tokens[-config.seq_len:], np.int32)[None]
        return model.predict({"token_ids": x, "padding_mask": np.ones_like(x)}, verbose=0)

    predict(list(ids[:window]))  # build the predict function first
    per_suggestion, per_call = [], []
    for end in np.linspace(window, len(ids), suggestions).astype(int):
        tokens = list(ids[max(0, end - window):end])
        started = time.perf_counter()
        for _ in range(chars):
            call = time.perf_counter()
            logits = predict(tokens)
            per_call.append((time.perf_counter() - call) * 1000)
            tokens.append(int(np.argmax(logits[0, -1])))
        per_suggestion.append((time.perf_counter() - started) * 1000)
    return per_suggestion, per_call


def original_method(model, text: str, chars: int, suggestions: int) -> tuple[list, list]:
    """The design's serving: for one suggestion, `chars` times model.predict on the last 100
    characters, each time appending the predicted character. Returns (ms per suggestion,
    ms per call) at `suggestions` cursor positions spread over `text`."""
    from pycodecomplete.vocab import CharVocabulary

    vocab = CharVocabulary()
    ids = vocab.encode_document(text)
    model.predict(ids[None, :100].astype(np.int32), verbose=0)  # build the predict function first
    per_suggestion, per_call = [], []
    for end in np.linspace(100, len(ids), suggestions).astype(int):
        window = list(ids[end - 100:end])
        started = time.perf_counter()
        for _ in range(chars):
            call = time.perf_counter()
            probs = model.predict(np.array(window[-100:], np.int32)[None], verbose=0)
            per_call.append((time.perf_counter() - call) * 1000)
            window.append(int(np.argmax(probs[0, -1] if probs.ndim == 3 else probs[0])))
        per_suggestion.append((time.perf_counter() - started) * 1000)
    return per_suggestion, per_call


def machine() -> dict:
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in subprocess.run(
            ["lscpu"], capture_output=True, text=True).stdout.splitlines() if line.startswith("Model name"))
    except (OSError, StopIteration):
        cpu = platform.processor()
    return {"cpu": cpu, "cpus": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__}


def result_for(label, model_dir, info, config, typed, rss, startup_s, original, args, extra) -> dict:
    round_trips, server_ms, empty = typed
    per_suggestion, per_call, what = original
    ours = summary_ms(round_trips)
    speedup_call = statistics.median(per_call) / ours["p50"]
    speedup = statistics.median(per_suggestion) / ours["p50"]
    max_rss = max(rss["workers"] or [rss["master"]])
    serving = {"per_keystroke_ms": ours, "speedup_p50": round(speedup, 1), "startup_s": round(startup_s, 3),
               "rss_mb": max_rss}
    return {
        "model": {"label": label, "path": str(model_dir), "name": info["name"], "arch": describe(config),
                  "weights": "random" if args.preset_model else "trained"},
        "serve_flags": extra,
        "engine": info["engine"],
        "empty_answers": empty,
        "per_keystroke_ms": ours,
        "server_elapsed_ms": summary_ms(server_ms),
        "original_method": {"what": what, "suggestions": len(per_suggestion),
                            "per_suggestion_ms": summary_ms(per_suggestion),
                            "calls": len(per_call), "per_call_ms": summary_ms(per_call)},
        "speedup_p50": round(speedup, 1),
        "speedup_per_call_p50": round(speedup_call, 1),
        "startup_s": round(startup_s, 3),
        "rss_mb": rss,
        "missed_targets": missed_targets(serving),
        "serving": serving,
    }


def record(model_dir: Path, result: dict, report: dict) -> None:
    """The figures the default-model rule reads, into the model's metrics.json."""
    from pycodecomplete.artifact import write_json_atomic

    path = Path(model_dir) / "metrics.json"
    metrics = json.loads(path.read_text()) if path.exists() else {}
    metrics["serving"] = {**result["serving"], "source": "benchmarks/latency.py", "command": report["command"],
                          "file": report["file"], "serve_flags": result["serve_flags"],
                          "engine": {k: result["engine"].get(k) for k in ("runtime_effective", "int8_effective")},
                          "machine": report["machine"], "date": report["date"]}
    write_json_atomic(path, metrics)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="cpu",
                        help="architecture to build with random weights (paper, cpu, tiny, gpt2-cpu, gpt2-small...)")
    parser.add_argument("--model", action="append", default=None, metavar="'DIR [FLAGS]'",
                        help="a model directory, optionally with pycc serve flags for its server (repeatable: "
                             "models side by side, keystrokes interleaved)")
    parser.add_argument("--file", default=None, help="Python file to type (default: stdlib textwrap.py)")
    parser.add_argument("--chars", type=int, default=2000, help="characters of the file to type")
    parser.add_argument("--n", type=int, default=5)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--original-chars", type=int, default=25,
                        help="characters (GPT-2: tokens) per suggestion in the original method, one predict call each")
    parser.add_argument("--original-suggestions", type=int, default=8,
                        help="cursor positions at which the original method makes a suggestion")
    parser.add_argument("--runtime", choices=("onnx", "numpy"), default=None,
                        help="pycc serve --runtime (every server)")
    parser.add_argument("--model-threads", type=int, default=None, help="pycc serve --model-threads (every server)")
    parser.add_argument("--int8", action="store_true", help="pycc serve --int8 (every server)")
    parser.add_argument("--interleaved", action="store_true",
                        help="send each character to every server before the next one (load drifts hit all "
                             "alike, but the servers' weights then evict each other from the CPU caches); "
                             "default: the whole file to one server, then the next, as a single server is used")
    parser.add_argument("--record", action="store_true",
                        help="write each trained model's serving figures into its metrics.json (the default rule's "
                             "input); only servers started without flags, as pycc serve serves by default")
    args = parser.parse_args()
    common = []
    if args.runtime:
        common += ["--runtime", args.runtime]
    if args.model_threads:
        common += ["--model-threads", str(args.model_threads)]
    if args.int8:
        common += ["--int8"]

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    load_before = os.getloadavg()[0]  # other work on the machine skews every number here
    file_name, text = sample_file(args.file, args.chars)
    tmp = Path(tempfile.mkdtemp(prefix="pycc-latency-"))
    args.preset_model = not args.model
    sides = []  # (label, model dir, serve flags, keras model or None, config or None)
    if args.model:
        for value in args.model:
            model_dir, *flags = value.split()
            sides.append((value, Path(model_dir), flags + common, None, None))
    else:
        model_dir = tmp / f"{args.preset}-random"
        model, config = build_model(args.preset, model_dir)
        sides.append((args.preset, model_dir, common, model, config))

    servers, ports, startups, infos = {}, {}, {}, {}
    try:
        for index, (label, model_dir, extra, _, _) in enumerate(sides):  # one start-up at a time
            servers[label], startups[label] = serve(model_dir, free_port(), args.workers, tmp / f"server{index}.log",
                                                    extra)
            ports[label] = int(servers[label].args[servers[label].args.index("--port") + 1])
            infos[label] = requests.get(f"http://127.0.0.1:{ports[label]}/api/model", timeout=10).json()
        typed = type_files(ports, text, args.n, args.interleaved)
        rss = {label: worker_rss_mb(process) for label, process in servers.items()}
    finally:
        for process in servers.values():
            process.terminate()
            process.wait(timeout=30)
    load_after_typing = os.getloadavg()[0]

    results, keras_models = [], {}
    for label, model_dir, extra, model, config in sides:
        if model is None:
            if str(model_dir) not in keras_models:
                keras_models[str(model_dir)] = load_keras(model_dir)
            model, config = keras_models[str(model_dir)]
        if config.arch == "gpt2":
            per_suggestion, per_call = original_method_gpt(model, config, model_dir, text, args.original_chars,
                                                           args.original_suggestions)
            what = (f"one {args.original_chars}-token suggestion: model.predict on the context tokens before the "
                    "cursor (no KV cache), once per suggested token (GPyT's serving, as predict_n)")
        else:
            per_suggestion, per_call = original_method(model, text, args.original_chars, args.original_suggestions)
            what = (f"one {args.original_chars}-character suggestion: model.predict on the last 100 chars, "
                    f"once per suggested char (the design's CodeGenerator.predict_n)")
        results.append(result_for(label, model_dir, infos[label], config, typed[label], rss[label], startups[label],
                                  (per_suggestion, per_call, what), args, extra))
    first = results[0]["per_keystroke_ms"]["p50"]
    for result in results:
        result["p50_over_first"] = round(result["per_keystroke_ms"]["p50"] / first, 3)
    report = {
        "benchmark": "latency",
        "command": "python benchmarks/latency.py " + " ".join(
            f"'{a}'" if " " in a else a for a in sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d"),
        "file": {"path": file_name, "chars": len(text)},
        "requests_per_model": len(text),
        "suggestions_per_request": args.n,
        "client": "http.client, one keep-alive connection per server, JSON encode/decode inside the timing"
                  + ("; keystrokes interleaved across the servers" if args.interleaved and len(sides) > 1 else
                     "; servers typed one after another" if len(sides) > 1 else ""),
        "workers": args.workers,
        "targets": TARGETS,
        "results": results,
        "machine": {**machine(), "load_avg_1m_before": round(load_before, 2),
                    "load_avg_1m_after_typing": round(load_after_typing, 2),
                    "load_avg_1m_end": round(os.getloadavg()[0], 2)},
    }
    if args.record:  # the rule reads how a model is served by default: only servers without flags
        for (label, model_dir, extra, *_), result in zip(sides, results):
            if not args.preset_model and not extra:
                record(model_dir, result, report)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
