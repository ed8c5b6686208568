"""A stand-in completion engine for web tests: `ENGINE_FACTORY="stub_engine:create_engine"`.

It answers fixed suggestions, including HTML that must be shown as text, and answers
slowly for text ending in "slow" (to test that late answers are dropped).
"""
from __future__ import annotations

import time
from types import SimpleNamespace

from pycodecomplete.engine.text import Suggestion

HTML_SUGGESTION = "<img src=x onerror=alert(1)>"
SNEAKY_SUGGESTION = "<img src=x onerror=\"window.__pwned=1\">"
SLOW_SECONDS = 1.5


class StubEngine:
    name = "stub-model"
    settings = SimpleNamespace(max_chars=40)

    def __init__(self):
        self.requests = []
        self.suffixes = []

    def complete(self, text, n=5, max_chars=None, document=None, deadline=None, suffix="", files=()):
        self.requests.append(text)
        self.suffixes.append(suffix)
        if text.endswith("slow"):
            time.sleep(SLOW_SECONDS)
            options = ["STALE-ANSWER"]
        else:
            options = [HTML_SUGGESTION, SNEAKY_SUGGESTION, "fresh", "</li><li>split"]
        return [Suggestion(t[:max_chars or 40], 0.5 / (i + 1)) for i, t in enumerate(options)][:n]

    def info(self):
        return {"name": self.name, "engine": {"stub": True}}


def create_engine(config):
    return StubEngine()
