"""The time budget: reading stops at it and resumes on the next request; the search answers what it
found; memory while reading does not grow with the text. Clocks are fake where timing matters, so
the tests are the same on a loaded machine."""
from __future__ import annotations

import json

import pytest

from pycodecomplete.engine import load_engine
from pycodecomplete.engine.budget import READ_CHUNK, Deadline

CODE = "def f(x):\n    if x > 1:\n        return x * f(x - 1)\n    return 1\n\n"


class TickClock:
    """A clock that moves `tick` seconds each time it is read."""

    def __init__(self, tick: float = 0.001):
        self.now, self.tick = 0.0, tick

    def __call__(self) -> float:
        self.now += self.tick
        return self.now


def texts(suggestions):
    return [s.text for s in suggestions]


def test_a_long_document_is_read_a_budget_at_a_time(random_model_dir):
    engine = load_engine(random_model_dir, {"runtime": "numpy"})
    exact = load_engine(random_model_dir, {"runtime": "numpy"}).complete(CODE * 200 + "    ret", n=5)
    text = CODE * 200 + "    ret"  # 12,000 characters
    cuts, requests = [], 0
    while requests < 50:
        deadline = Deadline(10, clock=TickClock())  # 10 ms; the clock moves 1 ms per look
        got = engine.complete(text, n=5, document="big", deadline=deadline)
        requests += 1
        cuts.append(deadline.cut)
        if deadline.cut is None:
            break
        assert deadline.cut == "read" and isinstance(got, list)
        read = len(engine.cache.entry("big").context)
        assert 0 < read < len(text) + 1  # kept for the next request, to continue from
    assert cuts[0] == "read" and cuts[-1] is None and requests > 2
    assert texts(got) == texts(exact)  # once read whole, the answer is the exact one
    assert [s.score for s in got] == pytest.approx([s.score for s in exact], rel=1e-5)


def test_a_cut_read_answers_from_the_last_characters(random_model_dir):
    engine = load_engine(random_model_dir, {"runtime": "numpy"})
    text = CODE * 100 + "    return sel"
    deadline = Deadline(1, clock=TickClock())
    got = engine.complete(text, n=5, deadline=deadline)
    fallback = load_engine(random_model_dir, {"runtime": "numpy", "context": "window", "window": 100})
    assert deadline.cut == "read"
    # The fallback is the last 100 characters from a zero state, as window mode without its boundary
    # character, and the search had no time left: so it offers at most what window mode finishes.
    assert set(texts(got)) <= set(texts(fallback.complete(text, n=10)))


def test_reading_stops_within_its_share_of_the_budget(random_model_dir):
    engine = load_engine(random_model_dir, {"runtime": "numpy"})
    clock = TickClock(0.001)
    deadline = Deadline(20, clock=clock)
    engine.complete(CODE * 300, n=3, document="d", deadline=deadline)
    read = len(engine.cache.entry("d").context)
    assert deadline.cut == "read"
    assert read <= 16 * READ_CHUNK  # 0.75 x 20 looks at the clock, one chunk each


@pytest.mark.parametrize("family", ["lstm", "gpt2"])
def test_the_search_answers_with_what_it_found_in_time(family, random_model_dir, tmp_path, tokenizer):
    if family == "gpt2":
        from _gpt import write_random_gpt_dir

        path = write_random_gpt_dir(tmp_path / "gpt", tokenizer)
    else:
        path = random_model_dir
    steps = []
    engine = load_engine(path, {"runtime": "numpy"})
    step = engine.stepper.step
    engine.stepper.step = lambda *a: (steps.append(1), step(*a))[1]
    full = engine.complete("for item in ", n=5)
    full_steps, steps[:] = len(steps), []
    assert full_steps >= 3
    for ticks in range(full_steps - 1):  # the clock is read once before each step
        clock = TickClock(0.001)
        deadline = Deadline(ticks + 0.5, clock=clock)
        got = engine.complete("for item in ", n=5, deadline=deadline)
        assert deadline.cut == "search" and len(steps) < full_steps
        assert len(got) <= 5 and [s.score for s in got] == sorted([s.score for s in got], reverse=True)
        steps[:] = []
    assert full  # without a budget the same request finds suggestions


def test_no_budget_is_the_default_and_changes_nothing(random_model_dir):
    engine = load_engine(random_model_dir)
    assert engine.settings.deadline_ms == 0
    deadline = Deadline(None)
    assert texts(engine.complete(CODE * 50, deadline=deadline)) == texts(engine.complete(CODE * 50))
    assert deadline.cut is None and not deadline.expired()
    budgeted = load_engine(random_model_dir, {"deadline_ms": 5000})
    assert texts(budgeted.complete(CODE * 5)) == texts(engine.complete(CODE * 5))


_PEAK_SCRIPT = """
import json, sys
from pycodecomplete.engine import load_engine

def peak():  # the process's peak resident memory so far (VmHWM), in bytes
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024

engine = load_engine(sys.argv[1], {"runtime": "numpy"})
engine.complete("import os", n=5)
before = peak()
engine.complete((%r * 2000)[:100_000], n=5)
print(json.dumps({"rise": peak() - before}))
"""


def test_reading_memory_does_not_grow_with_the_text(make_random_model_dir):
    """The probe: a 100,000-character text raised a worker's peak memory by ~170 MB (the 2x256 model
    kept every step of the 20,000 characters it reads). Now the read goes 256 characters at a time:
    what stays is the checkpoints (one per 32 characters, ~4 KB each) and one chunk's arrays."""
    import subprocess
    import sys

    path = make_random_model_dir("cpu")
    result = subprocess.run([sys.executable, "-c", _PEAK_SCRIPT % CODE, str(path)], capture_output=True, text=True,
                            timeout=300, check=True)
    rise = json.loads(result.stdout)["rise"]
    assert rise < 24 * 2**20, f"peak memory rose {rise / 2**20:.0f} MB"


def test_the_api_takes_a_smaller_budget_and_says_what_it_cut(client):
    body = client.post("/api/complete", json={"text": "x = 1"}).get_json()
    assert body["budget_ms"] == 1000 and body["cut"] is None  # the server's default, not reached
    small = client.post("/api/complete", json={"text": CODE * 60, "deadline_ms": 1}).get_json()
    assert small["budget_ms"] == 1 and small["cut"] in ("read", "search")
    too_big = client.post("/api/complete", json={"text": "x", "deadline_ms": 1001})
    assert too_big.status_code == 400 and "deadline_ms" in too_big.get_json()["error"]
    schema = client.get("/api/openapi.json").get_json()["components"]["schemas"]["CompleteRequest"]
    assert json.dumps(schema["properties"]["deadline_ms"]).count('"maximum": 1000') == 1


def test_the_server_budget_never_cuts_the_shipped_answers():
    """The shipped char-LSTM with `pycc serve`'s default budget answers exactly as recorded."""
    from pathlib import Path

    from record_shipped_answers import answers

    root = Path(__file__).resolve().parent
    want = json.loads((root / "data" / "shipped_answers.json").read_text())["models"]["default"]
    got = answers(load_engine(root.parent / "trained-models" / "default", {"deadline_ms": 1000}))
    for kind in ("complete", "document"):
        assert [[t for t, _ in row] for row in got[kind]] == [[t for t, _ in row] for row in want[kind]]
