"""Text rules both families share: where a suggestion stops, escapes, cutting back.

Where a suggestion stops depends on what the cursor is in (`boundary_rule`):

* **word**: the text before the cursor ends in an identifier, keyword or number
  (``[A-Za-z0-9_]``), or in ``.`` after one (attribute access). The suggestion
  completes that word and stops before the first character that cannot be part of
  it. Its score includes the probability that the word ends there.
* **string**: the cursor is inside a string literal opened on the current line.
  The suggestion stops after the closing quote (or before a newline).
* **line**: anywhere else. The suggestion runs to the end of the line (the newline
  itself is not part of it).

In every mode a suggestion has at least `min_chars` characters (the engine's
setting, 3 by default) and never more than `max_chars`. A line or string
suggestion still open when the search's lookahead runs out is cut back to its
last space or word end (`cut_back`); a word still open is dropped. The families
search differently (characters, or BPE tokens scanned character by character:
`engine.lstm.search`, `engine.gpt2.search`) but apply these same rules.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

WORD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_OPENERS = frozenset(")]}")
# Never suggested: the file separator, the unknown mark, and carriage returns.
NEVER = "\x0b\x0c\r"


@dataclass(frozen=True)
class Suggestion:
    text: str
    score: float  # probability of the text (and of its ending where it ends on a boundary)

    def to_json(self) -> dict:
        return {"text": self.text, "score": self.score}


@dataclass(frozen=True)
class BoundaryRule:
    kind: str  # "word", "string" or "line"
    ends_before: frozenset  # emitting one of these ends the suggestion before it
    ends_after: frozenset = frozenset()  # ... or after it (the closing quote)
    backslashes: int = 0  # backslashes right before the cursor (an escaped quote does not close)


def open_string_quote(line: str) -> str | None:
    """The quote of a single-line string left open at the end of `line`, if any."""
    i, quote, n = 0, None, len(line)
    while i < n:
        ch = line[i]
        if quote is None:
            if ch == "#":
                return None
            if ch in "'\"":
                if line.startswith(ch * 3, i):
                    end = line.find(ch * 3, i + 3)
                    if end < 0:
                        return None  # a triple-quoted string runs over lines: use line mode
                    i = end + 3
                    continue
                quote = ch
        elif ch == "\\":
            i += 1
        elif ch == quote:
            quote = None
        i += 1
    return quote


WORD_RULE = BoundaryRule("word", frozenset(c for c in map(chr, range(128)) if c not in WORD_CHARS))
LINE_RULE = BoundaryRule("line", frozenset("\n"))


def boundary_rule(before_cursor: str) -> BoundaryRule:
    line = before_cursor[before_cursor.rfind("\n") + 1:]
    quote = open_string_quote(line)
    if quote is not None:
        backslashes = len(line) - len(line.rstrip("\\"))
        return BoundaryRule("string", frozenset("\n"), frozenset(quote), backslashes)
    last = line[-1:]
    if last in WORD_CHARS or (last == "." and len(line) > 1 and (line[-2] in WORD_CHARS or line[-2] in _OPENERS)
                              and not re.search(r"(?<![A-Za-z0-9_])\d+\.$", line)):
        return WORD_RULE
    return LINE_RULE


def cut_back(text: str) -> int:
    """Length of `text` cut back to its last space or word end (0: nowhere)."""
    for i in range(len(text) - 1, 0, -1):
        if text[i].isspace() or (text[i - 1] in WORD_CHARS and text[i] not in WORD_CHARS):
            return len(text[:i].rstrip())
    return 0


def escaped(text: str, rule: BoundaryRule) -> bool:
    """Whether the character after `text` (a suggestion so far) is escaped by a backslash.

    In string mode the backslashes right before the cursor count too.
    """
    count = len(text) - len(text.rstrip("\\"))
    if count == len(text):
        count += rule.backslashes
    return count % 2 == 1
