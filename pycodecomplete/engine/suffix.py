"""The code after the cursor: small ordered filters that keep suggestions from repeating it.

Editors insert closing brackets and quotes before the person types them, and most
typing happens in the middle of a file. A suggestion that ignores the text after
the cursor then repeats it (`print(foo|)` + `bar)` gives `print(foobar))`), the
top complaint about completion tools that read only the prefix. Following Tabby's
and Continue's post-processing, each rule is a small function applied in order:

1. `limit_to_expression`: when the rest of the cursor's line holds code (not only
   closing brackets, quotes, commas, colons or spaces), a suggestion completes only
   the current word or expression: it is cut before the first `,` `;` `)` `]` `}`
   `:` `=` or space that is not inside brackets it opened itself.
2. `cut_suffix_overlap`: a suggestion that ends with the characters the suffix
   starts with (`)`, `]`, `"`, `):`...) loses them, since they are already there;
   only closers of what was opened before the cursor count (`foreign_tail`), so
   `len(x)` keeps its own bracket.
3. `drop_prefix_of_suffix`: a suggestion that the suffix already starts with
   inserts nothing new.
4. `drop_next_line_copy`: a suggestion whose line equals the next non-empty line of
   the suffix would duplicate that line.

`apply` runs them and merges suggestions that became equal (their probabilities
add); an empty suffix changes nothing.
"""
from __future__ import annotations

from pycodecomplete.engine.text import Suggestion

CLOSERS = frozenset(")]}\"'")
_CLOSING_ONLY = frozenset(")]}\"',:; \t")
_EXPRESSION_ENDS = frozenset(",;)]}:= \t")
_OPEN = {"(": ")", "[": "]", "{": "}"}


def rest_of_line(suffix: str) -> str:
    return suffix.split("\n", 1)[0]


def holds_code(line: str) -> bool:
    """Whether `line` (after the cursor) holds more than closing brackets, quotes and punctuation."""
    return any(c not in _CLOSING_ONLY for c in line)


def limit_to_expression(text: str, suffix: str) -> str:
    if not holds_code(rest_of_line(suffix)):
        return text
    closing: list[str] = []
    for i, c in enumerate(text):
        if c in _OPEN:
            closing.append(_OPEN[c])
        elif closing and c == closing[-1]:
            closing.pop()
        elif not closing and (c in _EXPRESSION_ENDS or c == "\n"):
            return text[:i]
    return text


def foreign_tail(text: str) -> int:
    """How many characters at the end of `text` close what was opened before the cursor.

    Closers that match a bracket opened inside the suggestion (`len(x)`) are its own;
    an unmatched closer, and punctuation or spaces after it, belong to code before
    the cursor (`x)` after `f(`), which is what an editor's auto-inserted suffix holds.
    A quote is foreign when the suggestion holds an odd number of it.
    """
    depth, opened_here = 0, []
    foreign_from = len(text)
    for i, c in enumerate(text):
        if c in _OPEN:
            opened_here.append(_OPEN[c])
            foreign_from = len(text)
        elif c in ")]}":
            if opened_here and opened_here[-1] == c:
                opened_here.pop()
                foreign_from = len(text)
            else:
                depth += 1
                foreign_from = min(foreign_from, i)
        elif c in "\"'":
            foreign_from = min(foreign_from, i) if text.count(c) % 2 else len(text)
        elif c in _CLOSING_ONLY:
            continue
        else:
            foreign_from = len(text)
    return len(text) - foreign_from


def cut_suffix_overlap(text: str, suffix: str) -> str:
    """`text` without its longest foreign ending that the suffix starts with (`foreign_tail`).

    Repeated until none is left: `"a"))` before `),` loses one `)`, and then ends with
    the suffix's first character again (the edit benchmark counted 15 such repeats in
    120 spans of six and attrs when the cut was made once).
    """
    line = rest_of_line(suffix)
    cut = True
    while cut:
        cut = False
        for size in range(min(foreign_tail(text), len(line)), 0, -1):
            if line.startswith(text[-size:]):
                text, cut = text[:-size], True
                break
    return text


def drop_prefix_of_suffix(text: str, suffix: str) -> bool:
    return bool(text) and suffix.startswith(text)


def drop_next_line_copy(text: str, before: str, suffix: str) -> bool:
    """Whether the line the suggestion completes equals the next non-empty line after the cursor."""
    if "\n" not in suffix:
        return False
    current = (before[before.rfind("\n") + 1:] + text.split("\n", 1)[0] + rest_of_line(suffix)).strip()
    following = next((line.strip() for line in suffix.split("\n")[1:] if line.strip()), "")
    return bool(current) and current == following


def apply(suggestions: list[Suggestion], before: str, suffix: str, *, min_chars: int = 1) -> list[Suggestion]:
    """The suggestions that still make sense with `suffix` after the cursor, cut where they repeat it."""
    if not suffix:
        return suggestions
    scores: dict[str, float] = {}
    for s in suggestions:
        text = cut_suffix_overlap(limit_to_expression(s.text, suffix), suffix)
        if len(text) < min_chars or drop_prefix_of_suffix(text, suffix) or drop_next_line_copy(text, before, suffix):
            continue
        scores[text] = scores.get(text, 0.0) + s.score
    ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
    return [Suggestion(text, min(1.0, score)) for text, score in ranked]


def repeats_suffix(text: str, before: str, suffix: str) -> bool:
    """Whether a suggestion repeats text of the suffix (what the edit benchmark counts)."""
    if not suffix or not text:
        return False
    line = rest_of_line(suffix)
    overlap = any(line.startswith(text[-k:]) for k in range(1, min(foreign_tail(text), len(line)) + 1))
    return overlap or drop_prefix_of_suffix(text, suffix) or drop_next_line_copy(text, before, suffix)
