"""Warm starts: a new model directory that begins from another one's weights.

Training then accumulates across runs and corpora: the parent's weights, a fresh
optimiser, and the lineage in `summary.json` (the parent, its steps, and the
steps and wall time of the whole line of ancestors). The architecture must be the
parent's: each family names the config fields that make its architecture
(`ARCHITECTURE_FIELDS`), and any difference is refused with one line. A GPT-2
child also keeps its parent's tokenizer (its vocabulary is the embedding matrix).
"""
from __future__ import annotations

from pathlib import Path

from pycodecomplete.artifact import ModelArtifact
from pycodecomplete.config import Config
from pycodecomplete.errors import OptionError


def load_parent(path, config: Config, architecture_fields: tuple[str, ...]) -> tuple[ModelArtifact, Config]:
    """The parent directory, and `config` with what the child must inherit from it."""
    try:
        parent = ModelArtifact.load(path)
    except Exception as exc:  # PyccError, or a corrupt directory
        raise OptionError("init_from", f"{path}: {exc}") from None
    if parent.config.arch != config.arch:
        raise OptionError("init_from", f"{path} is a {parent.config.arch} model, not {config.arch}")
    differ = [f"{name} {getattr(parent.config, name)} != {getattr(config, name)}"
              for name in architecture_fields if getattr(parent.config, name) != getattr(config, name)]
    if differ:
        raise OptionError("init_from", f"{path} has another architecture ({'; '.join(differ)})")
    parent.weights()  # fails now, in one line, if the parent has no usable weights
    if config.arch == "gpt2":
        config = config.with_overrides({"gpt_vocab_size": parent.config.gpt_vocab_size})
    return parent, config


def lineage(parent: ModelArtifact) -> dict:
    """The summary's `lineage` for a child of `parent`, before the child's own steps."""
    summary = parent.summary()
    own = summary.get("lineage") or {}
    steps = int(own.get("total_steps", summary.get("steps") or 0))
    wall = float(own.get("total_wall_time_s", summary.get("wall_time_s") or 0.0))
    return {"parent": str(Path(parent.path).resolve()), "parent_name": parent.name,
            "parent_steps": int(summary.get("steps") or 0), "ancestors_steps": steps,
            "ancestors_wall_time_s": round(wall, 1), "total_steps": steps, "total_wall_time_s": round(wall, 1),
            "generations": int(own.get("generations", 1)) + 1}


def update_totals(summary: dict, steps: int, wall_time_s: float) -> None:
    """Add the child's own steps and time to the lineage totals (at each checkpoint)."""
    line = summary.get("lineage")
    if line:
        line["total_steps"] = line["ancestors_steps"] + steps
        line["total_wall_time_s"] = round(line["ancestors_wall_time_s"] + wall_time_s, 1)
