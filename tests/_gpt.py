"""Tiny GPT-2 fixtures: a tokenizer trained on a tiny corpus, a keras-hub model dir without training."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from _sources import STDLIB, SMALL_MODULES

TINY_VOCAB = 400


def tiny_texts(modules=SMALL_MODULES) -> list[str]:
    return [(STDLIB / name).read_text(encoding="utf-8").replace("\r\n", "\n") for name in modules]


def train_tiny_tokenizer(vocab_size: int = TINY_VOCAB):
    from pycodecomplete.ml.tokenizer import train_tokenizer

    return train_tokenizer(tiny_texts(), vocab_size)


def tiny_gpt_config(tokenizer, **overrides):
    from pycodecomplete.config import preset

    base = dict(gpt_layers=2, gpt_heads=2, gpt_width=32, seq_len=64, dropout=0.0,
                gpt_vocab_size=tokenizer.vocab_size)
    base.update(overrides)
    return preset("gpt2-tiny").with_overrides(base)


def write_keras_gpt_dir(path: Path, tokenizer, seed: int = 3, **overrides):
    """(keras model, config, path): random weights, larger than the init's, so that parity means something."""
    from pycodecomplete.artifact import TOKENIZER, write_bytes_atomic, write_json_atomic, write_manifest, \
        write_npz_atomic
    from pycodecomplete.ml.gpt import build_gpt, export_weights, import_weights

    config = tiny_gpt_config(tokenizer, **overrides)
    model = build_gpt(config)
    rng = np.random.default_rng(seed)
    arrays = export_weights(model, config)
    for name, array in arrays.items():
        if name.endswith("gamma"):
            arrays[name] = (1.0 + rng.normal(0, 0.2, array.shape)).astype(np.float32)
        elif name.endswith("embeddings"):
            arrays[name] = rng.normal(0, 0.5, array.shape).astype(np.float32)
        else:
            arrays[name] = rng.normal(0, 0.25, array.shape).astype(np.float32)
    import_weights(model, config, arrays)
    path.mkdir(parents=True, exist_ok=True)
    write_manifest(path, config, tokenizer.describe(), name="keras-gpt-tiny")
    write_bytes_atomic(path / TOKENIZER, tokenizer.to_str().encode())
    write_npz_atomic(path / "weights.npz", export_weights(model, config))
    write_json_atomic(path / "summary.json", {"note": "random weights for tests", "steps": 0})
    write_json_atomic(path / "metrics.json", {"val_loss": None})
    return model, config, path


def keras_next_logprobs(model, ids) -> np.ndarray:
    ids = np.asarray(ids, np.int32)[None]
    logits = np.asarray(model({"token_ids": ids, "padding_mask": np.ones_like(ids)}, training=False))[0, -1]
    logits = logits.astype(np.float64)
    return logits - logits.max() - np.log(np.exp(logits - logits.max()).sum())
