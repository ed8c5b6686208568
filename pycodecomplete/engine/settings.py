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
    # int8 weights for the steps on ONNX Runtime (its quantizer: `engine.onnx_runtime`); needs
    # runtime "onnx". Off by default: faster, but answers then depend slightly on the document
    # cache (measured for both families in trained-models/README.md).
    int8: bool = False
    # Weight of the document's own identifiers against the model's scores inside a word
    # (`engine.identifiers`); 0 turns the cache off. Keystroke savings on 6,000 held-out
    # characters (six, attrs) by weight 0 / 0.1 / 0.2 / 0.35: LSTM 20.6 / 23.6 / 24.2 / 24.0%,
    # GPT-2 25.8 / 28.1 / 28.8 / 29.1% (benchmarks/identifiers.py); 0.2 is best or near it for both.
    identifier_weight: float = 0.2
    # At the end of a line that opens a block, also offer the block's body (`engine.multiline`).
    # Off for the popup (one line reads best there); the LSP server's inline completion turns it on.
    multiline: bool = False
    # Time budget of one completion in ms (0: none, so offline evaluation is reproducible);
    # `pycc serve` sets one per request. What it cuts: `engine.budget`.
    deadline_ms: int = 0

    def validate(self) -> "EngineSettings":
        if self.context not in CONTEXTS:
            raise OptionError("context", f"must be one of {', '.join(CONTEXTS)}, not {self.context!r}")
        if self.runtime not in RUNTIMES:
            raise OptionError("runtime", f"must be one of {', '.join(RUNTIMES)}, not {self.runtime!r}")
        if not isinstance(self.int8, bool):
            raise OptionError("int8", f"must be true or false, not {self.int8!r}")
        if self.int8 and self.runtime != "onnx":
            raise OptionError("int8", "needs runtime 'onnx' (int8 weights come from ONNX Runtime's quantization)")
        if self.threads < 0:
            raise OptionError("threads", "cannot be negative (0 means every core)")
        if self.window < 100:
            raise OptionError("window", f"must be at least 100 characters, not {self.window}")
        for name in ("beam_width", "max_chars", "min_chars", "cache_documents", "cache_bytes", "tree_nodes"):
            if getattr(self, name) < 1:
                raise OptionError(name, f"must be at least 1, not {getattr(self, name)}")
        if self.lookahead < 0:
            raise OptionError("lookahead", "cannot be negative (0 means automatic)")
        if not 0.0 <= self.identifier_weight <= 1.0:
            raise OptionError("identifier_weight", f"must be from 0 to 1, not {self.identifier_weight}")
        if self.deadline_ms < 0:
            raise OptionError("deadline_ms", "cannot be negative (0 means no time budget)")
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
