"""The edit benchmark's span choice and retyping."""
from __future__ import annotations

from pycodecomplete.corpus import SourceFile
from pycodecomplete.engine import load_engine
from pycodecomplete.ml.edits import BRACKET_STRIDE, LINE_STRIDE, retype, simulate_edits, spans

TEXT = "\n".join(f"    value_{i} = compute(alpha_{i}, beta)" for i in range(40)) + "\n"


def test_spans_are_whole_lines_and_bracket_contents_chosen_deterministically():
    chosen = spans(TEXT)
    assert chosen == spans(TEXT)
    lines = [TEXT[a:b] for a, b, kind in chosen if kind == "line"]
    brackets = [TEXT[a:b] for a, b, kind in chosen if kind == "brackets"]
    assert len(lines) == 40 // LINE_STRIDE and len(brackets) == 40 // BRACKET_STRIDE
    assert all(line.startswith("value_") and line.endswith("beta)") for line in lines)  # indentation stays
    assert all(b.startswith("alpha_") and b.endswith(", beta") for b in brackets)  # the closer stays


class Oracle:
    """An engine that always offers the next 4 characters of the file (and the closer after them)."""

    def __init__(self, text):
        self.text = text

    def complete(self, before, n=5, suffix="", document=None):
        from pycodecomplete.engine.text import Suggestion

        rest = self.text[len(before):]
        return [Suggestion(rest[:4] + ")", 0.6), Suggestion(rest[:4], 0.4)]

    def forget(self, document):
        pass


def test_retyping_counts_keystrokes_and_suggestions_that_repeat_the_suffix():
    text = "print(abcdefgh)\n"
    counts = retype(Oracle(text), text, 6, 14, with_suffix=True)
    assert counts["chars"] == 8
    assert counts["keystrokes"] == 4 and counts["accepted"] == 2  # "abcd" (rank 1), "efgh" (rank 1)
    assert counts["repeated_suffix"] == 2  # "abcd)" and "efgh)" both end with the ")" after the span


def test_the_real_engine_repeats_nothing_of_the_suffix_once_cut(random_model_dir):
    engine = load_engine(random_model_dir)
    result = simulate_edits(engine, [SourceFile("x", "x.py", TEXT, "eval")], max_spans=3, progress=False)
    assert result["spans"] == 3
    assert result["with_suffix"]["repeated_suffix"] == 0
    assert result["with_suffix"]["chars"] == result["without_suffix"]["chars"] > 0
