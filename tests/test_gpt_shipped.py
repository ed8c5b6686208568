"""The GPT-2 model shipped in trained-models/gpt2-cpu: it loads without TensorFlow, its card is true."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from pycodecomplete.artifact import ModelArtifact
from pycodecomplete.bpe import BPETokenizer
from pycodecomplete.engine.completion import CompletionEngine

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "trained-models" / "gpt2-cpu"
CARD = ROOT / "trained-models" / "README.md"


@pytest.fixture(scope="module")
def shipped():
    return ModelArtifact.load(MODEL)


def test_shipped_gpt_loads_and_holds_only_what_inference_needs(shipped):
    assert shipped.config.arch == "gpt2" and shipped.manifest["vocabulary"]["kind"] == "bpe"
    assert BPETokenizer.from_artifact(shipped).vocab_size == shipped.config.gpt_vocab_size
    files = {p.name for p in shipped.path.iterdir()}
    assert files == {"model.json", "weights.npz", "tokenizer.json", "summary.json", "metrics.json", "metrics.csv"}
    assert sum(p.stat().st_size for p in shipped.path.rglob("*") if p.is_file()) < 50 * 2**20


@pytest.mark.slow
def test_card_metrics_match_a_re_evaluation_on_a_small_slice(shipped):
    from pycodecomplete.ml.evaluate import evaluate

    recorded = shipped.metrics()["check_slice"]
    result = evaluate(shipped.path, [ROOT / recorded["data"]], max_chars=recorded["max_chars"])
    assert result["chars"] == recorded["chars"] and result["tokens"] == recorded["tokens"]
    assert result["bpc"] == pytest.approx(recorded["bpc"], abs=0.005)
    assert result["top1"] == pytest.approx(recorded["top1"], abs=0.005)
    assert f"{recorded['bpc']:.3f}" in CARD.read_text()
    assert f"{shipped.metrics()['heldout']['bpc']:.3f}" in CARD.read_text()


def test_complete_heals_the_last_word():
    """`except Imp` is ` I`+`mp` in tokens; the engine takes both back and finds ` ImportError`."""
    proc = subprocess.run([sys.executable, "-m", "pycodecomplete", "complete", "--json", "--n", "5",
                           "--model", str(MODEL), "try:\n    import json\nexcept Imp"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    suggestions = json.loads(proc.stdout)["suggestions"]
    assert suggestions[0]["text"] == "ortError" and suggestions[0]["score"] > 0.5
    engine = CompletionEngine.from_model_dir(MODEL)
    assert "it__" in [s.text for s in engine.complete("class Foo:\n    def __in")]
