"""The contract every model family keeps, run over every family in `pycodecomplete.families`.

A family registered there is picked up here with no test of its own: its tiny
preset is trained for a few steps through the shared trainer, and the directory
must load, complete, generate reproducibly, describe itself and be scored with
the same keys as every other family. Every model shipped in trained-models/ must
load, hold only what inference needs, and match its card.
Family files (test_engine.py, test_gpt_engine.py...) keep only what is specific.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from pycodecomplete.artifact import ModelArtifact
from pycodecomplete.config import preset
from pycodecomplete.engine import load_engine
from pycodecomplete.families import FAMILIES

ROOT = Path(__file__).resolve().parent.parent
CARD = ROOT / "trained-models" / "README.md"
SHIPPED = sorted(p.name for p in (ROOT / "trained-models").iterdir() if (p / "model.json").exists())
INFERENCE_FILES = {"model.json", "weights.npz", "summary.json", "metrics.json", "metrics.csv", "tokenizer.json"}
SCORE_KEYS = {"bpc", "top1", "top5", "chars", "files", "model", "data", "context", "elapsed_s"}


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def trained(request, corpus, tmp_path_factory):
    """(family name, a model directory of its tiny preset trained for 20 steps)."""
    from pycodecomplete.ml.budget import Budget
    from pycodecomplete.ml.trainer import train

    family = FAMILIES[request.param]
    out = tmp_path_factory.mktemp(f"contract-{family.name}") / "model"
    config = preset(family.tiny_preset)
    assert config.arch == family.name, "a family's tiny preset must be one of its own"
    train(out, [corpus], config, Budget(max_steps=20), verbose=0)
    return family.name, out


@pytest.mark.slow
def test_a_trained_directory_loads_and_completes(trained):
    name, path = trained
    engine = load_engine(path)
    assert engine.family == name
    suggestions = engine.complete("import os\nos.pa", n=3)
    assert 0 < len(suggestions) <= 3
    assert all(0 <= s.score <= 1 for s in suggestions)
    assert [s.score for s in suggestions] == sorted((s.score for s in suggestions), reverse=True)
    assert engine.complete("x", n=0) == []
    # A cached document answers as a fresh one.
    fresh = [s.to_json() for s in load_engine(path).complete("def f(x):\n    return x", n=5)]
    engine.complete("def f(x):\n    ret", n=5, document="doc")
    assert [s.to_json() for s in engine.complete("def f(x):\n    return x", n=5, document="doc")] == fresh
    engine.forget("doc")
    assert "doc" not in engine.cache


@pytest.mark.slow
def test_seeded_generation_repeats_and_info_describes_the_model(trained):
    name, path = trained
    engine = load_engine(path)
    first = "".join(engine.generate("def ", chars=30, temperature=0.8, seed=5))
    assert first == "".join(engine.generate("def ", chars=30, temperature=0.8, seed=5))
    assert len(first) <= 30
    info = engine.info()
    assert info["family"] == name and info["config"]["arch"] == name
    assert {"name", "engine", "format_version", "summary", "metrics"} <= set(info)
    assert info["engine"]["lookahead_unit"] in ("characters", "tokens")


@pytest.mark.slow
def test_evaluation_reports_the_same_keys_for_every_family(trained):
    from pycodecomplete.ml.evaluate import evaluate

    _, path = trained
    result = evaluate(path, max_chars=2000, keystrokes=True)
    assert SCORE_KEYS <= set(result)
    assert result["chars"] == 2000 and result["bpc"] > 0
    assert 0 <= result["keystroke_savings"] <= 1


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_loads_and_holds_only_what_inference_needs(name):
    shipped = ModelArtifact.load(ROOT / "trained-models" / name)
    assert shipped.config.arch in FAMILIES
    files = {p.name for p in shipped.path.iterdir()}
    assert files <= INFERENCE_FILES and {"model.json", "weights.npz"} <= files
    assert sum(p.stat().st_size for p in shipped.path.rglob("*") if p.is_file()) < 50 * 2**20
    load_engine(shipped.path)


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_card_matches_a_re_evaluation_on_a_small_slice(name):
    from pycodecomplete.ml.evaluate import evaluate

    shipped = ModelArtifact.load(ROOT / "trained-models" / name)
    recorded = shipped.metrics()["check_slice"]
    result = evaluate(shipped.path, [ROOT / recorded["data"]], max_chars=recorded["max_chars"])
    assert result["chars"] == recorded["chars"] and result.get("tokens") == recorded.get("tokens")
    # Within noise: the same computation, only float summation order may differ.
    for key in ("bpc", "top1", "top5"):
        if key in recorded:
            assert result[key] == pytest.approx(recorded[key], abs=0.005)
    card = CARD.read_text()
    assert f"{recorded['bpc']:.3f}" in card
    assert f"{shipped.metrics()['heldout']['bpc']:.3f}" in card
