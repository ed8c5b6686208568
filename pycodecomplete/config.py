"""One typed config for a model: architecture, training and corpus settings.

It is saved inside every model directory (`model.json`), and resuming or serving
takes the architecture from there, never from the command line.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields

from pycodecomplete.errors import OptionError, PyccError
from pycodecomplete.families import FAMILIES

ARCHS = tuple(FAMILIES)
OBJECTIVES = ("every-char", "last-char")


@dataclass
class Config:
    # --- architecture -------------------------------------------------------
    arch: str = "lstm"  # "lstm" (char-level) or "gpt2" (byte-level BPE)
    seq_len: int = 100  # characters (lstm) or tokens (gpt2) per training window
    lstm_units: int = 512  # units in each LSTM layer
    lstm_layers: int = 4  # stacked LSTM layers
    dropout: float = 0.2  # dropout between LSTM layers (and in GPT blocks)
    # "every-char": predict the next character at every position of a window.
    # "last-char": the design's original objective, one target per window.
    objective: str = "every-char"
    # Truncated BPTT: carry LSTM state across consecutive windows of the same
    # stream instead of starting every window from zeros (char-rnn style).
    stateful: bool = False
    gpt_layers: int = 12
    gpt_heads: int = 12
    gpt_width: int = 768  # hidden size
    gpt_vocab_size: int = 8000  # BPE vocabulary; see pycodecomplete/corpus/tokenizer.py
    # Share of GPT-2 training chunks laid out for fill-in-the-middle (ml/gpt2/fim.py); 0: left to
    # right only. Applies only with a tokenizer that has the FIM tokens (new ones do when > 0).
    fim_rate: float = 0.5
    # --- training -----------------------------------------------------------
    batch_size: int = 64  # per replica; the global batch is this times the replicas
    learning_rate: float = 2e-3
    clipnorm: float = 1.0  # LSTMs on code spike without it
    steps_per_epoch: int = 200  # steps between validation, logs and checkpoints
    val_windows: int = 256  # validation windows scored at the end of each epoch
    seed: int = 1337
    # --- corpus -------------------------------------------------------------
    val_fraction: float = 0.05  # share of files (by path hash) held out for validation
    max_file_bytes: int = 1_000_000  # larger files are skipped
    max_line_chars: int = 1000  # a longer line marks a generated or minified file
    # Drop a file whose estimated Jaccard similarity (5-word shingles) to an earlier one is at
    # least this; 0 keeps near copies (corpus/dedupe.py).
    near_duplicates: float = 0.85
    # Distributions the `installed` corpus never reads, comma-separated: the held-out
    # packages of the model card (six, attrs), and this project itself.
    exclude_distributions: str = "six,attrs,pycodecomplete"
    # Characters of the training split to use, 0 for all: a stable subset of its files (by path
    # hash) for runs whose budget sees a fraction of a large corpus. GPT-2's data preparation
    # tokenizes every training file before the first step (44 min for the 129M characters of
    # stdlib + installed on 2 busy cores), while 6,000 steps of gpt2-cpu read about 36M.
    max_train_chars: int = 0

    def validate(self) -> "Config":
        if self.arch not in ARCHS:
            raise PyccError(f"config: arch must be one of {', '.join(ARCHS)}, not {self.arch!r}")
        if self.objective not in OBJECTIVES:
            raise PyccError(f"config: objective must be one of {', '.join(OBJECTIVES)}, not {self.objective!r}")
        if self.stateful and self.objective != "every-char":
            raise PyccError("config: stateful training needs objective=every-char")
        for name in ("seq_len", "lstm_units", "lstm_layers", "gpt_layers", "gpt_heads", "gpt_width",
                     "gpt_vocab_size", "batch_size", "steps_per_epoch", "val_windows", "max_file_bytes",
                     "max_line_chars"):
            if getattr(self, name) < 1:
                raise PyccError(f"config: {name} must be at least 1, not {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise PyccError(f"config: dropout must be in [0, 1), not {self.dropout}")
        if not 0.0 <= self.fim_rate <= 1.0:
            raise PyccError(f"config: fim_rate must be in [0, 1], not {self.fim_rate}")
        if self.max_train_chars < 0:
            raise PyccError(f"config: max_train_chars must be 0 (all) or positive, not {self.max_train_chars}")
        if not 0.0 <= self.near_duplicates < 1.0:
            raise PyccError(f"config: near_duplicates must be in [0, 1), not {self.near_duplicates}")
        if not 0.0 < self.val_fraction < 1.0:
            raise PyccError(f"config: val_fraction must be in (0, 1), not {self.val_fraction}")
        if self.learning_rate <= 0:
            raise PyccError("config: learning_rate must be positive")
        if self.arch == "gpt2" and self.gpt_width % self.gpt_heads:
            raise PyccError("config: gpt_width must be a multiple of gpt_heads")
        return self

    def excluded_distributions(self) -> tuple[str, ...]:
        return tuple(n.strip() for n in self.exclude_distributions.split(",") if n.strip())

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "Config":
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise PyccError(f"config: unknown key(s): {', '.join(sorted(unknown))}")
        return cls(**data).validate()

    def with_overrides(self, overrides: dict | list[str] | None) -> "Config":
        """Apply `{"key": value}` or `["key=value", ...]`; unknown keys are an error."""
        if not overrides:
            return self
        if isinstance(overrides, list):
            pairs = {}
            for item in overrides:
                if "=" not in item:
                    raise PyccError(f"config override {item!r} is not KEY=VALUE")
                key, value = item.split("=", 1)
                pairs[key.strip().replace("-", "_")] = value.strip()
            overrides = pairs
        types = {f.name: f.type for f in fields(self)}
        changes = {}
        for key, value in overrides.items():
            if key not in types:
                raise PyccError(f"config: unknown key {key!r} (known: {', '.join(sorted(types))})")
            changes[key] = _coerce(key, value, types[key])
        return dataclasses.replace(self, **changes).validate()


def _coerce(key: str, value, type_name: str):
    if not isinstance(value, str):
        return value
    try:
        if type_name == "bool":
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if type_name == "int":
            return int(value)
        if type_name == "float":
            return float(value)
    except ValueError:
        raise PyccError(f"config: {key} expects {type_name}, got {value!r}") from None
    return value


PRESETS: dict[str, dict] = {
    # The design's reference architecture.
    "paper": dict(lstm_units=512, lstm_layers=4, dropout=0.2, batch_size=128),
    # Learns usefully on a 2-core CPU in under an hour (see README, "Choosing the CPU preset").
    "cpu": dict(lstm_units=256, lstm_layers=2, dropout=0.1, batch_size=64, learning_rate=3e-3),
    # For tests: trains in seconds.
    "tiny": dict(lstm_units=32, lstm_layers=1, dropout=0.0, batch_size=16, steps_per_epoch=10,
                 val_windows=16, learning_rate=1e-2),
    # GPyT's GPT-2 size (12 layers, 12 heads, width 768, context 1024).
    "gpt2-small": dict(arch="gpt2", gpt_layers=12, gpt_heads=12, gpt_width=768, seq_len=1024,
                       gpt_vocab_size=8000, dropout=0.1, batch_size=8, learning_rate=3e-4),
    # A GPT-2 that learns on a 2-core CPU in under an hour.
    "gpt2-cpu": dict(arch="gpt2", gpt_layers=4, gpt_heads=4, gpt_width=256, seq_len=128,
                     gpt_vocab_size=4000, dropout=0.0, batch_size=16, learning_rate=1e-3),
    "gpt2-tiny": dict(arch="gpt2", gpt_layers=1, gpt_heads=2, gpt_width=32, seq_len=32,
                      gpt_vocab_size=300, dropout=0.0, batch_size=8, steps_per_epoch=10,
                      val_windows=8, learning_rate=3e-3),
}


def preset(name: str) -> Config:
    if name not in PRESETS:
        raise PyccError(f"unknown preset {name!r} (choose from: {', '.join(PRESETS)})")
    return Config().with_overrides(PRESETS[name])


def presets_of(arch: str) -> list[str]:
    """The presets of one model family."""
    return [name for name, fields in PRESETS.items() if fields.get("arch", Config.arch) == arch]


def default_preset(arch: str | None) -> str:
    """The preset `pycc train` starts from: the family's default (the LSTM's without --arch)."""
    return FAMILIES[arch or Config.arch].default_preset


def preset_for(name: str, arch: str | None) -> Config:
    """Preset `name`, checked to belong to family `arch` when one is given."""
    config = preset(name)
    if arch and config.arch != arch:
        raise OptionError("preset", f"{name} is a {config.arch} preset; the {arch} presets are "
                                    + ", ".join(presets_of(arch)))
    return config
