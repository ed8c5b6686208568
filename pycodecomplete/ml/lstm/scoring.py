"""Score the char-LSTM on files: bits per character and next-character accuracy, in Keras.

Each file is read from its start (after the boundary character, as at inference),
with the LSTM state carried through the whole file: this is the "document" context
the completion engine serves with. Per-position log-probabilities and top-k hits
are reduced inside the graph, so full logit tensors never pile up in memory.
"""
from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from pycodecomplete.artifact import ModelArtifact
from pycodecomplete.corpus import SourceFile
from pycodecomplete.ml.lstm.model import build_lstm, import_weights
from pycodecomplete.vocab import CharVocabulary

_POSITIONS_PER_BATCH = 1_000_000  # bounds the [batch, time, 100] logits tensor (~400 MB)


def _lstm_scorer(art: ModelArtifact):
    # Every model is scored position by position: a last-char model has the same
    # weights, so rebuild it with sequence outputs.
    weights = art.weights()  # fails clearly on a corrupt file before any graph is built
    config = art.config.with_overrides({"objective": "every-char", "dropout": 0.0, "stateful": False})
    model = import_weights(build_lstm(config), config, weights)

    ids = tf.TensorSpec([None, None], tf.int32)

    # One trace for every batch shape: files have all lengths.
    @tf.function(input_signature=[ids, ids, tf.TensorSpec([None, None], tf.bool)])
    def score(x, y, mask):
        logits = model(x, training=False)
        logp = -keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
        flat_logits = tf.reshape(logits, [-1, logits.shape[-1]])
        flat_y = tf.reshape(y, [-1])
        top1 = tf.reshape(tf.math.in_top_k(flat_y, flat_logits, 1), tf.shape(y))
        top5 = tf.reshape(tf.math.in_top_k(flat_y, flat_logits, 5), tf.shape(y))
        m = tf.cast(mask, tf.float32)
        return (tf.reduce_sum(logp * m), tf.reduce_sum(tf.cast(top1, tf.float32) * m),
                tf.reduce_sum(tf.cast(top5, tf.float32) * m))

    return score


def score_files(art: ModelArtifact, files: list[SourceFile]) -> dict:
    vocab = CharVocabulary()
    score = _lstm_scorer(art)
    encoded = sorted((vocab.encode_document(f.text) for f in files), key=len)
    nll = top1 = top5 = 0.0
    chars = 0
    i = 0
    while i < len(encoded):
        longest = len(encoded[i])
        j = i + 1
        while j < len(encoded) and (j - i + 1) * len(encoded[j]) <= max(_POSITIONS_PER_BATCH, longest):
            j += 1
        batch = encoded[i:j]
        width = len(batch[-1]) - 1
        x = np.zeros((len(batch), width), np.int32)
        y = np.zeros((len(batch), width), np.int32)
        mask = np.zeros((len(batch), width), bool)
        for k, ids in enumerate(batch):
            x[k, : len(ids) - 1], y[k, : len(ids) - 1], mask[k, : len(ids) - 1] = ids[:-1], ids[1:], True
        s_logp, s_top1, s_top5 = (float(v) for v in score(x, y, mask))
        nll -= s_logp
        top1 += s_top1
        top5 += s_top5
        chars += int(mask.sum())
        i = j
    return {"bpc": nll / chars / math.log(2), "top1": top1 / chars, "top5": top5 / chars,
            "chars": chars, "files": len(files)}
