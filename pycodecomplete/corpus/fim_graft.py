"""Give a left-to-right GPT-2 model directory the fill-in-the-middle tokens (`pycc tokenizer add-fim`).

Training a FIM model from scratch throws away what a shipped model has learned;
this writes a copy of it whose tokenizer has the three sentinels
(`corpus.tokenizer.add_fim_tokens`: ids 5-7, the three rarest merges make room, so
the architecture is unchanged) and whose embedding rows follow their tokens to
the new ids: every kept token gets the logit it had (tested), and only the
softmax's normaliser changes, by the three tokens that left and the three that
came. `pycc train --init-from COPY` then teaches it the FIM layout while it keeps
learning left to right. The sentinels start at the mean embedding plus a
little noise (the rows are tied to the output layer, so this also gives them a
neutral logit).
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from pycodecomplete import artifact
from pycodecomplete.bpe import BPETokenizer
from pycodecomplete.corpus.tokenizer import add_fim_tokens
from pycodecomplete.errors import PyccError

EMBEDDINGS = "token_embedding/embeddings"


def add_fim(model_dir, out_dir, seed: int = 0) -> dict:
    """Write `out_dir`: `model_dir` with the FIM tokens. Returns what changed, for the log."""
    parent = artifact.ModelArtifact.load(model_dir)
    if parent.config.arch != "gpt2":
        raise PyccError(f"{model_dir} is a {parent.config.arch} model; only GPT-2 models have tokens")
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise PyccError(f"{out} exists and is not empty; choose a new directory")
    tokenizer, source = add_fim_tokens(BPETokenizer.from_artifact(parent))
    weights = parent.weights()
    rows = weights[EMBEDDINGS]
    if rows.shape[0] != len(source):
        raise PyccError(f"{model_dir}: {rows.shape[0]} embedding rows for {len(source)} tokens")
    rng = np.random.default_rng(seed)
    grafted = rows[np.maximum(source, 0)].copy()
    sentinels = source < 0
    grafted[sentinels] = rows.mean(axis=0) + rng.normal(0.0, 0.02, (int(sentinels.sum()), rows.shape[1]))
    summary = parent.summary()
    summary["fim_tokens_added"] = {"from": parent.name, "dropped_merges": 3,
                                   "note": "ids 5-7 are the FIM sentinels; later ids moved up by 3"}
    summary["fim_rate"] = 0.0  # the weights have not learned the layout yet: served prefix-only
    out.mkdir(parents=True, exist_ok=True)
    try:
        artifact.write_bytes_atomic(out / artifact.TOKENIZER, tokenizer.to_str().encode())
        artifact.write_npz_atomic(out / artifact.WEIGHTS, {**weights, EMBEDDINGS: grafted.astype(np.float32)})
        artifact.write_json_atomic(out / artifact.SUMMARY, summary)
        artifact.write_manifest(out, parent.config, tokenizer.describe(), name=f"{parent.name}-fim")
    except Exception:
        shutil.rmtree(out, ignore_errors=True)  # no half-written model directory
        raise
    return {"from": str(model_dir), "to": str(out), "vocab_size": tokenizer.vocab_size,
            "sentinel_ids": [int(i) for i in np.flatnonzero(sentinels)]}
