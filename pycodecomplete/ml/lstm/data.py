"""The char-LSTM's data: tf.data pipelines over one encoded character stream.

Memory holds the stream once, one byte per character. Each batch is gathered by
index arithmetic from that byte tensor; no one-hot copy exists outside the model,
which one-hot encodes ids inside its graph.

Training windows start at offsets drawn by a *stateless* RNG seeded with the global
step, so a resumed run sees exactly the batches it would have seen without the kill.
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from pycodecomplete.config import Config
from pycodecomplete.corpus import SourceFile
from pycodecomplete.errors import PyccError
from pycodecomplete.vocab import CharVocabulary


def encode_stream(files: list[SourceFile], vocab: CharVocabulary | None = None) -> np.ndarray:
    """One uint8 id stream: BOUNDARY, file, BOUNDARY, file, ..., BOUNDARY.

    The boundary character both ends one file and starts the next, exactly as the
    engine starts every document with it.
    """
    vocab = vocab or CharVocabulary()
    closing = np.array([vocab.boundary_id], np.uint8)
    return np.concatenate([vocab.encode_document(f.text) for f in files] + [closing])



def _split_targets(windows: tf.Tensor, config: Config):
    """windows: [B, seq_len + 1] ids -> (inputs, targets) for the configured objective."""
    inputs = windows[:, :-1]
    if config.objective == "every-char":
        return inputs, windows[:, 1:]  # every position's target is the next character
    return inputs, windows[:, -1]  # the design's original: only the 101st character


def check_stream(stream: np.ndarray, config: Config, what: str) -> None:
    if len(stream) < config.seq_len + 1:
        raise PyccError(
            f"the {what} split has {len(stream)} characters, fewer than one training window "
            f"({config.seq_len + 1}); add more .py files")


def train_dataset(stream: np.ndarray, config: Config, global_batch: int, start_step: int = 0) -> tf.data.Dataset:
    """An endless dataset of batches; batch k is a pure function of (seed, k)."""
    check_stream(stream, config, "training")
    data = tf.constant(stream, dtype=tf.uint8)
    span = config.seq_len + 1
    max_offset = len(stream) - span + 1
    seed = config.seed

    def batch_for_step(step):
        offsets = tf.random.stateless_uniform(
            [global_batch], seed=tf.stack([tf.constant(seed, tf.int64), step]),
            maxval=max_offset, dtype=tf.int64)
        idx = offsets[:, None] + tf.range(span, dtype=tf.int64)[None, :]
        return _split_targets(tf.cast(tf.gather(data, idx), tf.int32), config)

    return (tf.data.Dataset.counter(start=start_step)
            .map(batch_for_step, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
            .prefetch(tf.data.AUTOTUNE))


def stateful_train_dataset(stream: np.ndarray, config: Config, global_batch: int,
                           start_step: int = 0) -> tuple[tf.data.Dataset, int]:
    """Truncated BPTT batches: row b of batch k continues row b of batch k - 1.

    The stream is cut into `global_batch` tracks, read window after window; the
    model carries its LSTM state from one window to the next. Returns the dataset
    and the number of windows per track, after which the tracks wrap around and
    the state must be reset.
    """
    check_stream(stream, config, "training")
    track = (len(stream) - 1) // global_batch
    per_track = (track - 1) // config.seq_len
    if per_track < 1:
        raise PyccError(f"the training split ({len(stream)} characters) is too small for {global_batch} "
                        f"stateful tracks of {config.seq_len + 1} characters; lower batch_size")
    data = tf.constant(stream, dtype=tf.uint8)
    bases = tf.range(global_batch, dtype=tf.int64) * track
    span = tf.range(config.seq_len + 1, dtype=tf.int64)

    def batch_for_step(step):
        window = step % per_track
        idx = bases[:, None] + window * config.seq_len + span[None, :]
        return _split_targets(tf.cast(tf.gather(data, idx), tf.int32), config)

    dataset = (tf.data.Dataset.counter(start=start_step)
               .map(batch_for_step, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
               .prefetch(tf.data.AUTOTUNE))
    return dataset, per_track


def validation_windows(stream: np.ndarray, config: Config, max_windows: int) -> np.ndarray:
    """Up to `max_windows` non-overlapping windows spread evenly across the stream."""
    check_stream(stream, config, "validation")
    span = config.seq_len + 1
    starts = np.arange(0, len(stream) - span + 1, config.seq_len)
    if len(starts) > max_windows:
        starts = starts[np.linspace(0, len(starts) - 1, max_windows).astype(np.int64)]
    return stream[starts[:, None] + np.arange(span)[None, :]]


def validation_dataset(stream: np.ndarray, config: Config, global_batch: int) -> tf.data.Dataset:
    windows = validation_windows(stream, config, config.val_windows)
    if config.stateful and len(windows) < global_batch:
        raise PyccError(f"stateful training needs at least {global_batch} validation windows, "
                        f"got {len(windows)}; raise val_windows or add files")
    # A stateful model has a fixed batch size: drop the ragged last batch.
    return (tf.data.Dataset.from_tensor_slices(windows.astype(np.int32))
            .batch(global_batch, drop_remainder=config.stateful)
            .map(lambda w: _split_targets(w, config), num_parallel_calls=tf.data.AUTOTUNE)
            .prefetch(tf.data.AUTOTUNE))


class StateResets(keras.callbacks.Callback):
    """For truncated BPTT: zero the LSTM state when the tracks wrap around, and score
    validation windows from a zero state without disturbing the training state."""

    def __init__(self, per_track: int):
        super().__init__()
        self.per_track = per_track
        self.saved = None

    def _rnns(self):
        return [layer for layer in self.model.layers if getattr(layer, "stateful", False)]

    def on_train_batch_begin(self, batch, logs=None):
        if int(self.model.optimizer.iterations.numpy()) % self.per_track == 0:
            for layer in self._rnns():
                layer.reset_state()

    def on_test_begin(self, logs=None):
        self.saved = [[v.numpy() for v in layer.states] for layer in self._rnns() if layer.states]

    def on_test_batch_begin(self, batch, logs=None):
        for layer in self._rnns():
            layer.reset_state()

    def on_test_end(self, logs=None):
        for layer, values in zip(self._rnns(), self.saved or []):
            for variable, value in zip(layer.states, values):
                variable.assign(value)
