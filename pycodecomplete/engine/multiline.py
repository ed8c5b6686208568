"""Multi-line suggestions: the body of a block, for ghost-text clients.

At the end of a line that opens a block (`def f(x):`, `for ...:`, `with ...:`), a
one-line suggestion has nothing to offer: the line is complete. A ghost-text
client can show a whole body instead. It is built line by line with the engine's
own search: the best suggestion for the next line (at the block's indentation,
one level deeper than the opener), appended, then the next, and it stops

* where the indentation returns to the cursor's block or lower,
* at a blank line (the model's best next line is empty),
* at `def`, `class` or `if __name__` at the same level,
* after `max_lines` lines or `max_chars` characters,

so a suggestion never runs into the next definition. Its score is the product of
its lines' scores. The engine setting `multiline` turns it on (off by default, as
a popup shows one line; the LSP server's inline completion turns it on).
"""
from __future__ import annotations

import re

from pycodecomplete.engine.text import Suggestion

_STOP = re.compile(r"^(def |class |async def |if __name__)")
INDENT = "    "


def block_indent(text: str) -> str | None:
    """The indentation of the block the cursor's line opens, or None when it opens none."""
    line = text[text.rfind("\n") + 1:]
    if not line.rstrip().endswith(":") or line.lstrip().startswith("#"):
        return None
    return line[: len(line) - len(line.lstrip())] + INDENT


def body(complete_line, text: str, *, max_lines: int = 6, max_chars: int = 200) -> Suggestion | None:
    """A multi-line suggestion after `text`, or None.

    `complete_line(prefix)` is the best one-line suggestion for a cursor at the start
    of a new line (it includes the line's indentation), or None.
    """
    indent = block_indent(text)
    if indent is None:
        return None
    lines: list[str] = []
    score, written = 1.0, text
    while len(lines) < max_lines:
        best = complete_line(written + "\n")
        if best is None or not best.text.strip():
            break  # a blank line ends the body
        line = best.text
        depth = len(line) - len(line.lstrip())
        if depth < len(indent):
            break  # back to the cursor's block or lower
        if depth == len(indent) and _STOP.match(line.lstrip()):
            break  # the next definition at the same level
        if sum(len(x) + 1 for x in lines) + len(line) + 1 > max_chars:
            break
        lines.append(line)
        score *= best.score
        written += "\n" + line
    if not lines:
        return None
    return Suggestion("\n" + "\n".join(lines), score)
