"""A raw LSP client for tests: it writes exactly the bytes a test gives it, and reads every frame back.

pytest-lsp's client only sends well-formed messages; the bad-input tests need to
send broken ones (invalid JSON, arrays, requests before ``initialize``) and to see
the answers with id null. `WireClient` also checks the server's stdout strictly:
every byte must belong to a ``Content-Length`` frame holding a JSON object, so a
stray print or traceback on stdout fails the test (`violations`).
"""
from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_MODEL = ROOT / "trained-models" / "default"


def lsp_command(*args) -> list[str]:
    """`pycc lsp ARGS` run by this interpreter."""
    return [sys.executable, "-m", "pycodecomplete", "lsp", *map(str, args)]


class WireClient:
    def __init__(self, command: list[str], env: dict | None = None):
        self.process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, cwd=ROOT, env={**os.environ, **(env or {})})
        self.messages: queue.Queue = queue.Queue()
        self.notifications: list[dict] = []
        self.violations: list[str] = []
        self._stderr: list[bytes] = []
        self._next_id = 1000
        threading.Thread(target=self._read_frames, daemon=True).start()
        threading.Thread(target=lambda: self._stderr.extend(self.process.stderr), daemon=True).start()

    # ------------------------------------------------------------------ writing

    def write(self, data: bytes) -> None:
        self.process.stdin.write(data)
        self.process.stdin.flush()

    def frame(self, body: bytes) -> None:
        self.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def notify(self, method: str, params=None) -> None:
        self.frame(json.dumps({"jsonrpc": "2.0", "method": method, "params": params}).encode())

    def send_request(self, method: str, params=None, msg_id=None):
        if msg_id is None:
            self._next_id += 1
            msg_id = self._next_id
        self.frame(json.dumps({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params}).encode())
        return msg_id

    def request(self, method: str, params=None, timeout: float = 30) -> dict:
        return self.answer(self.send_request(method, params), timeout)

    # ------------------------------------------------------------------ reading

    def answer(self, msg_id, timeout: float = 30) -> dict:
        """The response with `msg_id` (notifications on the way are kept in `notifications`)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no answer to {msg_id!r}; stderr:\n{self.stderr()}")
            try:
                message = self.messages.get(timeout=left)
            except queue.Empty:
                continue
            if message is None:
                raise EOFError(f"the server closed stdout before answering {msg_id!r}; stderr:\n{self.stderr()}")
            if "method" in message and "id" not in message:
                self.notifications.append(message)
            elif message.get("id") == msg_id and "method" not in message:
                return message

    def initialize(self, capabilities: dict | None = None) -> dict:
        answer = self.request("initialize", {"processId": os.getpid(), "rootUri": None,
                                             "capabilities": capabilities or {}})
        self.notify("initialized", {})
        return answer

    def open(self, uri: str, text: str, language: str = "python") -> None:
        self.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": language, "version": 1,
                                                              "text": text}})

    def complete(self, uri: str, line: int, character: int, timeout: float = 30) -> dict:
        return self.request("textDocument/completion", {"textDocument": {"uri": uri},
                                                        "position": {"line": line, "character": character}},
                            timeout)

    def end(self, timeout: float = 30) -> int:
        """shutdown, exit; the exit code."""
        assert self.request("shutdown").get("result", "missing") is None
        self.notify("exit")
        return self.process.wait(timeout)

    def stderr(self) -> str:
        return b"".join(self._stderr).decode("utf-8", "replace")

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def _read_frames(self) -> None:
        out = self.process.stdout
        while True:
            length = None
            while True:
                line = out.readline()
                if not line:
                    self.messages.put(None)
                    return
                if line == b"\r\n":
                    break
                name, _, value = line.decode("ascii", "replace").partition(":")
                if name.lower() == "content-length" and value.strip().isdigit():
                    length = int(value)
                elif name.lower() != "content-type":
                    self.violations.append(f"not a header line on stdout: {line[:200]!r}")
            if length is None:
                self.violations.append("a frame without Content-Length")
                continue
            body = out.read(length)
            try:
                message = json.loads(body)
                assert isinstance(message, dict) and message.get("jsonrpc") == "2.0"
            except (ValueError, AssertionError):
                self.violations.append(f"not a JSON-RPC message on stdout: {body[:200]!r}")
                continue
            self.messages.put(message)
