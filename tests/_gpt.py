"""Tiny GPT-2 fixtures: a tokenizer trained on a tiny corpus, a keras-hub model dir without training."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from _sources import STDLIB, SMALL_MODULES

TINY_VOCAB = 400


def tiny_texts(modules=SMALL_MODULES) -> list[str]:
    return [(STDLIB / name).read_text(encoding="utf-8").replace("\r\n", "\n") for name in modules]


def train_tiny_tokenizer(vocab_size: int = TINY_VOCAB):
    from pycodecomplete.corpus.tokenizer import train_tokenizer

    return train_tokenizer(tiny_texts(), vocab_size)


def tiny_gpt_config(tokenizer, **overrides):
    from pycodecomplete.config import preset

    base = dict(gpt_layers=2, gpt_heads=2, gpt_width=32, seq_len=64, dropout=0.0,
                gpt_vocab_size=tokenizer.vocab_size)
    base.update(overrides)
    return preset("gpt2-tiny").with_overrides(base)


def write_keras_gpt_dir(path: Path, tokenizer, seed: int = 3, **overrides):
    """(keras model, config, path): random weights, larger than the init's, so that parity means something."""
    from pycodecomplete.ml.gpt2.model import build_gpt, export_weights, import_weights

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
    write_gpt_dir(path, config, tokenizer, export_weights(model, config), name="keras-gpt-tiny")
    return model, config, path


def keras_next_logprobs(model, ids) -> np.ndarray:
    ids = np.asarray(ids, np.int32)[None]
    logits = np.asarray(model({"token_ids": ids, "padding_mask": np.ones_like(ids)}, training=False))[0, -1]
    logits = logits.astype(np.float64)
    return logits - logits.max() - np.log(np.exp(logits - logits.max()).sum())


def random_gpt_weights(config, seed: int = 0) -> dict[str, np.ndarray]:
    """numpy-random weights with the names and shapes of `ml.gpt2.model.export_weights` (no TensorFlow)."""
    rng = np.random.default_rng(seed)
    d, h, v, p = config.gpt_width, config.gpt_heads, config.gpt_vocab_size, config.seq_len
    k = d // h
    arrays = {"token_embedding/embeddings": rng.normal(0, 0.5, (v, d)),
              "position_embedding/embeddings": rng.normal(0, 0.5, (p, d)),
              "layer_norm/gamma": 1 + rng.normal(0, 0.2, d), "layer_norm/beta": rng.normal(0, 0.2, d)}
    for i in range(config.gpt_layers):
        pre = f"transformer_layer_{i}/"
        for part in ("query", "key", "value"):
            arrays[f"{pre}self_attention/{part}/kernel"] = rng.normal(0, 0.25, (d, h, k))
            arrays[f"{pre}self_attention/{part}/bias"] = rng.normal(0, 0.25, (h, k))
        arrays[f"{pre}self_attention/attention_output/kernel"] = rng.normal(0, 0.25, (h, k, d))
        arrays[f"{pre}self_attention/attention_output/bias"] = rng.normal(0, 0.25, d)
        for norm in ("self_attention_layer_norm", "feedforward_layer_norm"):
            arrays[f"{pre}{norm}/gamma"] = 1 + rng.normal(0, 0.2, d)
            arrays[f"{pre}{norm}/beta"] = rng.normal(0, 0.2, d)
        arrays[f"{pre}feedforward_intermediate_dense/kernel"] = rng.normal(0, 0.25, (d, 4 * d))
        arrays[f"{pre}feedforward_intermediate_dense/bias"] = rng.normal(0, 0.25, 4 * d)
        arrays[f"{pre}feedforward_output_dense/kernel"] = rng.normal(0, 0.25, (4 * d, d))
        arrays[f"{pre}feedforward_output_dense/bias"] = rng.normal(0, 0.25, d)
    return {name: a.astype(np.float32) for name, a in arrays.items()}


def write_random_gpt_dir(path: Path, tokenizer, seed: int = 0, **overrides) -> Path:
    """A complete GPT-2 model directory with random weights, made without TensorFlow."""

    config = tiny_gpt_config(tokenizer, **overrides)
    return write_gpt_dir(path, config, tokenizer, random_gpt_weights(config, seed), name="random-gpt-tiny")


def write_gpt_dir(path: Path, config, tokenizer, weights: dict, name: str) -> Path:
    """A complete GPT-2 model directory from weights already in the export layout."""
    from pycodecomplete.artifact import TOKENIZER, write_bytes_atomic, write_json_atomic, write_manifest, \
        write_npz_atomic

    path.mkdir(parents=True, exist_ok=True)
    write_manifest(path, config, tokenizer.describe(), name=name)
    write_bytes_atomic(path / TOKENIZER, tokenizer.to_str().encode())
    write_npz_atomic(path / "weights.npz", weights)
    write_json_atomic(path / "summary.json", {"note": "random weights for tests", "steps": 0})
    write_json_atomic(path / "metrics.json", {"val_loss": None})
    return path
