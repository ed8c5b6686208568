"""The keystroke simulation, counted by hand on a tiny text with a stub engine."""
from pycodecomplete.ml.keystrokes import simulate, summarize


def test_exact_count_worked_out_by_hand():
    text = "def foo(x):\n"
    table = {
        "": ["class", "def ", "de"],  # "def " (rank 1) is the longest prefix of the text: 2 keystrokes
        "def ": ["bar", "f", "fo"],  # "fo" (rank 2) beats "f": 3 keystrokes
        "def fo": ["o(x):"],  # rank 0: 1 keystroke
        "def foo(x):": ["\n    ", "pass"],  # no suggestion matches: type "\n" by hand
    }
    result = simulate(text, lambda prefix: table.get(prefix, []))
    assert result == {"chars": 12, "keystrokes": 2 + 3 + 1 + 1, "accepted": 3,
                      "accepted_chars": 4 + 2 + 5, "offered": 4}
    summary = summarize([result])
    assert summary["keystroke_savings"] == 1 - 7 / 12
    assert summary["acceptance_rate"] == 3 / 4
    assert summary["mean_accepted_length"] == 11 / 3


def test_only_the_first_n_suggestions_count_and_empty_ones_are_ignored():
    result = simulate("ab", lambda prefix: ["", "x", "y", "z", "w", "ab"] if prefix == "" else [], n=5)
    assert result["keystrokes"] == 2 and result["accepted"] == 0


def test_no_engine_means_no_savings():
    assert summarize([simulate("hello", lambda prefix: [])])["keystroke_savings"] == 0.0
