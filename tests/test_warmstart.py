"""Warm starts (`pycc train --init-from`): weights carried over, lineage recorded, architecture checked."""
from __future__ import annotations

import pytest

from pycodecomplete.artifact import ModelArtifact
from pycodecomplete.cli import main
from pycodecomplete.config import preset
from pycodecomplete.families import FAMILIES

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def parent(request, corpus, tmp_path_factory):
    from pycodecomplete.ml.budget import Budget
    from pycodecomplete.ml.trainer import train

    out = tmp_path_factory.mktemp(f"parent-{request.param}") / "model"
    train(out, [corpus], preset(FAMILIES[request.param].tiny_preset), Budget(max_steps=20), verbose=0)
    return request.param, out


def test_the_first_loss_of_a_warm_start_is_the_parents_and_the_lineage_adds_up(parent, corpus, tmp_path):
    from pycodecomplete.ml.budget import Budget
    from pycodecomplete.ml.trainer import train

    name, parent_dir = parent
    parent_art = ModelArtifact.load(parent_dir)
    child = tmp_path / "child"
    summary = train(child, [corpus], preset(FAMILIES[name].tiny_preset), Budget(max_steps=10), init_from=parent_dir,
                    verbose=0)
    line = summary["lineage"]
    # Same weights, same validation data: the same loss before the first step.
    assert line["initial_val_loss"] == pytest.approx(parent_art.metrics()["val_loss"], rel=1e-4)
    assert line["parent_steps"] == 20 and line["total_steps"] == 30 and line["generations"] == 2
    assert line["total_wall_time_s"] >= parent_art.summary()["wall_time_s"]
    # A fresh optimizer: the child's own step count starts at zero.
    assert summary["steps"] == 10
    if name == "gpt2":  # the child reads text with its parent's tokenizer
        assert (child / "tokenizer.json").read_bytes() == (parent_dir / "tokenizer.json").read_bytes()


def test_another_architecture_is_refused_in_one_line(parent, corpus, tmp_path, capsys):
    name, parent_dir = parent
    field = "lstm_units" if name == "lstm" else "gpt_width"
    code = main(["train", "--out", str(tmp_path / "child"), "--preset", FAMILIES[name].tiny_preset,
                 "--set", f"{field}=48", "--corpus", str(corpus), "--init-from", str(parent_dir), "--max-steps", "5"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1, err
    assert "--init-from" in err and field in err and "another architecture" in err
    assert not (tmp_path / "child" / "model.json").exists()


def test_a_parent_of_another_family_is_refused(parent, corpus, tmp_path, capsys):
    name, parent_dir = parent
    other = next(f for f in FAMILIES.values() if f.name != name)
    code = main(["train", "--out", str(tmp_path / "child"), "--preset", other.tiny_preset, "--corpus", str(corpus),
                 "--init-from", str(parent_dir), "--max-steps", "5"])
    err = capsys.readouterr().err
    assert code == 2 and f"is a {name} model, not {other.name}" in err
