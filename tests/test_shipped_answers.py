"""The shipped models answer exactly as recorded (tests/data/shipped_answers.json).

Recorded by `tests/record_shipped_answers.py` before the family-package refactor,
so moving code cannot silently change what users get: the same suggestions, in the
same order, with the same scores (to float rounding across BLAS threads), the same
answers through the per-document cache, and the same seeded generations. A newly
shipped model is recorded once, when it is shipped (`record_shipped_answers.py NAME`).
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from record_shipped_answers import RECORDED_SETTINGS, answers

RECORD = json.loads((Path(__file__).parent / "data" / "shipped_answers.json").read_text())
CHECKOUT = Path(__file__).resolve().parent.parent
@pytest.mark.parametrize("name", sorted(RECORD["models"]))
def test_shipped_model_answers_as_recorded(name):
    from pycodecomplete.engine import load_engine

    got = answers(load_engine(CHECKOUT / "trained-models" / name, RECORDED_SETTINGS[name]))
    want = RECORD["models"][name]
    for kind in ("complete", "document"):
        for prompt_index, (got_list, want_list) in enumerate(zip(got[kind], want[kind], strict=True)):
            assert [t for t, _ in got_list] == [t for t, _ in want_list], (kind, prompt_index)
            for (_, got_score), (_, want_score) in zip(got_list, want_list):
                assert got_score == pytest.approx(want_score, rel=1e-5, abs=1e-12), (kind, prompt_index)
    assert got["generate"] == want["generate"]
