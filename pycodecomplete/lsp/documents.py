"""From an editor's document and cursor to the text the engine completes.

The engine completes for a cursor at the end of a text (the code before the
cursor), so a request needs the document's text up to the cursor. Three rules
decide what a request may ask of the engine:

* **Language.** Only documents whose ``languageId`` is Python get suggestions
  (`is_python`): ``python``, and the variants some clients send (``python3``,
  ``python-ts`` from Emacs' tree-sitter mode). Anything else is answered empty.
* **Positions** (`locate`) follow the LSP rules: a character past the end of its
  line means the end of the line; a line past the end of the document is outside
  it, and is answered empty rather than guessed. The character offset is counted in
  the negotiated position encoding (UTF-16 unless the client chose otherwise), so a
  cursor after an emoji lands where the editor shows it.
* **Size.** Documents over `MAX_DOCUMENT_CHARS` (1,000,000 characters, the corpus'
  ``max_file_bytes`` cut-off: files that large are generated, not typed) are
  answered empty, so one giant file cannot make every keystroke slow. Below it, the
  text before the cursor is capped at `MAX_PREFIX_CHARS` (100,000, the JSON API's
  default ``MAX_TEXT_CHARS``, so local and remote mode accept the same texts) by
  `clip_prefix`, which cuts at a line start on a coarse grid: while someone types,
  the clipped text keeps the same start and only grows, so the engine's per-document
  state stays incremental. The char-LSTM engine itself reads at most its
  ``document_chars`` (20,000 by default) of it.

Lines are the workspace's lines (pygls' ``TextDocument.lines``, `str.splitlines`),
the same split it applies incremental changes with, so offsets agree with the text
it keeps. That split also breaks lines at form feeds and the other Unicode line
separators, where LSP breaks only at CR and LF: in a document holding those, pygls
and the editor disagree about positions after them (a pygls limitation).
"""
from __future__ import annotations

from dataclasses import dataclass

MAX_DOCUMENT_CHARS = 1_000_000
MAX_PREFIX_CHARS = 100_000
PREFIX_STEP = MAX_PREFIX_CHARS // 4  # how far the start of a clipped prefix jumps at once


def is_python(language_id: str | None) -> bool:
    """Whether a document's ``languageId`` is Python (``python``, ``python3``, ``python-ts``...)."""
    return bool(language_id) and language_id.lower().startswith("python")


@dataclass(frozen=True)
class Cursor:
    """Where a request's cursor is: the LSP position (normalised) and the text around it."""

    line: int  # zero-based line
    character: int  # in the client's position encoding, clamped to the line's end
    offset: int  # characters (code points) of the document before the cursor
    line_before: str  # the cursor's line up to the cursor


def locate(lines, line: int, character: int, units) -> Cursor | None:
    """The cursor at (`line`, `character`) of a document split into `lines`, or None if outside it.

    `units(text)` counts `text` in the client's position encoding (UTF-16 code units
    by default). A document that is empty or ends with a line break has one more,
    empty, line after its last.
    """
    if line < 0 or character < 0:
        return None
    if line < len(lines):
        text = _without_break(lines[line])
    elif line == len(lines) and (not lines or _without_break(lines[-1]) != lines[-1]):
        text = ""
    else:
        return None
    column = _column(text, character, units)
    start = sum(len(previous) for previous in lines[:line])
    return Cursor(line=line, character=units(text[:column]), offset=start + column, line_before=text[:column])


def clip_prefix(text: str, limit: int = MAX_PREFIX_CHARS, step: int = PREFIX_STEP) -> str:
    """`text`, or its last at most `limit` characters, starting at a line start on a `step` grid."""
    if len(text) <= limit:
        return text
    start = ((len(text) - limit) // step + 1) * step
    newline = text.find("\n", start, start + step)
    return text[newline + 1:] if newline >= 0 else text[start:]


def _without_break(line: str) -> str:
    """A line of ``str.splitlines(keepends=True)`` without its line break."""
    return line.splitlines()[0] if line else ""


def _column(text: str, character: int, units) -> int:
    """Code points of `text` before `character` code units; the end of the line when past it.

    A position inside a character (half a UTF-16 surrogate pair) moves back to its start.
    """
    if character >= units(text):
        return len(text)
    counted = 0
    for index, char in enumerate(text):
        counted += units(char)
        if counted > character:
            return index
    return len(text)
