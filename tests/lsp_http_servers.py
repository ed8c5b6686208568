"""HTTP servers for the language server's remote mode: a live `pycc serve`, and a fake API.

`start_pycc_serve` runs the real `pycc serve` (gunicorn) on a port the system picks
(``--port 0``) and reads the bound URL from gunicorn's "Listening at" log line, as
`benchmarks/lsp_latency.py` does. `FakeApi` answers ``/api/health`` and
``/api/complete`` on 127.0.0.1 and records each request's headers and body, to
check what the language server sends (the bearer token) and how it takes failures.
"""
from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def start_pycc_serve(model_dir, timeout: float = 120) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen([sys.executable, "-m", "pycodecomplete", "serve", "--model", str(model_dir),
                                "--port", "0", "--workers", "1"], cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    found: list[str] = []
    seen = threading.Event()

    def drain() -> None:  # gunicorn logs the bound URL; keep reading so its pipe never fills
        for line in process.stderr:
            match = re.search(r"Listening at: (http://\S+)", line)
            if match and not found:
                found.append(match.group(1))
                seen.set()
        seen.set()

    threading.Thread(target=drain, daemon=True).start()
    deadline = time.monotonic() + timeout
    if not seen.wait(timeout) or not found:
        stop(process)
        raise RuntimeError("pycc serve did not start")
    while True:
        try:
            requests.get(f"{found[0]}/api/health", timeout=5).raise_for_status()
            return process, found[0]
        except requests.RequestException:
            if time.monotonic() > deadline or process.poll() is not None:
                stop(process)
                raise
            time.sleep(0.1)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


class FakeApi:
    """``mode``: "ok" answers `SUGGESTIONS`; "error" answers 500 with an error; "slow" answers after 10 s."""

    SUGGESTIONS = [{"text": "umentParser", "score": 0.5}, {"text": "ument", "score": 0.25}]

    def __init__(self, mode: str = "ok"):
        self.mode = mode
        self.requests: list[dict] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                api.requests.append({"path": self.path, "headers": dict(self.headers), "body": None})
                self._answer(200, {"status": "ok", "model": "fake-api"})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"null")
                api.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                if api.mode == "error":
                    self._answer(500, {"error": "the model fell over"})
                    return
                if api.mode == "slow":
                    time.sleep(10)
                self._answer(200, {"suggestions": FakeApi.SUGGESTIONS, "model": "fake-api", "elapsed_ms": 0.1})

            def _answer(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def completions(self) -> list[dict]:
        return [r for r in self.requests if r["path"] == "/api/complete"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
