"""The edit benchmark: retype spans deleted from the middle of held-out files.

Typing a file from its start measures completion at the end of a document; most
real typing happens in the middle, with code after the cursor that the editor or
the person already wrote. So, in each file, spans are chosen deterministically:

* **lines**: every `LINE_STRIDE`-th line holding code (its indentation stays: the
  person is at the line's first character);
* **brackets**: in every `BRACKET_STRIDE`-th line with a bracket pair closed on the
  same line, the text between the last opening bracket and its closing one (the
  editor inserted the closer; the arguments are retyped).

Each span is deleted and retyped with the rest of the file as prefix and suffix,
keystrokes counted as `ml/keystrokes.py` does (the longest suggestion that the
span still starts with is accepted, at the cost of its rank + 1). The same spans
are typed with the suffix sent and without it, and every offered suggestion that
repeats text of the suffix (`engine.suffix.repeats_suffix`) is counted. Each span
is one document of the engine's cache, as in an editor (the answers do not depend
on it), and each request is timed: a fill-in-the-middle model re-reads the suffix's
tokens on every keystroke, so its cost shows there.
"""
from __future__ import annotations

import time

import numpy as np
from tqdm import tqdm

from pycodecomplete.engine.suffix import repeats_suffix

LINE_STRIDE = 7
BRACKET_STRIDE = 5
_PAIRS = {"(": ")", "[": "]", "{": "}"}


def spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, kind) of the spans to retype in `text`, in order, none empty."""
    out, offset, code_lines, bracket_lines = [], 0, 0, 0
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            code_lines += 1
            if code_lines % LINE_STRIDE == 0:
                indent = len(line) - len(line.lstrip())
                out.append((offset + indent, offset + len(line), "line"))
            opening = max(line.rfind(c) for c in _PAIRS)
            if opening >= 0:
                close = line.find(_PAIRS[line[opening]], opening + 1)
                if close > opening + 1:
                    bracket_lines += 1
                    if bracket_lines % BRACKET_STRIDE == 0:
                        out.append((offset + opening + 1, offset + close, "brackets"))
        offset += len(line) + 1
    return sorted(set(out))


def retype(engine, text: str, start: int, end: int, *, with_suffix: bool, n: int = 5,
           document: str | None = None) -> dict:
    """Retype one span; `document`: the engine's per-document cache, as an editor uses it."""
    suffix = text[end:]
    span = text[start:end]
    position = keystrokes = accepted = repeated = offered = 0
    elapsed_ms = []
    while position < len(span):
        before = text[:start + position]
        started = time.perf_counter()
        got = engine.complete(before, n=n, suffix=suffix if with_suffix else "", document=document)
        elapsed_ms.append((time.perf_counter() - started) * 1000)
        options = [s.text for s in got][:n]
        offered += len(options)
        repeated += sum(repeats_suffix(o, before, suffix) for o in options)
        remaining = span[position:]
        best = max(((rank, o) for rank, o in enumerate(options) if o and remaining.startswith(o)),
                   key=lambda item: len(item[1]), default=None)
        if best is None:
            keystrokes += 1
            position += 1
        else:
            keystrokes += 1 + best[0]
            accepted += 1
            position += len(best[1])
    return {"chars": len(span), "keystrokes": keystrokes, "accepted": accepted, "offered": offered,
            "repeated_suffix": repeated, "elapsed_ms": elapsed_ms}


def simulate_edits(engine, files, n: int = 5, max_spans: int | None = None, progress: bool = True) -> dict:
    """Keystroke savings on the spans of `files`, with the suffix sent and without it."""
    jobs = [(f.text, start, end, kind) for f in files for start, end, kind in spans(f.text)]
    jobs = jobs[:max_spans] if max_spans else jobs
    result = {}
    for with_suffix in (True, False):
        totals = {"chars": 0, "keystrokes": 0, "accepted": 0, "offered": 0, "repeated_suffix": 0}
        by_kind: dict[str, dict] = {}
        label = "with_suffix" if with_suffix else "without_suffix"
        elapsed: list[float] = []
        for index, (text, start, end, kind) in enumerate(tqdm(jobs, desc=f"edits ({label})", unit="span",
                                                              disable=not progress)):
            document = f"edit-{label}-{index}"
            counts = retype(engine, text, start, end, with_suffix=with_suffix, n=n, document=document)
            engine.forget(document)
            elapsed += counts.pop("elapsed_ms")
            for key, value in counts.items():
                totals[key] += value
                by_kind.setdefault(kind, {"chars": 0, "keystrokes": 0})
                if key in ("chars", "keystrokes"):
                    by_kind[kind][key] += value
        result[label] = {"keystroke_savings": 1 - totals["keystrokes"] / max(1, totals["chars"]), **totals,
                         "ms_p50": round(float(np.percentile(elapsed, 50)), 2) if elapsed else None,
                         "ms_p99": round(float(np.percentile(elapsed, 99)), 2) if elapsed else None,
                         "by_kind": {k: {"keystroke_savings": 1 - v["keystrokes"] / max(1, v["chars"]), **v}
                                     for k, v in sorted(by_kind.items())}}
    result["spans"] = len(jobs)
    return result
