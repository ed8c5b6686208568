"""The model families, one line each: where a family's training and serving code live.

Adding a family is: an `ml/<name>/` package (model, data, export, scoring: see
`pycodecomplete.ml.family.TrainingFamily`), an `engine/<name>/` package (its engine:
see `pycodecomplete.engine.base.Engine`), one line in `FAMILIES`, and presets in
`pycodecomplete.config.PRESETS` whose `arch` is the name. The contract test
(`tests/test_family_contract.py`) then runs over it.

Modules are named, not imported: the serving side loads only `serving`, so a
server never imports TensorFlow, and this module imports nothing at all.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Family:
    name: str  # the config's `arch`
    training: str  # the package that trains, exports and scores it (TensorFlow)
    serving: str  # the package whose `ENGINE` serves its model directories (numpy, ONNX Runtime)
    default_preset: str  # `pycc train --arch NAME` without --preset
    tiny_preset: str  # trains in seconds: what the tests' family contract trains
    description: str


FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family("lstm", "pycodecomplete.ml.lstm", "pycodecomplete.engine.lstm", "cpu", "tiny",
           "char-level LSTM over the 100 printable characters"),
    Family("gpt2", "pycodecomplete.ml.gpt2", "pycodecomplete.engine.gpt2", "gpt2-cpu", "gpt2-tiny",
           "byte-level BPE tokens and a keras-hub GPT-2 trained from scratch"),
)}


def family(name: str) -> Family:
    from pycodecomplete.errors import PyccError

    if name not in FAMILIES:
        raise PyccError(f"unknown model family {name!r} (known: {', '.join(FAMILIES)})")
    return FAMILIES[name]


def training_module(name: str):
    """The family's training package (imports TensorFlow)."""
    return importlib.import_module(family(name).training)


def serving_module(name: str):
    """The family's serving package (no TensorFlow)."""
    return importlib.import_module(family(name).serving)
