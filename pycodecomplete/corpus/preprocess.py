"""Source preprocessing for the GPT-2 family: comment stripping and chunking.

GPyT removed comments with a regular expression (which also cut ``"#"`` out of
strings) and split files by characters. Here:

* `strip_comments` works on the token stream of the `tokenize` module, so only
  real ``COMMENT`` tokens go: a ``#`` inside a string is never touched, no two
  lines are ever joined, and the result parses whenever the input did (its AST is
  the same). A line that held only a comment is dropped, except right after a
  backslash continuation, where it stays as an empty line (dropping it would join
  the lines around it). The shebang and the encoding declaration stay. Docstrings
  stay unless `docstrings=False`; a docstring that is a body's only statement
  becomes ``pass``.
* `chunk_text` splits a file at line boundaries into pieces of at most
  `max_tokens` tokens (a line longer than that is cut inside, as a last resort).
  The pieces concatenate back to the file exactly: newlines and indentation
  survive.

Everything here is the standard library only; the token counter is passed in.
"""
from __future__ import annotations

import ast
import io
import logging
import re
import tokenize
import warnings
from typing import Callable

log = logging.getLogger(__name__)

_CODING = re.compile(r"^[ \t\f]*#.*?coding[:=][ \t]*[-\w.]+")
_LINE = re.compile(r"[^\n]*\n|[^\n]+")


def split_lines(text: str) -> list[str]:
    """Lines of `text`, each with its ``\\n`` (only ``\\n`` ends a line); ``"".join`` gives `text`."""
    return _LINE.findall(text)


def parses(text: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escape sequences and the like
            ast.parse(text)
        return True
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return False


# ---------------------------------------------------------------- comments --

def strip_comments(text: str, docstrings: bool = True) -> str:
    """`text` without its comments (and docstrings unless `docstrings`); see the module doc.

    Source that `tokenize` cannot read is returned unchanged. Should a step ever
    break source that parsed, the step is skipped and a warning logged.
    """
    parsed = parses(text)
    out = text if docstrings else strip_docstrings(text)
    candidate = _strip_comment_tokens(out)
    if candidate is None:
        return out
    if parsed and not parses(candidate):  # pragma: no cover - a bug guard
        log.warning("comment removal would break the source; kept the comments")
        return out
    return candidate


def _comment_spans(text: str) -> list[tuple[int, int, int]] | None:
    """(row, start col, end col) of every COMMENT token (rows from 1), or None."""
    spans = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.COMMENT:
                spans.append((tok.start[0], tok.start[1], tok.end[1]))
    except (tokenize.TokenError, SyntaxError, ValueError):  # IndentationError is a SyntaxError
        return None
    return spans


def _strip_comment_tokens(text: str) -> str | None:
    spans = _comment_spans(text)
    if spans is None:
        return None
    if not spans:
        return text
    lines = split_lines(text)
    for row, start, end in reversed(spans):
        line = lines[row - 1]
        if row <= 2 and (line.startswith("#!") and row == 1 or _CODING.match(line)):
            continue  # the shebang and the encoding declaration are not comments
        code = line[:start].rstrip(" \t\f")
        tail = line[end:]  # "\n", or "" on a last line without one
        if code:
            lines[row - 1] = code + tail
        elif row > 1 and lines[row - 2].endswith("\\\n"):
            lines[row - 1] = tail  # keep the line: dropping it would join its neighbours
        else:
            lines[row - 1] = ""
    return "".join(lines)


# -------------------------------------------------------------- docstrings --

def strip_docstrings(text: str) -> str:
    """`text` without docstrings (a body's only statement becomes ``pass``); unchanged if it does not parse."""
    if not parses(text):
        return text
    out = _strip_docstrings(text)
    if not parses(out):  # pragma: no cover - a bug guard, never seen on the stdlib
        log.warning("docstring removal would break the source; kept the docstrings")
        return text
    return out


def _strip_docstrings(text: str) -> str:
    tree = ast.parse(text)
    lines = split_lines(text)
    edits = []  # (first row, last row, replacement for those rows)
    for node in ast.walk(tree):
        if not isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        body = node.body
        if not body or not isinstance(body[0], ast.Expr) or not isinstance(body[0].value, ast.Constant) \
                or not isinstance(body[0].value.value, str):
            continue
        doc = body[0]
        first, last = doc.lineno, doc.end_lineno
        head = lines[first - 1].encode("utf-8")[:doc.col_offset].decode("utf-8", "replace")
        rest = lines[last - 1].encode("utf-8")[doc.end_col_offset:].decode("utf-8", "replace")
        if head.strip(" \t\f") or rest.strip(" \t\f\n") and not rest.lstrip(" \t\f").startswith("#"):
            continue  # shares its lines with other code: leave it
        if len(body) > 1:
            replacement = []
        else:
            newline = "\n" if lines[last - 1].endswith("\n") else ""
            replacement = [head + "pass" + newline]
        edits.append((first, last, replacement))
    for first, last, replacement in sorted(edits, reverse=True):
        lines[first - 1:last] = replacement
    return "".join(lines)


# ---------------------------------------------------------------- chunking --

def chunk_text(text: str, max_tokens: int, count: Callable[[str], int],
               line_counts: list[int] | None = None) -> list[str]:
    """Split `text` into pieces of at most `max_tokens` tokens (by `count`), at line boundaries.

    ``"".join(chunk_text(text, ...)) == text`` always. A single line longer than
    `max_tokens` is cut at the longest prefix that fits (at least one character).
    `line_counts` (the token count of each line of `split_lines(text)`, computed in
    one batch) only saves work: the chunks are the same with or without it.
    """
    if max_tokens < 1:
        raise ValueError("max_tokens must be at least 1")
    if not text:
        return []
    lines = split_lines(text)
    if line_counts is None or len(line_counts) != len(lines):
        line_counts = [count(line) for line in lines]
    chunks: list[str] = []
    current: list[str] = []
    estimate = 0  # sum of the line counts in `current` (the exact count is checked)
    for line, n in zip(lines, line_counts):
        if current and estimate + n <= max_tokens:
            current.append(line)
            estimate += n
            continue
        if current:
            chunks.extend(_fit(current, max_tokens, count))
        current, estimate = [line], n
    if current:
        chunks.extend(_fit(current, max_tokens, count))
    return chunks


def _fit(lines: list[str], max_tokens: int, count: Callable[[str], int]) -> list[str]:
    """`lines` as few chunks as the exact count allows (lines joined can count differently)."""
    out = []
    while lines:
        take = len(lines)
        while take > 1 and count("".join(lines[:take])) > max_tokens:
            take -= 1
        piece = "".join(lines[:take])
        if count(piece) <= max_tokens:
            out.append(piece)
        else:  # one line alone is too long: cut inside it
            out.extend(_cut_line(piece, max_tokens, count))
        lines = lines[take:]
    return out


def _cut_line(line: str, max_tokens: int, count: Callable[[str], int]) -> list[str]:
    pieces = []
    while line and count(line) > max_tokens:
        low, high = 1, len(line) - 1  # the longest prefix in [low, high] that fits
        while low < high:
            mid = (low + high + 1) // 2
            if count(line[:mid]) <= max_tokens:
                low = mid
            else:
                high = mid - 1
        pieces.append(line[:low])
        line = line[low:]
    if line:
        pieces.append(line)
    return pieces
