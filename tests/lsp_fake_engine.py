"""A stand-in engine behind the real language server, for timing-sensitive tests.

    python tests/lsp_fake_engine.py            # serves LSP on stdio, like `pycc lsp`

The engine answers fixed suggestions at once, except for text ending in ``slow``,
which it answers after `SLOW_SECONDS` (to test cancellation and stale requests),
text ending in ``boom``, for which it raises, and text ending in ``noisy``, for
which it writes to stdout as a careless library would. It appends each call as a JSON
line to the file named by ``PYCC_LSP_FAKE_LOG`` (``complete`` when it starts,
``done`` when it returns, ``forget``), so a test can see what reached the engine
and whether an answer came before the engine finished.
"""
from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SLOW_SECONDS = 2.0
WORDS = ["alpha", "beta_gamma", "delta"]


class FakeSuggestion(NamedTuple):
    text: str
    score: float


class FakeEngine:
    name = "fake-engine"

    def __init__(self, log_path: str | None):
        self.log_path = log_path
        self._lock = threading.Lock()

    def _record(self, **event) -> None:
        if self.log_path:
            with self._lock, open(self.log_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(event) + "\n")

    def complete(self, text, n=5, max_chars=None, document=None, suffix="", multiline=False):
        self._record(call="complete", document=document, chars=len(text), tail=text[-10:], suffix=suffix,
                     multiline=multiline)
        if text.endswith("boom"):
            raise RuntimeError("the fake engine fails on purpose")
        if text.endswith("noisy"):  # a library that prints: Python's stdout and the file descriptor
            print("noise from print()")
            sys.stdout.flush()
            os.write(1, b"noise from a C library\n")
        if text.endswith("slow"):
            time.sleep(SLOW_SECONDS)
            answer = [FakeSuggestion("_LATE", 0.9)]
        else:
            answer = [FakeSuggestion(word, 0.5 / (rank + 1)) for rank, word in enumerate(WORDS)][:n]
        self._record(call="done", document=document)
        return answer

    def forget(self, document):
        self._record(call="forget", document=document)


def read_log(path) -> list[dict]:
    path = Path(path)
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    from pycodecomplete.lsp import serve
    from pycodecomplete.lsp.backends import LocalBackend

    raise SystemExit(serve(LocalBackend(FakeEngine(os.environ.get("PYCC_LSP_FAKE_LOG"))), n=5))
