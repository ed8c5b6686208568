"""Score a model directory: bits per character and next-character accuracy.

Each file is read from its start (after the boundary character, as at inference),
with the LSTM state carried through the whole file: this is the "document" context
the completion engine serves with. Per-position log-probabilities and top-k hits
are reduced inside the graph, so full logit tensors never pile up in memory.
"""
from __future__ import annotations

import logging
import math
import time
from pathlib import Path

import numpy as np

from pycodecomplete.artifact import ModelArtifact
from pycodecomplete.config import Config
from pycodecomplete.errors import PyccError
from pycodecomplete.ml.corpus import SourceFile, load_corpus, read_sources
from pycodecomplete.vocab import CharVocabulary

log = logging.getLogger(__name__)
_POSITIONS_PER_BATCH = 1_000_000  # bounds the [batch, time, 100] logits tensor (~400 MB)


def validation_files(art: ModelArtifact) -> list[SourceFile]:
    """Rebuild the model's own validation split from the corpus recorded at training."""
    roots = (art.summary().get("corpus") or {}).get("roots")
    if not roots:
        raise PyccError(f"{art.path} records no training corpus; pass --data")
    cfg = art.config
    try:
        corpus = load_corpus(roots, val_fraction=cfg.val_fraction, max_file_bytes=cfg.max_file_bytes,
                             max_line_chars=cfg.max_line_chars)
    except PyccError as exc:
        raise PyccError(f"cannot rebuild the validation split ({exc}); pass --data") from None
    files = corpus.split("val")
    if not files:
        raise PyccError("the model's validation split is empty; pass --data")
    return files


def select_files(model_dir, data, max_chars, config: Config) -> list[SourceFile]:
    art = ModelArtifact.load(model_dir)
    files = validation_files(art) if not data else read_sources(
        data, max_file_bytes=config.max_file_bytes, max_line_chars=config.max_line_chars)
    if max_chars is not None:
        kept, total = [], 0
        for f in files:
            if total >= max_chars:
                break
            take = f.text[: max_chars - total]
            kept.append(SourceFile(f.root, f.path, take, f.split))
            total += len(take)
        files = kept
    return files


def _lstm_scorer(art: ModelArtifact):
    import keras
    import tensorflow as tf

    from pycodecomplete.ml.model import build_lstm, import_weights

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


def score_with_engine(engine, files: list[SourceFile], progress: bool = True) -> dict:
    """bpc and accuracy as the completion engine sees them, for any engine context.

    One request per character, so this is for the context experiments on a few
    thousand characters; `score_files` is the fast path for the document context.
    """
    from tqdm import tqdm

    vocab = CharVocabulary()
    nll = top1 = top5 = 0.0
    chars = 0
    bar = tqdm(total=sum(len(f.text) for f in files), desc="scoring", unit="char", disable=not progress)
    for index, f in enumerate(files):
        targets = vocab.encode(f.text)
        for position, target in enumerate(targets):
            logp = engine.next_logprobs(f.text[:position], document=f"score-{index}")
            nll -= float(logp[target])
            rank = int((logp > logp[target]).sum())
            top1 += rank < 1
            top5 += rank < 5
        chars += len(targets)
        bar.update(len(targets))
    bar.close()
    return {"bpc": nll / chars / math.log(2), "top1": top1 / chars, "top5": top5 / chars,
            "chars": chars, "files": len(files)}


def evaluate(model_dir, data: list[Path] | None = None, max_chars: int | None = None,
             keystrokes: bool = False, context: str = "document") -> dict:
    """`context`: "document" (state carried from the file's start) or "window:N" (last N chars)."""
    art = ModelArtifact.load(model_dir)
    if art.config.arch == "gpt2":
        from pycodecomplete.ml import gpt
        return gpt.evaluate(art, data, max_chars=max_chars, keystrokes=keystrokes)
    settings = _engine_settings(context)
    files = select_files(model_dir, data, max_chars, art.config)
    started = time.perf_counter()
    result = {"model": art.name, "data": "validation split" if not data else [str(d) for d in data],
              "context": context}
    engine = None
    if keystrokes or settings["context"] != "document":
        from pycodecomplete.engine.completion import CompletionEngine
        engine = CompletionEngine.from_model_dir(art.path, settings)
    if settings["context"] == "document":
        result.update(score_files(art, files))
    else:
        result.update(score_with_engine(engine, files))
    if keystrokes:
        from pycodecomplete.ml.keystrokes import simulate_files
        result.update(simulate_files(engine, files))
    result["elapsed_s"] = round(time.perf_counter() - started, 2)
    return result


def _engine_settings(context: str) -> dict:
    if context == "document":
        return {"context": "document"}
    if context.startswith("window:") and context[7:].isdigit() and int(context[7:]) >= 100:
        return {"context": "window", "window": int(context[7:])}
    raise PyccError(f"context must be 'document' or 'window:N' with N >= 100, not {context!r}")
