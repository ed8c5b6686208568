"""A request's time budget, and what the engine does when it runs out.

Why: one request must not tie up a worker for long. A 100,000-character text
without a cached document took about 2 s of the shipped char-LSTM's time (reading
its last 20,000 characters), and a search on a big model can run long too. With a
budget, every request costs at most about that much time, whatever it sends.

The semantics, for both families (`Engine.complete`):

* The clock starts when the `Deadline` is made (the web API makes it when the
  request arrives, so time spent waiting for a document's lock counts).
* **Reading** (char-LSTM, `document` context): the text the state has not seen yet
  is read in chunks of `READ_CHUNK` characters, and reading stops after the chunk
  during which `READ_SHARE` of the budget was used (at least one chunk is always
  read, so every request makes progress). What was read stays in the document's
  cache entry: the next request with the same `document` id continues from there,
  so a long document is read over a few keystrokes. A request whose read was cut
  is answered from the last `FALLBACK_CHARS` characters only, read from a zero
  state (as `context: window` reads), with no cached state: a few milliseconds.
  GPT-2 reads at most its context (`seq_len` tokens, cut at a line start), which
  is bounded by the model, not by the text; its read is not cut.
* **Search** (both families): before each batched model step the search checks the
  clock; when the budget is spent it stops and answers with the best suggestions
  finished so far, plus the open ones cut back to a word end (as when it reaches
  its lookahead). With no time left at all, that can be no suggestion.
* `Deadline.cut` tells which phase the budget cut: None, "read" or "search".

A budget of None (the engine's default setting, `deadline_ms: 0`) never cuts, so
offline evaluation and `pycc complete` give reproducible answers; `pycc serve`
gives every request a budget (`--deadline-ms`).
"""
from __future__ import annotations

import time

READ_CHUNK = 256  # characters read between two looks at the clock (~25 ms on the shipped 2x256 LSTM)
READ_SHARE = 0.75  # reading stops once this share of the budget is used; the rest is for the search
FALLBACK_CHARS = 100  # what a request whose read was cut is answered from (the smallest `window`)


class Deadline:
    """A point in time after which the engine stops working on a request (None: never)."""

    __slots__ = ("budget_ms", "start", "cut", "_clock")

    def __init__(self, budget_ms: float | None = None, clock=time.monotonic):
        if budget_ms is not None and budget_ms <= 0:
            budget_ms = None  # 0 (a setting's "off") or less: no budget
        self.budget_ms = budget_ms
        self._clock = clock
        self.start = clock()
        self.cut: str | None = None  # the phase the budget cut: "read" or "search"

    def used(self) -> float:
        """Share of the budget used so far (0 with no budget)."""
        if self.budget_ms is None:
            return 0.0
        return (self._clock() - self.start) * 1000.0 / self.budget_ms

    def expired(self) -> bool:
        return self.budget_ms is not None and self.used() >= 1.0

    def reading_over(self) -> bool:
        """Whether reading must stop now, leaving the rest of the budget to the search."""
        return self.budget_ms is not None and self.used() >= READ_SHARE

    def stop(self, phase: str) -> None:
        """Record that the budget cut `phase` (the first cut is the one reported)."""
        if self.cut is None:
            self.cut = phase

    def elapsed_ms(self) -> float:
        return (self._clock() - self.start) * 1000.0


def as_deadline(deadline, default_ms: float | None) -> Deadline:
    """A `Deadline` from what a caller passed: one already made, a budget in ms, or None (the default)."""
    if isinstance(deadline, Deadline):
        return deadline
    return Deadline(default_ms if deadline is None else deadline)
