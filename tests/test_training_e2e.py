"""Train a tiny model on a tiny corpus, evaluate it, kill it with SIGKILL and resume it."""
import csv
import subprocess
import sys

import pytest

from pycodecomplete import artifact
from pycodecomplete.ml.evaluate import evaluate
from pycodecomplete.ml.budget import Budget
from pycodecomplete.ml.trainer import load_state, train
from pycodecomplete.config import preset
from _sources import kill_training_at_step, train_on_two_logical_cpus

pytestmark = pytest.mark.slow
TINY = ["val_fraction=0.2", "steps_per_epoch=10"]


def read_csv(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_train_loss_falls_and_evaluate_reports(tmp_path, corpus):
    out = tmp_path / "model"
    summary = train(out, [corpus], preset("tiny").with_overrides(TINY), Budget(max_steps=60), verbose=0)
    rows = read_csv(out / "metrics.csv")
    assert [int(r["step"]) for r in rows] == [10, 20, 30, 40, 50, 60]
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"]) - 0.3
    assert float(rows[-1]["val_loss"]) < float(rows[0]["val_loss"])
    assert summary["steps"] == 60 and summary["corpus"]["files"] == 18
    assert {"platform", "cpu_count", "gpus"} <= set(summary["hardware"])

    art = artifact.ModelArtifact.load(out)
    assert art.config.lstm_units == 32 and art.manifest["format_version"] == artifact.FORMAT_VERSION
    assert set(art.weights()) == {"lstm_0/kernel", "lstm_0/recurrent_kernel", "lstm_0/bias",
                                  "output/kernel", "output/bias"}
    result = evaluate(out)  # its own validation split, rebuilt from the recorded corpus
    assert result["files"] >= 1 and result["chars"] > 1000
    assert 0 < result["top1"] <= result["top5"] <= 1
    assert 0.5 < result["bpc"] < 6.65  # below the uniform 100-way guess (log2 100 = 6.64)
    # A second identical command has nothing left to do.
    train(out, [corpus], preset("tiny").with_overrides(TINY), Budget(max_steps=60), verbose=0)
    assert len(read_csv(out / "metrics.csv")) == 6


def test_kill_minus_nine_then_resume_continues_from_the_saved_step(tmp_path, corpus):
    out = tmp_path / "model"
    cmd = [sys.executable, "-m", "pycodecomplete", "train", "--out", str(out), "--corpus", str(corpus),
           "--preset", "tiny", *sum((["--set", s] for s in TINY), []), "--max-steps", "100000"]
    saved = kill_training_at_step(cmd, out, 30, timeout=240)
    assert saved >= 30 and saved % 10 == 0
    artifact.ModelArtifact.load(out).weights()  # what is there is complete

    target = saved + 20
    cmd[-1] = str(target)
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"resuming {out} at step {saved}" in done.stderr
    rows = read_csv(out / "metrics.csv")
    steps = [int(r["step"]) for r in rows]
    assert steps == sorted(steps) and steps[-1] == target
    assert steps.count(saved) == 1  # the epoch logged before the kill is not logged twice
    assert load_state(out)["step"] == target


def test_mirrored_strategy_on_two_logical_cpus(tmp_path, corpus):
    """The multi-replica path, without GPUs: global batch = per-replica batch x replicas."""
    result = train_on_two_logical_cpus(tmp_path / "m", corpus, "tiny", TINY)
    assert result == {"replicas": 2, "global_batch": 32, "strategy": "MirroredStrategy", "steps": 10}


def test_stateful_truncated_bptt_trains(tmp_path, corpus):
    out = tmp_path / "model"
    train(out, [corpus], preset("tiny").with_overrides(TINY + ["stateful=true"]), Budget(max_steps=30), verbose=0)
    rows = read_csv(out / "metrics.csv")
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"])
    assert artifact.ModelArtifact.load(out).config.stateful
    assert evaluate(out, max_chars=3000)["chars"] == 3000  # scored like any model
