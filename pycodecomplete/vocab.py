"""The character vocabulary: Python's 100 `string.printable` characters.

Text is mapped into the vocabulary one character for one character, so positions
in the original text and in the encoded text always line up:

* ``\\r\\n`` and lone ``\\r`` are newlines everywhere in Python source; callers that
  read files normalise them to ``\\n`` first (see `normalize_newlines`).
* A character outside the vocabulary is replaced by the ASCII letter its NFKD
  decomposition starts with when that is a visible printable character
  (``é`` -> ``e``), and otherwise by `UNKNOWN` (form feed, ``\\x0c``).
* Vertical tab (``\\x0b``) is reserved as `BOUNDARY`, the file separator the model
  sees between files in training and at the start of every document at inference.
  A vertical tab or form feed found in source text is mapped to `UNKNOWN`.
"""
from __future__ import annotations

import string
import unicodedata

import numpy as np

CHARS = string.printable
assert len(CHARS) == 100
BOUNDARY = "\x0b"
UNKNOWN = "\x0c"
_VISIBLE = set(string.digits + string.ascii_letters + string.punctuation)


class CharVocabulary:
    """Maps text to ids in ``range(100)`` and back. ids are ``string.printable`` indices."""

    size = len(CHARS)
    chars = CHARS
    boundary_id = CHARS.index(BOUNDARY)
    unknown_id = CHARS.index(UNKNOWN)

    def __init__(self) -> None:
        self._index = {c: i for i, c in enumerate(CHARS)}
        # Source text never contains the separator: keep it for file boundaries only.
        self._index[BOUNDARY] = self.unknown_id
        self._lut = np.full(128, self.unknown_id, dtype=np.uint8)
        for c, i in self._index.items():
            self._lut[ord(c)] = i
        self._cache: dict[str, int] = {}

    def map_char(self, c: str) -> int:
        i = self._index.get(c)
        if i is not None:
            return i
        i = self._cache.get(c)
        if i is None:
            base = unicodedata.normalize("NFKD", c)[:1]
            i = self._index[base] if base in _VISIBLE else self.unknown_id
            self._cache[c] = i
        return i

    def encode(self, text: str) -> np.ndarray:
        """Encode to a uint8 array of the same length as `text`."""
        if text.isascii():
            raw = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
            return self._lut[raw]
        return np.fromiter((self.map_char(c) for c in text), dtype=np.uint8, count=len(text))

    def encode_document(self, text: str) -> np.ndarray:
        """Encode a whole file or editor buffer: BOUNDARY first, as in training."""
        return np.concatenate([np.array([self.boundary_id], np.uint8), self.encode(text)])

    def decode(self, ids) -> str:
        return "".join(CHARS[int(i)] for i in ids)

    def to_json(self) -> dict:
        return {"kind": "char", "chars": CHARS, "boundary": BOUNDARY, "unknown": UNKNOWN}

    @classmethod
    def from_json(cls, data: dict) -> "CharVocabulary":
        if data.get("chars") != CHARS or data.get("boundary") != BOUNDARY:
            raise ValueError("vocabulary in model directory does not match string.printable")
        return cls()


def normalize_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")
