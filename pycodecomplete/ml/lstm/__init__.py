"""The char-LSTM family's training side (`ml/family.py`): model, data, export, scoring."""
from __future__ import annotations

import math

from pycodecomplete.ml.family import TrainingData
from pycodecomplete.ml.lstm import data
from pycodecomplete.ml.lstm.model import build_lstm, compile_model, export_weights, import_weights
from pycodecomplete.ml.lstm.scoring import score_files
from pycodecomplete.vocab import CharVocabulary


ARCHITECTURE_FIELDS = ("lstm_layers", "lstm_units")


def prepare(out, config, corpus, resuming: bool, parent=None) -> TrainingData:
    train_stream = data.encode_stream(corpus.split("train"))
    val_stream = data.encode_stream(corpus.split("val"))

    def train_dataset(global_batch: int, start_step: int):
        if config.stateful:
            dataset, per_track = data.stateful_train_dataset(train_stream, config, global_batch, start_step)
            return dataset, [data.StateResets(per_track)]
        return data.train_dataset(train_stream, config, global_batch, start_step=start_step), []

    return TrainingData(
        config=config, vocabulary=CharVocabulary().to_json(),
        summary={"objective": config.objective, "stateful": config.stateful},
        pass_steps=lambda global_batch: len(train_stream) // (global_batch * config.seq_len),
        train_dataset=train_dataset,
        validation_dataset=lambda global_batch: data.validation_dataset(val_stream, config, global_batch))


def build_model(config):
    return compile_model(build_lstm(config, batch_size=config.batch_size), config)


def validation_metrics(val_loss: float) -> dict:
    return {"val_bpc": val_loss / math.log(2)}  # nats per character -> bits per character


__all__ = ["ARCHITECTURE_FIELDS", "build_model", "export_weights", "import_weights", "prepare", "score_files", "validation_metrics"]
