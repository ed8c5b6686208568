"""The default-model rule: the best keystroke savings among the shipped models that meet the latency targets."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from _gpt import write_random_gpt_dir
from pycodecomplete import paths
from pycodecomplete.defaults import LATENCY_TARGETS, default_model, missed_targets, rule_table

ROOT = Path(__file__).resolve().parent.parent


def serving(p50=4.0, p99=14.0, speedup=450.0, startup=0.5, rss=110.0) -> dict:
    """A `serving` record as benchmarks/latency.py writes it into metrics.json."""
    return {"per_keystroke_ms": {"p50": p50, "p99": p99}, "speedup_p50": speedup, "startup_s": startup,
            "rss_mb": rss}


def with_metrics(path: Path, savings: float | None, serving_record: dict | None) -> Path:
    metrics = {"heldout": {"bpc": 1.7}}
    if savings is not None:
        metrics["heldout_keystrokes"] = {"keystroke_savings": savings}
    if serving_record is not None:
        metrics["serving"] = serving_record
    (path / "metrics.json").write_text(json.dumps(metrics))
    return path


@pytest.fixture
def shipped(tmp_path, tokenizer, make_random_model_dir):
    """trained-models/ with two tiny models: `default` (a char-LSTM) and `gpt` (a GPT-2)."""
    root = tmp_path / "trained-models"
    root.mkdir()
    lstm = make_random_model_dir("tiny", seed=1).rename(root / "default")
    gpt = write_random_gpt_dir(root / "gpt", tokenizer)
    return root, lstm, gpt


def test_the_better_savings_win_when_both_meet_the_targets(shipped):
    root, lstm, gpt = shipped
    with_metrics(lstm, 0.217, serving(p50=3.1))
    with_metrics(gpt, 0.278, serving(p50=8.0, p99=25.0))
    assert default_model(root) == gpt
    table = {row["model"]: row for row in rule_table(root)}
    assert table["gpt"]["chosen"] and not table["default"]["chosen"]
    assert table["gpt"]["missed"] == [] and table["gpt"]["p50_ms"] == 8.0


@pytest.mark.parametrize("miss", [dict(p50=10.5), dict(p99=31.0), dict(speedup=299.0), dict(startup=3.2),
                                  dict(rss=301.0)])
def test_a_model_that_misses_any_target_is_not_served(shipped, miss):
    root, lstm, gpt = shipped
    with_metrics(lstm, 0.217, serving())
    with_metrics(gpt, 0.278, serving(**{"p50": 8.0, **miss}))
    assert default_model(root) == lstm
    (row,) = [r for r in rule_table(root) if r["model"] == "gpt"]
    assert len(row["missed"]) == 1 and not row["chosen"]


def test_the_targets_are_the_issues():
    assert LATENCY_TARGETS == {"p50_ms": 10.0, "p99_ms": 30.0, "speedup": 300.0, "startup_s": 3.0, "rss_mb": 300.0}
    assert missed_targets(serving(p50=10.0, p99=30.0, speedup=300.0, startup=3.0, rss=300.0)) == []  # limits count
    assert missed_targets(None) == ["no serving measurement"]
    assert missed_targets({"per_keystroke_ms": {"p50": 1.0}}) != []  # a figure not measured is not a pass


def test_without_figures_the_historical_default_is_served(shipped):
    root, lstm, gpt = shipped
    with_metrics(lstm, 0.217, None)
    with_metrics(gpt, 0.278, serving(p50=11.0))  # measured, but too slow
    assert default_model(root) == lstm
    with_metrics(gpt, None, serving())  # fast enough, but its keystroke savings were never measured
    assert default_model(root) == lstm


def test_ties_go_to_the_faster_model(shipped):
    root, lstm, gpt = shipped
    with_metrics(lstm, 0.25, serving(p50=5.0))
    with_metrics(gpt, 0.25, serving(p50=4.0))
    assert default_model(root) == gpt


def test_resolve_default_model_applies_the_rule_after_a_promoted_model(shipped, tmp_path, monkeypatch,
                                                                       make_random_model_dir):
    root, lstm, gpt = shipped
    with_metrics(lstm, 0.217, serving())
    with_metrics(gpt, 0.278, serving(p50=8.0))
    monkeypatch.setattr(paths, "shipped_models_root", lambda: root)
    data = tmp_path / "data"
    assert paths.resolve_default_model(data) == gpt
    current = data / "models" / "run1"
    current.parent.mkdir(parents=True)
    make_random_model_dir("tiny").rename(current)
    (data / "models" / "current").symlink_to("run1")
    assert paths.resolve_default_model(data) == current.resolve()  # what `pycc retrain` promoted comes first


def test_the_shipped_models_carry_what_the_rule_reads():
    """Each shipped model's metrics.json records its serving measurement and its keystroke savings."""
    table = rule_table(ROOT / "trained-models")
    assert {row["model"] for row in table} >= {"default", "gpt2-cpu"}
    assert sum(row["chosen"] for row in table) == 1
    for row in table:
        assert isinstance(row["keystroke_savings"], float) and "no serving measurement" not in row["missed"], row
    assert paths.shipped_model_dir() == Path(next(r["path"] for r in table if r["chosen"]))


def test_evaluate_without_a_model_scores_the_default_model(tmp_path):
    """`pycc evaluate` needs no --model: it scores the model `pycc serve` would serve."""
    sample = tmp_path / "sample.py"
    sample.write_text((ROOT / "tests" / "data" / "heldout" / "six.py").read_text()[:300])
    proc = subprocess.run([sys.executable, "-m", "pycodecomplete", "evaluate", "--data", str(sample), "--json"],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    served = json.loads((paths.resolve_default_model() / "model.json").read_text())["name"]
    assert result["model"] == served and result["chars"] == 300 and result["bpc"] > 0
