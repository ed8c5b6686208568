"""Suffix-aware suggestions: the rules that keep a suggestion from repeating the code after the cursor."""
from __future__ import annotations

import pytest

from pycodecomplete.engine import load_engine
from pycodecomplete.engine.suffix import apply, holds_code, limit_to_expression, repeats_suffix
from pycodecomplete.engine.text import Suggestion


def texts(suggestions):
    return [s.text for s in suggestions]


def test_a_closing_bracket_already_there_is_cut():
    # print(foo|)  — the editor inserted the ")".
    got = apply([Suggestion("bar)", 0.5), Suggestion("bar", 0.2), Suggestion(")", 0.1)], "print(foo", ")")
    assert texts(got) == ["bar"]  # "bar)" and "bar" became one suggestion; ")" is already there
    assert got[0].score == pytest.approx(0.7)


def test_a_list_closed_by_the_editor():
    # x = [1, 2|]
    got = apply([Suggestion(", 3]", 0.4), Suggestion("]", 0.3), Suggestion(", 3, 4]", 0.1)], "x = [1, 2", "]\n")
    assert texts(got) == [", 3", ", 3, 4"]


def test_more_closers_than_the_suffix_holds_are_cut_until_none_repeats_it():
    # MovedAttribute("shlex_quote", "pipes", "shlex",|), — found by the edit benchmark on six.py.
    before, suffix = 'MovedAttribute("shlex_quote", "pipes", "shlex",', "),\n    MovedAttribute("
    got = apply([Suggestion(' "llex"))', 0.3), Suggestion(' "quote")', 0.2)], before, suffix)
    assert texts(got) == [' "llex"', ' "quote"']
    assert not any(repeats_suffix(t, before, suffix) for t in texts(got))


def test_a_suggestion_equal_to_the_next_line_is_dropped():
    before = "def f(x):\n    "
    suffix = "\n    return x + 1\n"
    got = apply([Suggestion("return x + 1", 0.6), Suggestion("return x", 0.3)], before, suffix)
    assert texts(got) == ["return x"]


def test_a_suggestion_the_suffix_starts_with_is_dropped():
    got = apply([Suggestion("self.value", 0.5), Suggestion("self.other", 0.2)], "    return ", "self.value\n")
    assert texts(got) == ["self.other"]


def test_code_after_the_cursor_limits_a_suggestion_to_the_current_expression():
    assert holds_code("bar, baz)") and not holds_code(")):  ")
    assert limit_to_expression("alpha, beta", ", gamma)") == "alpha"
    assert limit_to_expression("call(a, b), beta", " + 1") == "call(a, b)"  # its own brackets stay whole
    assert limit_to_expression("alpha, beta", ")") == "alpha, beta"  # only a closer after it: the line is free
    got = apply([Suggestion("items), key", 0.5)], "sorted(", ", reverse=True)")
    assert texts(got) == ["items"]


def test_an_empty_suffix_changes_nothing():
    suggestions = [Suggestion("bar)", 0.5)]
    assert apply(suggestions, "print(foo", "") is suggestions


def test_repeats_suffix_counts_what_the_rules_would_cut():
    assert repeats_suffix("bar)", "print(foo", ")")
    assert not repeats_suffix("bar", "print(foo", ")")


@pytest.mark.parametrize("model", ["default", "gpt2-cpu"])
def test_the_engine_never_offers_text_the_suffix_holds(model):
    from pathlib import Path

    engine = load_engine(Path(__file__).resolve().parent.parent / "trained-models" / model)
    for before, suffix in [("for i in range(", "):\n    pass\n"), ("print(os.path.join(", "))\n"),
                           ("x = {'a': ", "}\n")]:
        got = engine.complete(before, n=5, suffix=suffix)
        assert got, (model, before)
        assert not any(repeats_suffix(s.text, before, suffix) for s in got), (model, before, texts(got))
        # The cache keeps working when only the suffix changes.
        engine.complete(before, n=5, document="d", suffix="")
        assert texts(engine.complete(before, n=5, document="d", suffix=suffix)) == texts(got)


def test_a_suggestions_own_brackets_are_never_cut():
    from pycodecomplete.engine.suffix import foreign_tail

    assert foreign_tail("len(inputs)") == 0 and foreign_tail("len(inputs)):") == 2 and foreign_tail("x)") == 1
    got = apply([Suggestion("len(inputs)):", 0.4), Suggestion("len(inputs)", 0.2)], "for i in range(", "):\n")
    assert texts(got) == ["len(inputs)"]  # one suggestion: the editor's "):" is already there
    assert not repeats_suffix("len(inputs)", "for i in range(", "):\n")
    assert repeats_suffix("len(inputs))", "for i in range(", "):\n")
