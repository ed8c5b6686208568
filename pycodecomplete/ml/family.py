"""What a model family gives the shared trainer and scorer (`ml/trainer.py`, `ml/evaluate.py`).

A family's training package (`ml/lstm/`, `ml/gpt2/`, named in
`pycodecomplete.families`) exposes these module-level functions:

* ``ARCHITECTURE_FIELDS``: the config fields a warm start must share with its
  parent (`ml/warmstart.py`);
* ``prepare(out, config, corpus, resuming, parent) -> TrainingData``: its data
  pipelines over the corpus's splits (and, for GPT-2, its tokenizer: trained on
  the training split for a new directory, read back when resuming, the parent's
  for a warm start);
* ``build_model(config)``: a new compiled Keras model;
* ``export_weights(model, config)`` / ``import_weights(model, config, arrays)``:
  to and from the arrays of `weights.npz`;
* ``validation_metrics(val_loss)``: what a validation loss means in its units
  (bits per character for characters, bits per token for BPE);
* ``score_files(artifact, files)``: bits per character and top-1/top-5 accuracy
  on files, with the model in Keras.

The trainer knows nothing else about a family, and no family imports another.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol


@dataclass
class TrainingData:
    config: object  # the config to train with (a family may adjust it: GPT-2's vocabulary size)
    vocabulary: dict  # the vocabulary or tokenizer description for model.json
    summary: dict  # what the family adds to summary.json (objective, token counts...)
    # global batch -> optimiser steps in one pass over the training split (the default budget)
    pass_steps: Callable[[int], int]
    # (global batch, first step) -> (the endless training dataset, extra Keras callbacks)
    train_dataset: Callable[[int, int], tuple]
    validation_dataset: Callable[[int], object]  # global batch -> the validation dataset
    extra_files: dict[str, bytes] = field(default_factory=dict)  # written into the model directory


class TrainingFamily(Protocol):
    ARCHITECTURE_FIELDS: tuple[str, ...]

    def prepare(self, out, config, corpus, resuming: bool, parent=None) -> TrainingData: ...

    def build_model(self, config): ...

    def export_weights(self, model, config) -> dict: ...

    def import_weights(self, model, config, arrays: dict): ...

    def validation_metrics(self, val_loss: float) -> dict: ...

    def score_files(self, artifact, files) -> dict: ...
