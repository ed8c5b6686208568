"""The byte-level BPE tokenizer of the GPT-2 family: load, encode, decode.

Shared by training and serving (like `vocab.py` for the char-LSTM), so it imports
only the `tokenizers` library and numpy, never TensorFlow. Training a tokenizer
lives in `pycodecomplete.corpus.tokenizer`.

* Byte-level BPE, no normalizer, no prefix space, no trimming: every string,
  including control characters, tabs, ``\\r`` and any Unicode, is encoded as its
  UTF-8 bytes, so ``decode(encode(text)) == text`` holds for all text.
* Special tokens have fixed ids: ``<s>`` 0, ``<pad>`` 1, ``</s>`` 2, ``<unk>`` 3,
  ``<mask>`` 4. They never come out of `encode`: the literal text ``</s>`` in
  source code is encoded as ordinary bytes (`encode_special_tokens`).
* Tokenizers trained for fill-in-the-middle also have ``<fim_prefix>`` 5,
  ``<fim_middle>`` 6 and ``<fim_suffix>`` 7 (`fim` is then true); older ones keep
  ids 5-7 for bytes and are served prefix-only.
* ``</s>`` (`SEPARATOR_ID`) separates files. Like the char-LSTM's boundary
  character it both ends one file and starts the next: the model reads it first
  at the start of every document, and emitting it means "end of file".
"""
from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

import numpy as np

from pycodecomplete.errors import PyccError

SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")
BOS_ID, PAD_ID, EOS_ID, UNK_ID, MASK_ID = range(len(SPECIAL_TOKENS))
# Fill-in-the-middle sentinels (tokenizers trained for FIM only), ids right after the above.
FIM_TOKENS = ("<fim_prefix>", "<fim_middle>", "<fim_suffix>")
FIM_PREFIX_ID, FIM_MIDDLE_ID, FIM_SUFFIX_ID = range(len(SPECIAL_TOKENS), len(SPECIAL_TOKENS) + len(FIM_TOKENS))
SEPARATOR = "</s>"
SEPARATOR_ID = EOS_ID
KIND = "bpe"
TOKENIZER_FORMAT = 1  # our description of tokenizer.json in model.json ("vocabulary")


@lru_cache(maxsize=1)
def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character table (what ByteLevel uses)."""
    visible = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    chars = visible[:]
    n = 0
    for b in range(256):
        if b not in visible:
            visible.append(b)
            chars.append(256 + n)
            n += 1
    return dict(zip(visible, map(chr, chars)))


class BPETokenizer:
    """A `tokenizers.Tokenizer` checked to be our byte-level BPE with the fixed special ids."""

    def __init__(self, tokenizer, source: str = "tokenizer"):
        self._tok = tokenizer
        self.source = source
        for expected_id, token in enumerate(SPECIAL_TOKENS):
            if tokenizer.token_to_id(token) != expected_id:
                raise PyccError(f"{source}: special token {token} must have id {expected_id}, "
                                f"not {tokenizer.token_to_id(token)}")
        spec = json.loads(tokenizer.to_str())
        model, pre = spec.get("model") or {}, spec.get("pre_tokenizer") or {}
        if model.get("type") != "BPE" or pre.get("type") != "ByteLevel" or pre.get("add_prefix_space") \
                or spec.get("normalizer") is not None:
            raise PyccError(f"{source}: not a byte-level BPE tokenizer without normalizer and prefix space")
        # Fill-in-the-middle: all three sentinels at their fixed ids, or none (an older,
        # prefix-only tokenizer, whose ids 5-7 are bytes).
        fim_ids = [tokenizer.token_to_id(token) for token in FIM_TOKENS]
        self.fim = fim_ids == [FIM_PREFIX_ID, FIM_MIDDLE_ID, FIM_SUFFIX_ID]
        if not self.fim and any(i is not None for i in fim_ids):
            raise PyccError(f"{source}: fill-in-the-middle tokens {', '.join(FIM_TOKENS)} must have ids "
                            f"{FIM_PREFIX_ID}-{FIM_SUFFIX_ID}, not {fim_ids}")
        self.special_tokens = SPECIAL_TOKENS + (FIM_TOKENS if self.fim else ())
        # Literal "<s>" or "</s>" in source code is text, not a control token.
        tokenizer.encode_special_tokens = True
        self.vocab_size = tokenizer.get_vocab_size()
        self._json = tokenizer.to_str()

    # ------------------------------------------------------------------ loading

    @classmethod
    def from_str(cls, text: str, source: str = "tokenizer") -> "BPETokenizer":
        from tokenizers import Tokenizer

        try:
            return cls(Tokenizer.from_str(text), source)
        except PyccError:
            raise
        except Exception as exc:  # tokenizers raises plain Exception on bad JSON
            raise PyccError(f"{source}: not a tokenizer file ({exc.__class__.__name__}: {exc})") from None

    @classmethod
    def from_file(cls, path) -> "BPETokenizer":
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise PyccError(f"{path}: missing (a GPT model directory needs its tokenizer.json)") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise PyccError(f"cannot read {path}: {exc}") from None
        return cls.from_str(text, str(path))

    @classmethod
    def from_artifact(cls, artifact) -> "BPETokenizer":
        """The tokenizer of a model directory, checked against its manifest description."""
        from pycodecomplete.artifact import TOKENIZER

        tok = cls.from_file(artifact.path / TOKENIZER)
        described = artifact.manifest.get("vocabulary") or {}
        if described.get("kind") != KIND:
            raise PyccError(f"{artifact.path}: vocabulary kind {described.get('kind')!r} is not {KIND!r}")
        if described.get("sha256") and described["sha256"] != tok.sha256():
            raise PyccError(f"{artifact.path}: {TOKENIZER} does not match the one the model was trained with")
        if tok.vocab_size > artifact.config.gpt_vocab_size:
            raise PyccError(f"{artifact.path}: tokenizer has {tok.vocab_size} tokens, the model "
                            f"{artifact.config.gpt_vocab_size}")
        return tok

    def to_str(self) -> str:
        return self._json

    def sha256(self) -> str:
        return hashlib.sha256(self._json.encode("utf-8")).hexdigest()

    def describe(self) -> dict:
        """The `vocabulary` entry of model.json."""
        return {"kind": KIND, "format": TOKENIZER_FORMAT, "file": "tokenizer.json",
                "size": self.vocab_size, "special_tokens": list(self.special_tokens),
                "separator": SEPARATOR, "sha256": self.sha256()}

    # ------------------------------------------------------------------ use

    def encode(self, text: str) -> np.ndarray:
        return np.asarray(self._tok.encode(text, add_special_tokens=False).ids, dtype=np.int32)

    def encode_batch(self, texts: list[str]) -> list[np.ndarray]:
        return [np.asarray(e.ids, dtype=np.int32)
                for e in self._tok.encode_batch(list(texts), add_special_tokens=False)]

    def encode_with_offsets(self, text: str) -> tuple[np.ndarray, list[tuple[int, int]]]:
        """Ids and each token's (start, end) character offsets in `text`."""
        encoding = self._tok.encode(text, add_special_tokens=False)
        return np.asarray(encoding.ids, dtype=np.int32), list(encoding.offsets)

    def last_word_start(self, text: str, window: int = 256) -> int:
        """Where the last pre-tokenizer chunk of `text` starts (BPE never merges across chunks)."""
        tail = text[-window:]
        pieces = self._tok.pre_tokenizer.pre_tokenize_str(tail)
        return len(text) - len(tail) + pieces[-1][1][0] if pieces else len(text)

    def count(self, text: str) -> int:
        return len(self._tok.encode(text, add_special_tokens=False).ids)

    def decode(self, ids) -> str:
        """Text of `ids`; special tokens are dropped (they carry no text)."""
        return self._tok.decode([int(i) for i in ids], skip_special_tokens=True)

    def token_bytes(self) -> list[bytes]:
        """The bytes of every id (b"" for the special tokens)."""
        inverse = {c: b for b, c in bytes_to_unicode().items()}
        out = []
        for i in range(self.vocab_size):
            token = self._tok.id_to_token(i)
            out.append(b"" if i < len(self.special_tokens) else bytes(inverse[c] for c in token))
        return out
