"""The model shipped in trained-models/default: it loads, its card is true, it completes."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from pycodecomplete.artifact import ModelArtifact
from pycodecomplete.engine.completion import CompletionEngine
from pycodecomplete.paths import shipped_model_dir

ROOT = Path(__file__).resolve().parent.parent
CARD = ROOT / "trained-models" / "README.md"


@pytest.fixture(scope="module")
def shipped():
    return ModelArtifact.load(shipped_model_dir())


def test_shipped_model_loads_and_holds_only_what_inference_needs(shipped):
    assert shipped.config.arch == "lstm"
    weights = shipped.weights()
    assert weights["output/kernel"].shape == (shipped.config.lstm_units, 100)
    files = {p.name for p in shipped.path.iterdir()}
    assert "checkpoints" not in files and "logs" not in files
    assert sum(p.stat().st_size for p in shipped.path.rglob("*") if p.is_file()) < 50 * 2**20
    CompletionEngine.from_model_dir(shipped.path)


@pytest.mark.slow
def test_card_metrics_match_a_re_evaluation_on_a_small_slice(shipped):
    from pycodecomplete.ml.evaluate import evaluate

    recorded = shipped.metrics()["check_slice"]
    result = evaluate(shipped.path, [ROOT / recorded["data"]], max_chars=recorded["max_chars"])
    assert result["chars"] == recorded["chars"]
    # Within noise: the same computation, only float summation order may differ.
    assert result["bpc"] == pytest.approx(recorded["bpc"], abs=0.005)
    assert result["top1"] == pytest.approx(recorded["top1"], abs=0.005)
    assert result["top5"] == pytest.approx(recorded["top5"], abs=0.005)
    # The card states the same figure.
    assert f"{recorded['bpc']:.3f}" in CARD.read_text()


def test_complete_offers_the_dunder_init():
    proc = subprocess.run([sys.executable, "-m", "pycodecomplete", "complete", "--json", "--n", "5",
                           "--model", str(shipped_model_dir()), "class Foo:\n    def __in"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    suggestions = [s["text"] for s in json.loads(proc.stdout)["suggestions"]]
    assert "it__" in suggestions
