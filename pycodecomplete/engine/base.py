"""What every family's engine is: the request steps they share, written once.

A family's engine (`engine/lstm/`, `engine/gpt2/`) subclasses `Engine` and
supplies the model-specific parts:

* ``from_artifact(artifact, settings)`` builds it from a loaded model directory;
* ``_search(entry, text, n, max_chars)`` brings the document's cached state to
  `text` and returns (suggestions, the search tree it visited);
* ``_entry_bytes(entry)`` is the memory an entry holds, for the cache's limit;
* ``generate(...)`` samples or beam-searches a continuation;
* ``_engine_info()`` adds family facts to `info()`.

The shared steps: newline normalisation, the per-document cache entry and its
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
from dataclasses import asdict
from typing import Protocol, Sequence

from pycodecomplete.engine.cache import DocumentCache, DocumentEntry
from pycodecomplete.engine.settings import EngineSettings
from pycodecomplete.engine.text import Suggestion
from pycodecomplete.vocab import normalize_newlines

log = logging.getLogger(__name__)


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
                 document: str | None = None) -> list[Suggestion]:
        """Up to `n` ranked suggestions for the cursor at the end of `text`.

        With a `document` id, the state computed for that document's last request is
        reused (typing is incremental); results are the same either way.
        """
        if n < 1:
            return []
        text = normalize_newlines(text)
        max_chars = max_chars or self.settings.max_chars
        entry = self._entry(document)
        with entry.lock:
            suggestions, visited = self._search(entry, text, n, max_chars)
            if document is not None:
                keep = sorted(visited, key=lambda k: (len(k), k))[:self.settings.tree_nodes]
                entry.nodes = {k: visited[k] for k in keep}
                self.cache.resize(entry, self._entry_bytes(entry))
        return suggestions

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

    def _search(self, entry: DocumentEntry, text: str, n: int, max_chars: int) -> tuple[list[Suggestion], dict]:
        raise NotImplementedError

    def _entry_bytes(self, entry: DocumentEntry) -> int:
        raise NotImplementedError

    def _engine_info(self) -> dict:
        return {}
