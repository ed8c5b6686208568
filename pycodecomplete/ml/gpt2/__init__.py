"""The GPT-2 family's training side (`ml/family.py`): BPE data, keras-hub model, export, scoring."""
from __future__ import annotations

import logging
import math
import time

from pycodecomplete import artifact
from pycodecomplete.ml.family import TrainingData
from pycodecomplete.ml.gpt2.data import pack_samples, tokenizer_for, train_dataset, validation_dataset
from pycodecomplete.ml.gpt2.model import build_gpt, compile_gpt, export_weights, import_weights
from pycodecomplete.ml.gpt2.scoring import score_files

log = logging.getLogger(__name__)


# The vocabulary size is not here: a warm-started child takes its parent's tokenizer.
ARCHITECTURE_FIELDS = ("gpt_layers", "gpt_heads", "gpt_width", "seq_len")


def prepare(out, config, corpus, resuming: bool, parent=None) -> TrainingData:
    train_files, val_files = corpus.split("train"), corpus.split("val")
    tokenizer, config = tokenizer_for(out, resuming, config, train_files, parent=parent)
    fim_rate = config.fim_rate if tokenizer.fim else 0.0
    if config.fim_rate and not tokenizer.fim:
        log.info("the tokenizer has no fill-in-the-middle tokens (an older model's): training left to right only")
    started = time.perf_counter()
    train_samples = pack_samples(train_files, tokenizer, config.seq_len, fim_rate, config.seed)
    # Validation is laid out like training, so the best weights are the best at what is trained;
    # left-to-right quality is `pycc evaluate`'s bits per character, for every model alike.
    val_samples = pack_samples(val_files, tokenizer, config.seq_len, fim_rate, config.seed + 1)
    log.info("tokens: train %d in %d samples (fill %.1f%%), val %d; %.2f chars/token; %.1fs",
             train_samples.tokens, len(train_samples.rows), 100 * train_samples.fill(),
             val_samples.tokens, train_samples.chars / max(1, train_samples.tokens),
             time.perf_counter() - started)
    tokens = {"train": train_samples.tokens, "val": val_samples.tokens,
              "train_samples": len(train_samples.rows), "fill": round(train_samples.fill(), 4),
              "chars_per_token": round(train_samples.chars / max(1, train_samples.tokens), 4)}
    return TrainingData(
        config=config, vocabulary=tokenizer.describe(),
        summary={"corpus": {"tokens": tokens}, "objective": "causal-lm", "fim_rate": fim_rate},
        pass_steps=lambda global_batch: len(train_samples.rows) // global_batch,
        train_dataset=lambda global_batch, start_step: (
            train_dataset(train_samples, config, global_batch, start_step=start_step), []),
        validation_dataset=lambda global_batch: validation_dataset(val_samples, config, global_batch),
        extra_files={artifact.TOKENIZER: tokenizer.to_str().encode()})


def build_model(config):
    return compile_gpt(build_gpt(config), config)


def validation_metrics(val_loss: float) -> dict:
    # val_loss is per BPE token; bits per character come from `pycc evaluate`.
    return {"val_bits_per_token": val_loss / math.log(2)}


__all__ = ["ARCHITECTURE_FIELDS", "build_model", "export_weights", "import_weights", "prepare", "score_files", "validation_metrics"]
