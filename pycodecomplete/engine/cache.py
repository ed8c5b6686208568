"""Per-document model state, in a bounded LRU cache.

Each entry remembers, for one document id, the model input it has processed
(`context`, the ids fed after the initial state), checkpoints of the state along
it, and the beam tree of its last completion. A request whose text extends the
entry's text only steps the new characters; a request that edits earlier text
restarts from the nearest checkpoint before the edit.

The cache holds at most `max_documents` entries and about `max_bytes` of states:
the least recently used entries go first. Every entry has its own lock, so
concurrent requests for the same document run one after the other while other
documents proceed in parallel.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field


@dataclass
class DocumentEntry:
    key: str | None
    context: bytes = b""  # ids processed so far (one byte per id)
    # position -> (log-probs after `context[:position]`, state). Position 0 is never stored.
    checkpoints: dict = field(default_factory=dict)
    # the beam tree of the last completion: suggestion text -> (log-probs, state)
    nodes: dict = field(default_factory=dict)
    nbytes: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


class DocumentCache:
    def __init__(self, max_documents: int = 256, max_bytes: int = 64 * 2**20):
        if max_documents < 1 or max_bytes < 1:
            raise ValueError("the document cache needs room for at least one document")
        self.max_documents = max_documents
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, DocumentEntry] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def entry(self, key: str) -> DocumentEntry:
        """The entry for `key` (created when missing), now the most recently used."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                entry = self._entries[key] = DocumentEntry(key)
                self._evict()
            else:
                self._entries.move_to_end(key)
            return entry

    def resize(self, entry: DocumentEntry, nbytes: int) -> None:
        """Record an entry's new size (call with the entry's lock held) and evict to fit."""
        with self._lock:
            if self._entries.get(entry.key) is entry:
                self._bytes += nbytes - entry.nbytes
            entry.nbytes = nbytes
            self._evict()

    def _evict(self) -> None:
        while self._entries and (len(self._entries) > self.max_documents or self._bytes > self.max_bytes):
            _, old = self._entries.popitem(last=False)
            self._bytes -= old.nbytes

    def discard(self, key: str) -> None:
        """Forget a document's state (an editor closed it); unknown keys are fine."""
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old.nbytes

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: str) -> bool:
        return key in self._entries

    @property
    def nbytes(self) -> int:
        return self._bytes

    def stats(self) -> dict:
        with self._lock:
            return {"documents": len(self._entries), "bytes": self._bytes,
                    "max_documents": self.max_documents, "max_bytes": self.max_bytes}
