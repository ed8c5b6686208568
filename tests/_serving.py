"""Start and stop a real `pycc serve` (gunicorn) for tests, and talk to it over raw sockets."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(args: list, env: dict | None = None, timeout: float = 60.0):
    """(process, base URL) of `pycc serve --port FREE *args`, once /api/health answers."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "pycodecomplete", "serve", "--port", str(port),
                                *map(str, args)], cwd=ROOT, env={**os.environ, **(env or {})},
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            requests.get(f"{base}/api/health", timeout=5).raise_for_status()
            return process, base
        except requests.ConnectionError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"server did not start:\n{process.communicate()[0]}") from None
            time.sleep(0.1)


def stop_server(process) -> str:
    """Stop it (SIGTERM, then SIGKILL) and return what it printed."""
    process.terminate()
    try:
        output, _ = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
    return output or ""


def raw_request(base: str, data: bytes, timeout: float = 10.0) -> tuple[int, dict, bytes]:
    """Send `data` as is; (status, headers, body) of the answer, read until the server closes or
    the Content-Length is in."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(data)
        received = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
            head, sep, body = received.partition(b"\r\n\r\n")
            if sep:
                headers = _headers(head)
                if len(body) >= int(headers.get("content-length", 1 << 30)):
                    break
    head, _, body = received.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, _headers(head), body


def _headers(head: bytes) -> dict:
    lines = head.decode("latin-1").split("\r\n")[1:]
    return {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
