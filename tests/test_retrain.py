"""`pycc retrain`: the pipeline end to end (fake GitHub, local bare repositories, a tiny model)."""
from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest
from fake_github import FakeGitHub, spread_repos
from git_fixtures import make_bare_repo

from pycodecomplete import cli
from pycodecomplete.artifact import ModelArtifact
from pycodecomplete.config import preset
from pycodecomplete.errors import PyccError
from pycodecomplete.paths import resolve_default_model, shipped_model_dir
from pycodecomplete.retrain import RetrainOptions, _corpus_roots, decide_promotion

TOKEN = "ghp_retrainSECRET_123456"


def test_decide_promotion():
    new = {"bpc": 2.0, "chars": 100, "files": 3}
    assert decide_promotion(new, None)[0] is True
    assert decide_promotion(new, {"bpc": 2.5, "chars": 100, "files": 3}) == (True, "bpc 2.0000 beats the current 2.5000")
    assert decide_promotion(new, {"bpc": 2.0, "chars": 100, "files": 3})[0] is False  # a tie keeps the current
    assert decide_promotion(new, {"bpc": 1.5, "chars": 100, "files": 3})[0] is False
    promote, reason = decide_promotion(new, {"bpc": 9.0, "chars": 90, "files": 3})
    assert promote is False and "same data" in reason


def test_resolve_default_model(tmp_path):
    assert resolve_default_model(tmp_path) == shipped_model_dir()
    models = tmp_path / "models"
    (models / "run1").mkdir(parents=True)
    os.symlink("run1", models / "current")
    assert resolve_default_model(tmp_path) == (models / "run1").resolve()
    (models / "run1").rmdir()  # a dangling link does not count
    assert resolve_default_model(tmp_path) == shipped_model_dir()


def test_corpus_roots(tmp_path):
    extra = tmp_path / "mine"
    extra.mkdir()
    opts = RetrainOptions(data_dir=tmp_path, config=preset("tiny"), corpus_dirs=[extra])
    assert _corpus_roots(opts, tmp_path, include_stdlib=True) == [str(extra.resolve()), "stdlib"]
    opts = RetrainOptions(data_dir=tmp_path, config=preset("tiny"), token="t")
    with pytest.raises(PyccError, match="nothing to train on"):
        _corpus_roots(opts, tmp_path, include_stdlib=False)
    (tmp_path / "clones" / "o" / "r").mkdir(parents=True)
    assert _corpus_roots(opts, tmp_path, include_stdlib=False) == [str(tmp_path / "clones")]


def test_bad_token_file_and_corpus(capsys, tmp_path):
    code = cli.main(["retrain", "--data-dir", str(tmp_path), "--token-file", str(tmp_path / "nope")])
    assert code == 2 and "cannot read --token-file" in capsys.readouterr().err
    code = cli.main(["retrain", "--data-dir", str(tmp_path), "--corpus", str(tmp_path / "nope"), "--no-stdlib"])
    err = capsys.readouterr().err
    assert code == 2 and "corpus directory" in err and "does not exist" in err and "Traceback" not in err


def last_json(out: str) -> dict:
    """The summary the command prints last (Keras may print its progress lines before it)."""
    start = 0 if out.startswith("{") else out.rindex("\n{\n") + 1
    return json.loads(out[start:])


@pytest.mark.parametrize("argv, expected", [
    (["--max-steps", "0"], "--max-steps must be at least 1"),
    (["--eval-chars", "-5"], "--eval-chars must be at least 1"),
    (["--minutes", "0"], "--minutes must be positive"),
    (["--workers", "0"], "--workers must be at least 1"),
    (["--set", "nonsense=1"], "unknown key 'nonsense'"),
])
def test_retrain_bad_numbers(capsys, tmp_path, argv, expected):
    code = cli.main(["retrain", "--data-dir", str(tmp_path), *argv])
    err = capsys.readouterr().err
    assert code == 2 and expected in err and len(err.strip().splitlines()) == 1


def _source(i: int, j: int) -> str:
    return (f"import os\n\n\nclass Thing{j}:\n    def __init__(self, value):\n        self.value = value\n\n"
            f"    def double(self):\n        return self.value * {i + 2}\n\n\n"
            f"def helper_{j}(path):\n    return os.path.join(path, 'part{j}')\n")


@pytest.mark.slow
def test_retrain_end_to_end(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    # A checkout without a shipped model, so the first run has no current model to beat
    # (the comparison with a current model is the third run's).
    import pycodecomplete.paths as paths
    monkeypatch.setattr(paths, "shipped_model_dir", lambda: tmp_path / "no-shipped-model")
    assert resolve_default_model(tmp_path / "data") == tmp_path / "no-shipped-model"
    repos = spread_repos(8, dt.datetime(2020, 1, 1), dt.datetime(2020, 12, 31))
    for i, repo in enumerate(repos):
        files = {f"pkg{i}/__init__.py": "", **{f"pkg{i}/mod{j}.py": _source(i, j) for j in range(6)}}
        repo.clone_url = make_bare_repo(tmp_path / "bare", repo.name, files)
    (tmp_path / "token").write_text(TOKEN)
    data = tmp_path / "data"
    with FakeGitHub(repos, token=TOKEN) as srv:
        argv = ["retrain", "--data-dir", str(data), "--token-file", str(tmp_path / "token"), "--api-url", srv.url,
                "--created-from", "2019-01-01", "--created-to", "2021-12-31", "--preset", "tiny",
                "--set", "val_fraction=0.2", "--max-steps", "3", "--eval-chars", "3000", "--workers", "2",
                "--no-progress"]

        # Run 1 stops after training, as if interrupted there.
        assert cli.main(argv + ["--until", "train"]) == 0
        first = last_json(capsys.readouterr().out)
        steps = first["steps"]
        assert not first["finished"] and set(steps) == {"scrape", "clone", "train"}
        assert steps["scrape"]["repositories_seen"] == 8 and steps["scrape"]["complete"]
        assert steps["clone"]["cloned"] == 8 and steps["clone"]["py_files"] == 8 * 7
        assert steps["train"]["corpus_roots"] == [str(data / "clones")] and steps["train"]["files"] > 0
        model1 = Path(first["model_dir"])
        assert (model1 / "model.json").exists() and (model1 / "weights.npz").exists()
        calls = len(srv.requests)

        # Run 2 continues the same run: no new scrape calls, no clone, no training; evaluates and promotes.
        assert cli.main(argv) == 0
        second = last_json(capsys.readouterr().out)
        assert second["run_id"] == first["run_id"] and second["finished"]
        assert len(srv.requests) == calls
        assert second["steps"]["train"] == steps["train"]
        evaluation = second["steps"]["evaluate"]
        assert evaluation["current"] is None and evaluation["new"]["chars"] > 0
        assert second["steps"]["promote"]["promoted"] is True
        assert (data / "models" / "current").resolve() == model1.resolve()
        assert resolve_default_model(data) == model1.resolve()

        # Run 3 is a new run: a second model, scored beside the current one on the same files.
        assert cli.main(argv) == 0
        third = last_json(capsys.readouterr().out)
    assert third["run_id"] != first["run_id"] and third["finished"]
    model2 = Path(third["model_dir"])
    assert model1.exists() and model2.exists() and model1 != model2
    assert third["steps"]["scrape"]["api_calls"] == 0  # the scrape of this query was complete
    assert third["steps"]["clone"]["repositories"] == 0  # everything was cloned
    ev = third["steps"]["evaluate"]
    assert ev["current"] is not None and ev["current_dir"] == str(model1.resolve())
    assert ev["new"]["chars"] == ev["current"]["chars"] and ev["new"]["files"] == ev["current"]["files"]
    promote = third["steps"]["promote"]
    assert promote["promoted"] == (ev["new"]["bpc"] < ev["current"]["bpc"])
    if promote["promoted"]:
        assert resolve_default_model(data) == model2.resolve()
        assert (data / "models" / "previous").resolve() == model1.resolve()
    else:
        assert resolve_default_model(data) == model1.resolve()
    state = json.loads((data / "retrain" / "state.json").read_text())
    assert state["run_id"] == third["run_id"] and state["finished"]
    # The token went to the server only.
    for path in data.rglob("*"):
        if path.is_file() and path.stat().st_size < 5_000_000 and path.suffix in (".json", ".sqlite", ".csv", ""):
            assert TOKEN.encode() not in path.read_bytes(), path


@pytest.mark.slow
def test_retrain_adapts_the_current_model_to_a_project(tmp_path, monkeypatch, capsys, random_model_dir):
    """`--corpus PROJECT --init-from current`: the served model's weights, trained on the project
    only, scored against that same model on the project's validation files."""
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    data, project = tmp_path / "data", tmp_path / "project"
    for j in range(12):
        (project / f"mod{j}.py").parent.mkdir(parents=True, exist_ok=True)
        (project / f"mod{j}.py").write_text(_source(j, j) * 3)
    import pycodecomplete.paths as paths
    monkeypatch.setattr(paths, "shipped_model_dir", lambda: random_model_dir)  # what is served now
    argv = ["retrain", "--data-dir", str(data), "--corpus", str(project), "--init-from", "current",
            "--set", "val_fraction=0.3", "--max-steps", "4", "--eval-chars", "3000", "--no-progress"]
    assert cli.main(argv) == 0
    result = last_json(capsys.readouterr().out)
    train, evaluation = result["steps"]["train"], result["steps"]["evaluate"]
    assert train["corpus_roots"] == [str(project.resolve())]  # the project only: no stdlib by default
    assert evaluation["current_dir"] == str(random_model_dir.resolve())  # the model it started from
    assert evaluation["new"]["chars"] == evaluation["current"]["chars"] > 0
    new = ModelArtifact.load(result["model_dir"])
    assert new.config.lstm_units == ModelArtifact.load(random_model_dir).config.lstm_units
    assert new.summary()["lineage"]["parent"] == str(random_model_dir.resolve())
    promote = result["steps"]["promote"]
    assert promote["promoted"] == (evaluation["new"]["bpc"] < evaluation["current"]["bpc"])
