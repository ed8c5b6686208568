"""Supervised targets per second for one model, three ways, measured in one run.

(a) our pipeline: tf.data windows gathered from the encoded real corpus, next-char
    targets at every position;
(b) the same model fed one synthetic batch already in memory (the input ceiling);
(c) the design's original scheme: one-hot windows built on the host per batch and
    one target (the 101st character) per window.

    python benchmarks/train_throughput.py [--preset cpu] [--steps 30] [--corpus DIR]

Prints one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from pycodecomplete.config import preset  # noqa: E402
from pycodecomplete.ml.lstm import data  # noqa: E402
from pycodecomplete.corpus import load_corpus  # noqa: E402
from pycodecomplete.ml.lstm.data import encode_stream  # noqa: E402
from pycodecomplete.ml.lstm.model import build_lstm, compile_model  # noqa: E402


class _Timer(keras.callbacks.Callback):
    def __init__(self, warmup):
        super().__init__()
        self.warmup, self.start, self.end, self.n = warmup, None, None, 0

    def on_train_batch_end(self, batch, logs=None):
        if batch + 1 == self.warmup:
            self.start = time.perf_counter()
        elif batch + 1 > self.warmup:
            self.n += 1
            self.end = time.perf_counter()


def steps_per_second(model, dataset, steps, warmup):
    timer = _Timer(warmup)
    model.fit(dataset, steps_per_epoch=steps + warmup, epochs=1, verbose=0, callbacks=[timer], shuffle=False)
    return timer.n / (timer.end - timer.start)


def original_batches(stream, config, batch):
    """The design's generator: host-side one-hot windows, one target each."""
    rng = np.random.default_rng(0)
    eye = np.eye(100, dtype=np.float32)
    while True:
        starts = rng.integers(0, len(stream) - config.seq_len - 1, size=batch)
        windows = stream[starts[:, None] + np.arange(config.seq_len + 1)]
        yield eye[windows[:, :-1]], windows[:, -1].astype(np.int32)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="cpu")
    parser.add_argument("--steps", type=int, default=30, help="timed steps per method")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--corpus", action="append", help="default: the stdlib")
    parser.add_argument("--set", action="append", default=[])
    args = parser.parse_args()

    config = preset(args.preset).with_overrides(args.set)
    corpus = load_corpus(args.corpus)
    stream = encode_stream(corpus.split("train"))
    batch = config.batch_size
    targets_per_window = config.seq_len

    model = compile_model(build_lstm(config), config)
    a = steps_per_second(model, data.train_dataset(stream, config, batch), args.steps, args.warmup)
    x, y = next(iter(data.train_dataset(stream, config, batch)))
    synthetic = tf.data.Dataset.from_tensors((x, y)).repeat()
    b = steps_per_second(model, synthetic, args.steps, args.warmup)

    last = config.with_overrides({"objective": "last-char"})
    original = build_lstm(last)
    # The original fed one-hot tensors: drop our in-graph one-hot layer and feed floats.
    inputs = keras.Input(shape=(last.seq_len, 100))
    h = inputs
    for layer in original.layers[2:]:
        h = layer(h)
    original = compile_model(keras.Model(inputs, h), last)
    gen = tf.data.Dataset.from_generator(
        lambda: original_batches(stream, last, batch),
        output_signature=(tf.TensorSpec((batch, last.seq_len, 100), tf.float32), tf.TensorSpec((batch,), tf.int32)))
    c = steps_per_second(original, gen, args.steps, args.warmup)

    result = {
        "preset": args.preset, "lstm_layers": config.lstm_layers, "lstm_units": config.lstm_units,
        "batch": batch, "seq_len": config.seq_len, "corpus_chars": int(len(stream)),
        "a_pipeline_targets_per_s": a * batch * targets_per_window,
        "b_synthetic_targets_per_s": b * batch * targets_per_window,
        "c_original_targets_per_s": c * batch,
        "a_steps_per_s": a, "b_steps_per_s": b, "c_steps_per_s": c,
    }
    result["a_over_b"] = result["a_pipeline_targets_per_s"] / result["b_synthetic_targets_per_s"]
    result["a_over_c"] = result["a_pipeline_targets_per_s"] / result["c_original_targets_per_s"]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
