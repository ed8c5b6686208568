"""Score the GPT-2 family on files, in Keras: bits per *character*, token accuracy.

Bits per character over the same files as the char-LSTM, so the two families
compare directly: a file's chunks (half a context each) are scored with the
previous chunk as extra context, and the bits of all its tokens are divided by
its characters.
"""
from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from pycodecomplete.bpe import PAD_ID, BPETokenizer
from pycodecomplete.corpus import SourceFile
from pycodecomplete.ml.gpt2.data import file_units
from pycodecomplete.ml.gpt2.model import CodeGPT, build_gpt, import_weights

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
