"""What every family's engine is: the request steps they share, written once.

A family's engine (`engine/lstm/`, `engine/gpt2/`) subclasses `Engine` and
supplies the model-specific parts:

* ``from_artifact(artifact, settings)`` builds it from a loaded model directory;
* ``_search(entry, text, n, max_chars, deadline, suffix)`` brings the document's cached
  state to `text` and returns (suggestions, the search tree it visited), within
  the request's time budget (`engine.budget.Deadline`);
* ``_entry_bytes(entry)`` is the memory an entry holds, for the cache's limit;
* ``generate(...)`` samples or beam-searches a continuation;
* ``_engine_info()`` adds family facts to `info()`.

The shared steps: cleaning the text as it enters (`clean_text`: newlines, lone
surrogates), the time budget, the per-document cache entry and its
lock (concurrent requests for one document run one after the other), keeping the
shallowest `tree_nodes` of the search tree for the next keystroke, resizing the
entry in the LRU cache, `forget` for closed documents, `warm`, and `info`.
Results never depend on what was cached: the tree and checkpoints only save work.

Engines talk to their model through a `Stepper`: a language model seen as
"state + next ids -> logits + new state".

* ``initial_state()``                 the state before any token, batch 1;
* ``advance(state, ids, keep=())``    feed a sequence of ids to a batch-1 state; returns the
                                      logits after the last id, the new state, and the
                                      (logits, state) pairs at the positions listed in `keep`
                                      (counted in ids consumed, 1..len(ids));
* ``step(state, ids)``                feed one id per batch row (the beams); returns logits of
                                      shape (B, V) and the new state;
* ``select(state, rows)``             gather (or repeat) batch rows: beams being reordered;
* ``stack(states)``                   one batched state from batch-1 states;
* ``nbytes(state)``                   memory held by a state, for the cache's size limit.

States are immutable values: no method changes a state it was given, so an engine
can keep them in its cache and hand them to concurrent requests without copies.
"""
from __future__ import annotations

import logging
import re
from dataclasses import asdict
from typing import Protocol, Sequence

from pycodecomplete.engine import identifiers
from pycodecomplete.engine import multiline as multiline_rules
from pycodecomplete.engine import suffix as suffix_rules
from pycodecomplete.engine.budget import Deadline, as_deadline
from pycodecomplete.engine.cache import DocumentCache, DocumentEntry
from pycodecomplete.engine.settings import EngineSettings
from pycodecomplete.engine.text import Suggestion
from pycodecomplete.vocab import normalize_newlines

log = logging.getLogger(__name__)
SUFFIX_SPARE = 3  # extra suggestions searched when a suffix may rule some out
_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """Text as the engines read it: newlines normalised, lone surrogates made U+FFFD.

    Why: JSON can carry a lone surrogate (``"\\ud800"``), and Python keeps it in a
    str that is not valid Unicode. The BPE tokenizer refuses such a str (a
    TypeError, which was an HTTP 500), and no UTF-8 encoding of it exists. U+FFFD
    is what a decoder makes of the same broken input; the char-LSTM's vocabulary
    maps it to the unknown character, as it mapped the surrogate, so its answers
    do not change. A valid pair arrives as one character and is kept.
    """
    return replace_surrogates(normalize_newlines(text))


def replace_surrogates(text: str) -> str:
    """`text` with every lone surrogate replaced by U+FFFD (see `clean_text`)."""
    if not text.isascii() and _SURROGATE.search(text):
        return _SURROGATE.sub("\ufffd", text)
    return text


class Stepper(Protocol):
    vocab_size: int

    def initial_state(self): ...

    def advance(self, state, ids, keep: Sequence[int] = ()): ...

    def step(self, state, ids): ...

    def select(self, state, rows): ...

    def stack(self, states: Sequence): ...

    def nbytes(self, state) -> int: ...


class Engine:
    """A served model: complete, generate, info. Thread-safe: one engine serves a whole process."""

    family = ""  # the model family (`pycodecomplete.families`)
    settings_class = EngineSettings
    lookahead_unit = "steps"  # what one step of `lookahead` is: "characters" or "tokens"

    def __init__(self, stepper: Stepper, *, name: str, settings: EngineSettings | dict | None, artifact=None):
        self.stepper, self.name, self.artifact = stepper, name, artifact
        self.settings = self.settings_class.from_mapping(settings)
        self.cache = DocumentCache(self.settings.cache_documents, self.settings.cache_bytes)

    @classmethod
    def from_artifact(cls, artifact, settings=None) -> "Engine":
        raise NotImplementedError

    # ------------------------------------------------------------------ requests

    def complete(self, text: str, n: int = 5, max_chars: int | None = None,
                 document: str | None = None, deadline: Deadline | float | None = None,
                 files: Sequence[str] = (), suffix: str = "", multiline: bool | None = None) -> list[Suggestion]:
        """Up to `n` ranked suggestions for the cursor at the end of `text`.

        With a `document` id, the state computed for that document's last request is
        reused (typing is incremental); results are the same either way. `files` are
        the texts of the project's other files, for the identifier cache. `suffix` is
        the text after the cursor: suggestions never repeat it (`engine.suffix`), and
        the cached state does not depend on it. `multiline` (default: the setting) adds
        a block's body at the end of a line that opens one (`engine.multiline`).
        `deadline` is the time budget: a `Deadline` (its `cut` then tells what the
        budget stopped), a number of ms, or None for the `deadline_ms` setting.
        What runs out of time answers with what it has (`engine.budget`).
        """
        deadline = as_deadline(deadline, self.settings.deadline_ms)
        if n < 1:
            return []
        text = clean_text(text)
        max_chars = max_chars or self.settings.max_chars
        entry = self._entry(document)
        suffix = clean_text(suffix) if suffix else ""
        wanted = n + SUFFIX_SPARE if suffix else n  # the suffix rules may drop some
        with entry.lock:
            suggestions, visited = self._search(entry, text, wanted, max_chars, deadline, suffix=suffix)
            if document is not None:
                keep = sorted(visited, key=lambda k: (len(k), k))[:self.settings.tree_nodes]
                entry.nodes = {k: visited[k] for k in keep}
                self.cache.resize(entry, self._entry_bytes(entry))
        weight = self.settings.identifier_weight
        if weight > 0:  # the document's (and project's) own identifiers (`engine.identifiers`)
            cache = identifiers.candidates(text, identifiers.typed_word(text), files)
            suggestions = identifiers.mix(suggestions, cache, weight, wanted, max_chars=max_chars,
                                          min_chars=min(self.settings.min_chars, max_chars))
        if suffix:
            suggestions = suffix_rules.apply(suggestions, text, suffix, min_chars=min(self.settings.min_chars, max_chars))
        if (self.settings.multiline if multiline is None else multiline) and not suffix_rules.rest_of_line(suffix).strip():
            block = self._block(text, document, deadline)
            if block is not None:
                suggestions = [block] + [s for s in suggestions if s.text != block.text]
        return suggestions[:n]

    def _block(self, text: str, document: str | None, deadline) -> Suggestion | None:
        """A block's body, line by line, in a document cache of its own (the real one stays put)."""
        side = None if document is None else f"{document}\x00block"

        def best_line(prefix: str) -> Suggestion | None:
            got = self.complete(prefix, n=1, max_chars=80, document=side, deadline=deadline, multiline=False)
            return got[0] if got else None

        return multiline_rules.body(best_line, text)

    def forget(self, document: str) -> None:
        """Drop a document's cached state (its editor closed it)."""
        self.cache.discard(document)

    def warm(self) -> None:
        """Get this process ready to answer fast: runtime sessions built, code paths run once.

        Servers call it in each worker after the fork (sessions do not survive one)."""
        warm = getattr(self.stepper, "warm", None)
        if warm is not None:
            warm()
        self.complete("import ", n=1)

    def info(self) -> dict:
        art = self.artifact
        data = {"name": self.name, "family": self.family,
                "engine": {**asdict(self.settings), "lookahead_unit": self.lookahead_unit, **self._engine_info()}}
        if art is not None:
            data.update({"path": str(art.path), "format_version": art.manifest.get("format_version"),
                         "config": art.config.to_dict(), "vocabulary": art.manifest.get("vocabulary"),
                         "summary": art.summary(), "metrics": art.metrics()})
        return data

    # ------------------------------------------------------------------ family parts

    def _entry(self, document: str | None) -> DocumentEntry:
        return self.cache.entry(document) if document is not None else DocumentEntry(None)

    def _search(self, entry: DocumentEntry, text: str, n: int, max_chars: int,
                deadline: Deadline, suffix: str = "") -> tuple[list[Suggestion], dict]:
        raise NotImplementedError

    def _entry_bytes(self, entry: DocumentEntry) -> int:
        raise NotImplementedError

    def _engine_info(self) -> dict:
        return {}
