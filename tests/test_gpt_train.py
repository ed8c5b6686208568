"""Train a tiny GPT-2 on a tiny corpus: loss falls, resume is exact, evaluate reports bits per character."""
from __future__ import annotations

import csv
import json
import math
import subprocess
import sys

import numpy as np
import pytest

from pycodecomplete import artifact
from pycodecomplete.bpe import PAD_ID, SEPARATOR_ID, BPETokenizer
from pycodecomplete.config import preset
from pycodecomplete.ml.gpt2 import data as gpt_data, model as gpt_model, scoring as gpt_scoring
from pycodecomplete.corpus import SourceFile
from pycodecomplete.ml.budget import Budget
from pycodecomplete.ml.trainer import load_state, train
from _gpt import tiny_texts, train_tiny_tokenizer
from _sources import kill_training_at_step, train_on_two_logical_cpus

pytestmark = pytest.mark.slow
TINY = ["val_fraction=0.2", "steps_per_epoch=10", "gpt_vocab_size=300"]


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory):
    """A gpt2-tiny model trained for 30 steps without interruption."""
    out = tmp_path_factory.mktemp("gpt") / "model"
    summary = train(out, [corpus], preset("gpt2-tiny").with_overrides(TINY), Budget(max_steps=30), verbose=0)
    return out, summary


def read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_samples_start_at_file_or_line_starts_and_decode_back():
    tokenizer = train_tiny_tokenizer()
    files = [SourceFile("r", f"{i}.py", t, "train") for i, t in enumerate(tiny_texts()[:4])]
    samples = gpt_data.pack_samples(files, tokenizer, 64)
    assert samples.rows.shape[1] == 65 and samples.fill() > 0.6
    pieces = []
    for row, length in zip(samples.rows, samples.lengths):
        assert (row[length:] == PAD_ID).all() and (row[:length] != PAD_ID).all()
        # Every sample starts at a file start (the separator) or at a line start.
        assert row[0] == SEPARATOR_ID or "".join(pieces).endswith("\n")
        pieces.append(tokenizer.decode(row[:length]))
    # Separators aside, the rows hold the files, whole and in order.
    assert "".join(pieces) == "".join(f.text for f in files)
    assert int((samples.rows == SEPARATOR_ID).sum()) == len(files)
    # Evaluation: windows fit the model and score every token of the file exactly once.
    windows = list(gpt_scoring.scoring_windows(files[0].text, tokenizer, 64))
    units = gpt_data.file_units(files[0].text, tokenizer, 32)
    assert all(len(window) <= 65 for window, _ in windows) and len(windows) == len(units) > 3
    scored = [window[first + 1:] for window, first in windows]
    assert [list(s) for s in scored] == [list(units[0][1:])] + [list(u) for u in units[1:]]
    assert tokenizer.decode(np.concatenate(scored)) == files[0].text


def test_a_tiny_gpt_trains_and_its_loss_falls(trained):
    out, summary = trained
    rows = read_csv(out / "metrics.csv")
    assert [int(r["step"]) for r in rows] == [10, 20, 30]
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"]) - 0.3
    assert float(rows[-1]["val_loss"]) < float(rows[0]["val_loss"])
    assert summary["objective"] == "causal-lm" and summary["corpus"]["tokens"]["train"] > 10_000

    art = artifact.ModelArtifact.load(out)
    assert art.config.arch == "gpt2" and art.manifest["vocabulary"]["kind"] == "bpe"
    tokenizer = BPETokenizer.from_artifact(art)  # checked against the manifest's sha256
    assert tokenizer.vocab_size == art.config.gpt_vocab_size == 300
    assert set(art.weights()) == set(gpt_model.weight_names(art.config))
    metrics = art.metrics()
    assert "val_bits_per_token" in metrics and "val_bpc" not in metrics  # per token, not per character


def test_exported_weights_reload_into_keras(trained):
    out, _ = trained
    art = artifact.ModelArtifact.load(out)
    model = gpt_scoring.load_keras_model(art)
    again = gpt_model.export_weights(model, art.config)
    for name, array in art.weights().items():
        assert np.array_equal(again[name], array)


def test_evaluate_reports_bits_per_character(trained):
    from pycodecomplete.ml.evaluate import evaluate

    out, _ = trained
    result = evaluate(out)  # its own validation split, rebuilt from the recorded corpus
    assert {"bpc", "bits_per_token", "top1", "top5", "chars", "files", "tokens"} <= set(result)
    assert result["files"] >= 1 and result["chars"] > 1000
    assert math.isclose(result["bpc"], result["bits_per_token"] * result["tokens"] / result["chars"])
    assert 0 < result["top1"] <= result["top5"] <= 1
    assert result["bits_per_token"] < math.log2(300)  # better than a uniform guess over the vocabulary
    capped = evaluate(out, max_chars=500)
    assert capped["chars"] == 500


def test_resume_is_exact_and_keeps_the_tokenizer(trained, corpus, tmp_path):
    """20 steps, then a second command to 30: the same numbers as 30 steps in one go."""
    reference, _ = trained
    out = tmp_path / "model"
    train(out, [corpus], preset("gpt2-tiny").with_overrides(TINY), Budget(max_steps=20), verbose=0)
    tokenizer_bytes = (out / "tokenizer.json").read_bytes()
    assert load_state(out)["checkpoint"] == "ckpt-20.keras"
    train(out, [corpus], preset("gpt2-tiny").with_overrides(TINY), Budget(max_steps=30), verbose=0)
    assert (out / "tokenizer.json").read_bytes() == tokenizer_bytes  # reused, not retrained
    resumed, straight = read_csv(out / "metrics.csv"), read_csv(reference / "metrics.csv")
    assert [r["step"] for r in resumed] == ["10", "20", "30"]
    for key in ("loss", "val_loss"):
        assert abs(float(resumed[-1][key]) - float(straight[-1][key])) < 1e-3, key


def test_kill_minus_nine_then_resume(corpus, tmp_path):
    out = tmp_path / "model"
    cmd = [sys.executable, "-m", "pycodecomplete", "train", "--arch", "gpt2", "--preset", "gpt2-tiny",
           "--out", str(out), "--corpus", str(corpus), *sum((["--set", s] for s in TINY), []),
           "--max-steps", "100000"]
    saved = kill_training_at_step(cmd, out, 20)
    artifact.ModelArtifact.load(out).weights()  # what is there is complete
    cmd[-1] = str(saved + 10)
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"resuming {out} at step {saved}" in done.stderr
    assert "resuming with the tokenizer saved in" in done.stderr
    assert load_state(out)["step"] == saved + 10
    assert json.loads((out / "model.json").read_text())["vocabulary"]["sha256"] == \
        BPETokenizer.from_file(out / "tokenizer.json").sha256()


def test_mirrored_strategy_on_two_logical_cpus(corpus, tmp_path):
    """The multi-replica path for keras-hub's GPT-2, without GPUs."""
    result = train_on_two_logical_cpus(tmp_path / "m", corpus, "gpt2-tiny", TINY)
    assert result == {"replicas": 2, "global_batch": 16, "strategy": "MirroredStrategy", "steps": 10}
    assert (tmp_path / "m" / "weights.npz").exists()
