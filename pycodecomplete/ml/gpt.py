"""The GPT-2 family: keras-hub's GPT2Backbone/GPT2CausalLM from scratch, on BPE tokens.

* **Model**: `GPT2CausalLM` over a `GPT2Backbone` built from our `Config` (layers,
  heads, width, feed-forward 4x width, context `seq_len`). No preset, no
  pretrained weights, nothing downloaded. The objective is causal language
  modelling: every position predicts the next token (GPyT's masked-LM collation
  was wrong for a generator).
* **Tokenizer**: byte-level BPE (`pycodecomplete.bpe`), trained on the training
  split when a model directory is created and saved in it as `tokenizer.json`;
  resuming reuses that file, never retrains it.
* **Samples**: each file is split at line boundaries into chunks of at most
  `seq_len` tokens (`preprocess.chunk_text`); a file's first chunk is preceded by
  ``</s>``, the file separator the engine also puts before every document. Chunks
  are packed, in corpus order and whole, into samples of at most `seq_len + 1`
  tokens, padded with ``<pad>`` (masked out of the loss). So every sample starts
  at a file or line start, which is where the engine's context starts too.
* **Batches**: batch k is drawn by a stateless RNG seeded with (seed, k), so a
  resumed run sees exactly the batches it would have seen without the kill.
* **Export**: `weights.npz` holds the backbone's variables under their Keras paths
  (``transformer_layer_0/self_attention/query/kernel``...) as float32, read by
  the numpy engine (`pycodecomplete.engine.gpt`).
* **Evaluation** reports bits per *character* over the same files as the
  char-LSTM, so the two families compare directly: a file's chunks (half a
  context each) are scored with the previous chunk as extra context, and the
  bits of all its tokens are divided by its characters.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import keras_hub
import numpy as np
import tensorflow as tf

from pycodecomplete import artifact
from pycodecomplete.bpe import PAD_ID, SEPARATOR_ID, BPETokenizer
from pycodecomplete.config import Config
from pycodecomplete.errors import PyccError
from pycodecomplete.ml.corpus import SourceFile, load_corpus
from pycodecomplete.ml.preprocess import chunk_text, split_lines
from pycodecomplete.ml.tokenizer import train_tokenizer

log = logging.getLogger(__name__)
WARMUP_STEPS = 200  # linear learning-rate warm-up (at most one epoch)


# ------------------------------------------------------------------ model ----

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


# ------------------------------------------------------------------ data -----

def file_units(text: str, tokenizer: BPETokenizer, max_tokens: int) -> list[np.ndarray]:
    """A file as token units: ``</s>`` + its first chunk, then each further chunk."""
    lines = split_lines(text)
    counts = [len(ids) for ids in tokenizer.encode_batch(lines)] if lines else []
    chunks = chunk_text(text, max_tokens, tokenizer.count, line_counts=counts)
    encoded = tokenizer.encode_batch(chunks)
    if not encoded:
        return []
    head = np.concatenate([np.array([SEPARATOR_ID], np.int32), encoded[0]])
    return [head] + encoded[1:]


@dataclass
class Samples:
    rows: np.ndarray  # [N, seq_len + 1] token ids, padded with <pad>
    lengths: np.ndarray  # [N] real tokens in each row
    files: int
    chars: int

    @property
    def tokens(self) -> int:
        return int(self.lengths.sum())

    def fill(self) -> float:
        return self.tokens / max(1, self.rows.size)


def pack_samples(files: list[SourceFile], tokenizer: BPETokenizer, seq_len: int) -> Samples:
    """Whole units packed in corpus order into rows of at most `seq_len + 1` tokens."""
    span = seq_len + 1
    rows, current = [], []
    used = 0
    for f in files:
        for unit in file_units(f.text, tokenizer, seq_len):
            if used + len(unit) > span and current:
                rows.append(np.concatenate(current))
                current, used = [], 0
            current.append(unit)
            used += len(unit)
    if current:
        rows.append(np.concatenate(current))
    table = np.full((len(rows), span), PAD_ID, np.int32)
    for i, row in enumerate(rows):
        table[i, :len(row)] = row
    return Samples(table, np.array([len(r) for r in rows], np.int32), len(files), sum(len(f.text) for f in files))


def _to_batch(rows, lengths):
    span = tf.shape(rows)[1]
    mask = tf.sequence_mask(lengths, span)
    inputs = {"token_ids": rows[:, :-1], "padding_mask": tf.cast(mask[:, :-1], tf.int32)}
    return inputs, rows[:, 1:], tf.cast(mask[:, 1:], tf.float32)


def train_dataset(samples: Samples, config: Config, global_batch: int, start_step: int = 0) -> tf.data.Dataset:
    """Endless batches; batch k is a pure function of (seed, k)."""
    if len(samples.rows) == 0:
        raise PyccError("the training split has no tokens; add .py files")
    rows, lengths = tf.constant(samples.rows), tf.constant(samples.lengths)
    count, seed = len(samples.rows), config.seed

    def batch_for_step(step):
        idx = tf.random.stateless_uniform([global_batch], seed=tf.stack([tf.constant(seed, tf.int64), step]),
                                          maxval=count, dtype=tf.int64)
        return _to_batch(tf.gather(rows, idx), tf.gather(lengths, idx))

    return (tf.data.Dataset.counter(start=start_step)
            .map(batch_for_step, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
            .prefetch(tf.data.AUTOTUNE))


def validation_dataset(samples: Samples, config: Config, global_batch: int) -> tf.data.Dataset:
    """Up to `val_windows` rows spread evenly over the validation samples."""
    if len(samples.rows) == 0:
        raise PyccError("the validation split has no tokens; add files or raise val_fraction")
    pick = np.arange(len(samples.rows))
    if len(pick) > config.val_windows:
        pick = pick[np.linspace(0, len(pick) - 1, config.val_windows).astype(np.int64)]
    return (tf.data.Dataset.from_tensor_slices((samples.rows[pick], samples.lengths[pick]))
            .batch(global_batch)
            .map(_to_batch, num_parallel_calls=tf.data.AUTOTUNE)
            .prefetch(tf.data.AUTOTUNE))


# ------------------------------------------------------------------ train ----

def _tokenizer_for(out: Path, state: dict, config: Config, train_files: list[SourceFile]):
    """The model directory's tokenizer when resuming; otherwise one trained on the train split."""
    if state.get("checkpoint"):
        tokenizer = BPETokenizer.from_artifact(artifact.ModelArtifact.load(out))
        log.info("resuming with the tokenizer saved in %s (%d tokens)", out, tokenizer.vocab_size)
        return tokenizer, config
    tokenizer = train_tokenizer((f.text for f in train_files), config.gpt_vocab_size)
    if tokenizer.vocab_size != config.gpt_vocab_size:
        log.info("the corpus yields %d tokens, not %d: the model's vocabulary follows the tokenizer",
                 tokenizer.vocab_size, config.gpt_vocab_size)
        config = config.with_overrides({"gpt_vocab_size": tokenizer.vocab_size})
    return tokenizer, config


def train(out: Path, corpus_dirs, config: Config, state: dict, *, max_steps=None, epochs=None,
          minutes=None, devices=None, verbose="auto") -> dict:
    """Train (or resume) a GPT-2 model directory; called by `pycodecomplete.ml.train.train`."""
    from pycodecomplete.ml.train import build_or_load, fit, log_corpus, plan_epochs, select_strategy

    corpus = load_corpus(corpus_dirs, val_fraction=config.val_fraction,
                         max_file_bytes=config.max_file_bytes, max_line_chars=config.max_line_chars)
    stats = log_corpus(corpus, config)
    train_files, val_files = corpus.split("train"), corpus.split("val")
    tokenizer, config = _tokenizer_for(out, state, config, train_files)

    started = time.perf_counter()
    train_samples = pack_samples(train_files, tokenizer, config.seq_len)
    val_samples = pack_samples(val_files, tokenizer, config.seq_len)
    log.info("tokens: train %d in %d samples (fill %.1f%%), val %d; %.2f chars/token; %.1fs",
             train_samples.tokens, len(train_samples.rows), 100 * train_samples.fill(),
             val_samples.tokens, train_samples.chars / max(1, train_samples.tokens),
             time.perf_counter() - started)

    strategy = select_strategy(devices)
    replicas = strategy.num_replicas_in_sync
    global_batch = config.batch_size * replicas
    if max_steps is None and epochs is None and minutes is None:
        max_steps = max(1, len(train_samples.rows) // global_batch)  # one pass over the samples
    target_epochs = plan_epochs(state, config, max_steps, epochs, minutes)
    if not target_epochs:
        log.info("%s has already reached its budget (step %d); nothing to do", out, state["step"])
        return artifact.ModelArtifact.load(out).summary()

    model = build_or_load(out, state, config, strategy, lambda: compile_gpt(build_gpt(config), config),
                          tokenizer.describe(), extra_files={artifact.TOKENIZER: tokenizer.to_str().encode()})
    stats["tokens"] = {"train": train_samples.tokens, "val": val_samples.tokens,
                       "train_samples": len(train_samples.rows), "fill": round(train_samples.fill(), 4),
                       "chars_per_token": round(train_samples.chars / max(1, train_samples.tokens), 4)}
    return fit(out, model, config, state, {"corpus": stats, "objective": "causal-lm"},
               train_dataset(train_samples, config, global_batch, start_step=state["step"]),
               validation_dataset(val_samples, config, global_batch),
               lambda m: export_weights(m, config), target_epochs=target_epochs, max_steps=max_steps,
               minutes=minutes, global_batch=global_batch, replicas=replicas, strategy=strategy,
               verbose=verbose)


# ------------------------------------------------------------------ evaluate -

def scoring_windows(text: str, tokenizer: BPETokenizer, seq_len: int):
    """(window ids, index of the first scored target) covering every token of `text` once.

    Chunks hold at most half a context; each is scored after the previous one (or
    after ``</s>`` for the first), so every window starts at a file or line start
    and fits the model. The chunks' tokens decode back to `text` exactly.
    """
    units = file_units(text, tokenizer, max(1, seq_len // 2))
    for k, unit in enumerate(units):
        if k == 0:
            yield unit, 0
        else:
            yield np.concatenate([units[k - 1], unit]), len(units[k - 1]) - 1


def _scorer(model):
    @tf.function(reduce_retracing=True)
    def score(x, mask, y, weight):
        logits = model({"token_ids": x, "padding_mask": mask}, training=False)
        logp = -keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
        flat_logits = tf.reshape(logits, [-1, tf.shape(logits)[-1]])
        flat_y = tf.reshape(y, [-1])
        top1 = tf.cast(tf.reshape(tf.math.in_top_k(flat_y, flat_logits, 1), tf.shape(y)), tf.float32)
        top5 = tf.cast(tf.reshape(tf.math.in_top_k(flat_y, flat_logits, 5), tf.shape(y)), tf.float32)
        return tf.reduce_sum(logp * weight), tf.reduce_sum(top1 * weight), tf.reduce_sum(top5 * weight)

    return score


def load_keras_model(art) -> CodeGPT:
    """The exported weights in a fresh keras-hub model (dropout off)."""
    weights = art.weights()
    config = art.config.with_overrides({"dropout": 0.0})
    return import_weights(build_gpt(config), config, weights)


def score_files(art, files: list[SourceFile], batch_size: int = 16) -> dict:
    tokenizer = BPETokenizer.from_artifact(art)
    seq_len = art.config.seq_len
    score = _scorer(load_keras_model(art))
    windows = [w for f in files for w in scoring_windows(f.text, tokenizer, seq_len)]
    nll = top1 = top5 = 0.0
    tokens = 0
    for start in range(0, len(windows), batch_size):
        batch = windows[start:start + batch_size]
        x = np.full((len(batch), seq_len), PAD_ID, np.int32)
        y = np.zeros_like(x)
        mask = np.zeros_like(x)
        weight = np.zeros(x.shape, np.float32)
        for row, (ids, first) in enumerate(batch):
            n = len(ids) - 1
            x[row, :n], y[row, :n], mask[row, :n] = ids[:-1], ids[1:], 1
            weight[row, first:n] = 1.0
        s_logp, s_top1, s_top5 = (float(v) for v in score(x, mask, y, weight))
        nll -= s_logp
        top1 += s_top1
        top5 += s_top5
        tokens += int(weight.sum())
    chars = sum(len(f.text) for f in files)
    bits = nll / math.log(2)
    return {"bpc": bits / max(1, chars), "bits_per_token": bits / max(1, tokens),
            "top1": top1 / max(1, tokens), "top5": top5 / max(1, tokens), "accuracy_unit": "token",
            "chars": chars, "tokens": tokens, "chars_per_token": chars / max(1, tokens), "files": len(files)}


def evaluate(art, data=None, max_chars=None, keystrokes: bool = False) -> dict:
    """`pycc evaluate` for a GPT-2 directory: the LSTM's keys, with bpc per character."""
    from pycodecomplete.ml.evaluate import select_files

    files = select_files(art.path, data, max_chars, art.config)
    started = time.perf_counter()
    result = {"model": art.name, "data": "validation split" if not data else [str(d) for d in data],
              "context": "document"}
    result.update(score_files(art, files))
    if keystrokes:
        from pycodecomplete.engine.completion import CompletionEngine
        from pycodecomplete.ml.keystrokes import simulate_files
        result.update(simulate_files(CompletionEngine.from_model_dir(art.path), files))
    result["elapsed_s"] = round(time.perf_counter() - started, 2)
    return result
