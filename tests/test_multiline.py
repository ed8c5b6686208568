"""Multi-line suggestions: a block's body, stopping where the block ends."""
from __future__ import annotations

from pycodecomplete.engine.multiline import block_indent, body
from pycodecomplete.engine.text import Suggestion


def scripted(lines):
    """A one-line completer that writes the file `lines` after the opener, a line per call."""
    calls = []

    def complete_line(prefix):
        calls.append(prefix)
        index = len(calls) - 1
        return Suggestion(lines[index], 0.5) if index < len(lines) else None

    return complete_line, calls


def test_only_a_line_that_opens_a_block_gets_a_body():
    assert block_indent("def f(x):") == "    "
    assert block_indent("class A:\n    def f(self):  ") == "        "
    assert block_indent("x = f(") is None and block_indent("# note:") is None


def test_the_body_stops_where_the_indentation_returns():
    complete_line, _ = scripted(["    y = x * 2", "    return y", "", "z = 1"])
    got = body(complete_line, "def f(x):")
    assert got.text == "\n    y = x * 2\n    return y"  # the blank line ends it
    assert got.score == 0.25
    complete_line, _ = scripted(["    return x", "print(f(1))"])
    assert body(complete_line, "def f(x):").text == "\n    return x"  # back to the opener's level


def test_the_next_definition_at_the_same_level_ends_the_body():
    complete_line, _ = scripted(["        return 1", "    def b(self):", "        return 2"])
    assert body(complete_line, "class A:\n    def a(self):").text == "\n        return 1"


def test_nested_blocks_stay_inside_and_max_lines_holds():
    complete_line, _ = scripted(["    for i in x:", "        total += i", "    return total"] * 3)
    got = body(complete_line, "def f(x):", max_lines=3)
    assert got.text == "\n    for i in x:\n        total += i\n    return total"


def test_no_body_when_the_model_does_not_indent():
    complete_line, _ = scripted(["pass"])
    assert body(complete_line, "def f(x):") is None
