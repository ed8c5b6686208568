"""The GPT-2 family's data: BPE token samples packed from whole line chunks, tf.data pipelines.

* **Tokenizer**: byte-level BPE (`pycodecomplete.bpe`), trained on the training
  split when a model directory is created and saved in it as `tokenizer.json`;
  resuming reuses that file, never retrains it.
* **Samples**: each file is split at line boundaries into chunks of at most
  `seq_len` tokens (`corpus.preprocess.chunk_text`); a file's first chunk is
  preceded by ``</s>``, the file separator the engine also puts before every
  document. Chunks are packed, in corpus order and whole, into samples of at most
  `seq_len + 1` tokens, padded with ``<pad>`` (masked out of the loss). So every
  sample starts at a file or line start, which is where the engine's context
  starts too.
* **Batches**: batch k is drawn by a stateless RNG seeded with (seed, k), so a
  resumed run sees exactly the batches it would have seen without the kill.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from pycodecomplete import artifact
from pycodecomplete.bpe import PAD_ID, SEPARATOR_ID, BPETokenizer
from pycodecomplete.config import Config
from pycodecomplete.corpus import SourceFile
from pycodecomplete.corpus.preprocess import chunk_text, split_lines
from pycodecomplete.corpus.tokenizer import train_tokenizer
from pycodecomplete.errors import PyccError
from pycodecomplete.ml.gpt2 import fim

log = logging.getLogger(__name__)

def file_units(text: str, tokenizer: BPETokenizer, max_tokens: int, fim_rate: float = 0.0,
               rng: np.random.Generator | None = None) -> list[np.ndarray]:
    """A file as token units: ``</s>`` + its first chunk, then each further chunk.

    With `fim_rate`, each chunk is laid out for fill-in-the-middle with that
    probability (`ml/gpt2/fim.py`), in chunks made smaller to leave room for it.
    """
    lines = split_lines(text)
    counts = [len(ids) for ids in tokenizer.encode_batch(lines)] if lines else []
    budget = max(1, max_tokens - fim.RESERVE) if fim_rate else max_tokens
    chunks = chunk_text(text, budget, tokenizer.count, line_counts=counts)
    encoded = tokenizer.encode_batch(chunks)
    if not encoded:
        return []
    if fim_rate:
        for i, chunk in enumerate(chunks):
            if rng.random() < fim_rate:
                laid_out = fim.psm_ids(*fim.split_points(chunk, rng), tokenizer)
                if len(laid_out) <= max_tokens:  # else (rare) the chunk stays left to right
                    encoded[i] = laid_out
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


def pack_samples(files: list[SourceFile], tokenizer: BPETokenizer, seq_len: int, fim_rate: float = 0.0,
                 seed: int = 0) -> Samples:
    """Whole units packed in corpus order into rows of at most `seq_len + 1` tokens."""
    span = seq_len + 1
    rows, current = [], []
    used = 0
    for index, f in enumerate(files):
        rng = np.random.default_rng([seed, index]) if fim_rate else None
        for unit in file_units(f.text, tokenizer, seq_len, fim_rate, rng):
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


def tokenizer_for(out: Path, resuming: bool, config: Config, train_files: list[SourceFile], parent=None):
    """The directory's tokenizer when resuming, the parent's for a warm start; else one trained now."""
    if resuming or parent is not None:
        tokenizer = BPETokenizer.from_artifact(parent if parent is not None else artifact.ModelArtifact.load(out))
        log.info("%s the tokenizer saved in %s (%d tokens)", "warm start with" if parent else "resuming with",
                 parent.path if parent else out, tokenizer.vocab_size)
        return tokenizer, config
    tokenizer = train_tokenizer((f.text for f in train_files), config.gpt_vocab_size, fim=config.fim_rate > 0)
    if tokenizer.vocab_size != config.gpt_vocab_size:
        log.info("the corpus yields %d tokens, not %d: the model's vocabulary follows the tokenizer",
                 tokenizer.vocab_size, config.gpt_vocab_size)
        config = config.with_overrides({"gpt_vocab_size": tokenizer.vocab_size})
    return tokenizer, config
