"""The GPT-2 family's model: keras-hub's GPT2Backbone/GPT2CausalLM from scratch, and its export.

* **Model**: `GPT2CausalLM` over a `GPT2Backbone` built from our `Config` (layers,
  heads, width, feed-forward 4x width, context `seq_len`). No preset, no
  pretrained weights, nothing downloaded. The objective is causal language
  modelling: every position predicts the next token (GPyT's masked-LM collation
  was wrong for a generator).
* **Export**: `weights.npz` holds the backbone's variables under their Keras paths
  (``transformer_layer_0/self_attention/query/kernel``...) as float32, read by
  the numpy engine (`pycodecomplete.engine.gpt2.stepper`).
"""
from __future__ import annotations

import keras
import keras_hub
import numpy as np
import tensorflow as tf

from pycodecomplete.config import Config
from pycodecomplete.errors import PyccError

WARMUP_STEPS = 200  # linear learning-rate warm-up (at most one epoch)

@keras.saving.register_keras_serializable(package="pycodecomplete")
class CodeGPT(keras_hub.models.GPT2CausalLM):
    """keras-hub's GPT2CausalLM, plus what a `.keras` checkpoint needs to resume.

    `CausalLM` overrides `compile`, so Keras skips `compile_from_config` when
    loading and drops the optimizer state. Re-compiling from the saved config
    here restores the optimizer, its step counter and its moments exactly.
    """

    def compile_from_config(self, config):
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)
        if self.built:
            self.optimizer.build(self.trainable_variables)


@keras.saving.register_keras_serializable(package="pycodecomplete")
class WarmupSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up over `warmup_steps`, then constant (budgets are in minutes, not steps)."""

    def __init__(self, peak: float, warmup_steps: int):
        self.peak, self.warmup_steps = float(peak), int(warmup_steps)

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        return self.peak * tf.minimum(1.0, (step + 1.0) / float(max(1, self.warmup_steps)))

    def get_config(self):
        return {"peak": self.peak, "warmup_steps": self.warmup_steps}


def backbone_config(config: Config) -> dict:
    return dict(vocabulary_size=config.gpt_vocab_size, num_layers=config.gpt_layers,
                num_heads=config.gpt_heads, hidden_dim=config.gpt_width,
                intermediate_dim=4 * config.gpt_width, dropout=config.dropout,
                max_sequence_length=config.seq_len)


def build_gpt(config: Config) -> CodeGPT:
    """A randomly initialised GPT-2 of the config's size (seeded by `config.seed`)."""
    keras.utils.set_random_seed(config.seed)
    backbone = keras_hub.models.GPT2Backbone(**backbone_config(config))
    return CodeGPT(backbone=backbone, preprocessor=None)


def compile_gpt(model: CodeGPT, config: Config) -> CodeGPT:
    schedule = WarmupSchedule(config.learning_rate, min(WARMUP_STEPS, config.steps_per_epoch))
    model.compile(
        optimizer=keras.optimizers.Adam(schedule, beta_1=0.9, beta_2=0.98, clipnorm=config.clipnorm),
        # Mean over real (unpadded) target tokens: val_loss is nats per token.
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True, reduction="mean_with_sample_weight"),
        weighted_metrics=[keras.metrics.SparseCategoricalAccuracy(name="acc")],
        sampler="greedy")
    return model


_TOP_LEVEL = ("token_embedding/", "position_embedding/", "transformer_layer_", "layer_norm/")


def weight_names(config: Config) -> list[str]:
    """The arrays of `weights.npz`, in the order of the backbone's variables."""
    names = ["token_embedding/embeddings", "position_embedding/embeddings"]
    for i in range(config.gpt_layers):
        p = f"transformer_layer_{i}/"
        for part in ("query", "key", "value", "attention_output"):
            names += [f"{p}self_attention/{part}/kernel", f"{p}self_attention/{part}/bias"]
        names += [f"{p}self_attention_layer_norm/gamma", f"{p}self_attention_layer_norm/beta",
                  f"{p}feedforward_intermediate_dense/kernel", f"{p}feedforward_intermediate_dense/bias",
                  f"{p}feedforward_output_dense/kernel", f"{p}feedforward_output_dense/bias",
                  f"{p}feedforward_layer_norm/gamma", f"{p}feedforward_layer_norm/beta"]
    return names + ["layer_norm/gamma", "layer_norm/beta"]


def _short_path(path: str) -> str:
    """A variable's path without any model prefix (stable across save and load)."""
    starts = [path.find(t) for t in _TOP_LEVEL if path.find(t) >= 0]
    return path[min(starts):] if starts else path


def _backbone_variables(model) -> dict:
    backbone = model.backbone if hasattr(model, "backbone") else model
    return {_short_path(v.path): v for v in backbone.weights}


def export_weights(model, config: Config) -> dict[str, np.ndarray]:
    variables = _backbone_variables(model)
    missing = [n for n in weight_names(config) if n not in variables]
    if missing:
        raise PyccError(f"GPT export: the model has no variable(s) {', '.join(missing[:3])}")
    return {name: np.asarray(variables[name].numpy(), dtype=np.float32) for name in weight_names(config)}


def import_weights(model, config: Config, arrays: dict[str, np.ndarray]):
    variables = _backbone_variables(model)
    for name in weight_names(config):
        if name not in arrays:
            raise PyccError(f"weights.npz: missing array {name!r} for this GPT-2 config")
        if tuple(arrays[name].shape) != tuple(variables[name].shape):
            raise PyccError(f"weights.npz: {name} has shape {arrays[name].shape}, "
                            f"expected {tuple(variables[name].shape)}")
        variables[name].assign(arrays[name])
    return model
