"""Engine settings: the fields every family reads, and each family's own.

A family's engine declares its settings class (`LSTMSettings`, `GPTSettings`);
`load_engine` builds it from the mapping a server or the CLI passes, so a setting
that a family does not have is refused by name rather than silently ignored.

Units: `lookahead` counts the model's steps, which are characters for the
char-LSTM and BPE tokens for GPT-2 (a token is about 3.9 characters of code);
every other length is in characters.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

from pycodecomplete.errors import OptionError, PyccError

CONTEXTS = ("document", "window")
RUNTIMES = ("onnx", "numpy")


@dataclass
class EngineSettings:
    context: str = "document"  # "document": carry state over the whole text; "window": last `window` chars
    window: int = 100  # characters of context in window mode (at least 100)
    beam_width: int = 5  # beams kept per step (raised to n when a request asks for more)
    # Most model steps one completion may explore (characters for the LSTM, tokens for
    # GPT-2); 0 = chosen by the family (from the model's size, or from max_chars).
    lookahead: int = 0
    max_chars: int = 40  # default suggestion length limit when a request gives none
    # Shortest suggestion offered: a 1-character suggestion never saves a keystroke.
    # Chosen from keystroke savings on held-out code (trained-models/README.md).
    min_chars: int = 3
    cache_documents: int = 256  # documents whose state is kept (LRU)
    cache_bytes: int = 64 * 2**20  # memory for kept states, all documents together (LRU)
    tree_nodes: int = 64  # search-tree nodes kept per document for the next keystroke (shallowest first)
    # Where batched steps run: "onnx" (ONNX Runtime) or "numpy" (no extra dependency).
    runtime: str = "onnx"
    threads: int = 0  # threads for the model's matrix products; 0 = every core of this machine

    def validate(self) -> "EngineSettings":
        if self.context not in CONTEXTS:
            raise OptionError("context", f"must be one of {', '.join(CONTEXTS)}, not {self.context!r}")
        if self.runtime not in RUNTIMES:
            raise OptionError("runtime", f"must be one of {', '.join(RUNTIMES)}, not {self.runtime!r}")
        if self.threads < 0:
            raise OptionError("threads", "cannot be negative (0 means every core)")
        if self.window < 100:
            raise OptionError("window", f"must be at least 100 characters, not {self.window}")
        for name in ("beam_width", "max_chars", "min_chars", "cache_documents", "cache_bytes", "tree_nodes"):
            if getattr(self, name) < 1:
                raise OptionError(name, f"must be at least 1, not {getattr(self, name)}")
        if self.lookahead < 0:
            raise OptionError("lookahead", "cannot be negative (0 means automatic)")
        return self

    @classmethod
    def from_mapping(cls, mapping) -> "EngineSettings":
        """Settings of this class from a mapping (or an `EngineSettings` of any family)."""
        if isinstance(mapping, cls):
            return mapping.validate()
        if isinstance(mapping, EngineSettings):  # another family's: keep the fields both have
            names = {f.name for f in fields(cls)}
            mapping = {f.name: getattr(mapping, f.name) for f in fields(mapping) if f.name in names}
        mapping = dict(mapping or {})
        unknown = set(mapping) - {f.name for f in fields(cls)}
        if unknown:
            raise PyccError(f"engine: unknown setting(s) for this model family: {', '.join(sorted(unknown))}")
        try:
            return cls(**mapping).validate()
        except TypeError as exc:
            raise PyccError(f"engine: bad settings ({exc})") from None


@dataclass
class LSTMSettings(EngineSettings):
    # Document mode reads at most this many characters (0: no limit). Longer documents are
    # read from a line start that moves in steps of a quarter of this, so typing stays
    # incremental and a huge text cannot tie a worker up for long.
    document_chars: int = 20_000
    checkpoint_every: int = 32  # keep the state every this many characters (cheap edits/backspaces)
    recent_checkpoints: int = 8  # ... and at each of the last this many characters

    def validate(self) -> "LSTMSettings":
        super().validate()
        if self.checkpoint_every < 1:
            raise OptionError("checkpoint_every", f"must be at least 1, not {self.checkpoint_every}")
        if self.recent_checkpoints < 0:
            raise OptionError("recent_checkpoints", "cannot be negative")
        if self.document_chars < 0:
            raise OptionError("document_chars", "cannot be negative (0 means no limit)")
        if self.document_chars and self.document_chars < self.window:
            raise OptionError("document_chars", f"must be 0 or at least the window ({self.window})")
        return self


@dataclass
class GPTSettings(EngineSettings):
    """GPT-2 reads the document up to its context (`seq_len` tokens), cut at line starts."""
