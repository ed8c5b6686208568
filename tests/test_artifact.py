import json

import numpy as np
import pytest

from pycodecomplete import artifact
from pycodecomplete.config import preset
from pycodecomplete.errors import PyccError
from pycodecomplete.vocab import CharVocabulary


def make_dir(path):
    artifact.write_manifest(path, preset("tiny"), CharVocabulary().to_json(), name="t")
    artifact.write_npz_atomic(path / artifact.WEIGHTS, {"a": np.ones(3, np.float32)})
    return path


def test_round_trip(tmp_path):
    art = artifact.ModelArtifact.load(make_dir(tmp_path))
    assert art.config == preset("tiny") and art.name == "t"
    assert (art.weights()["a"] == 1).all()


def test_other_format_version_is_refused(tmp_path):
    make_dir(tmp_path)
    manifest = json.loads((tmp_path / artifact.MANIFEST).read_text())
    manifest["format_version"] = 99
    (tmp_path / artifact.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(PyccError, match="format version 99 is not supported"):
        artifact.ModelArtifact.load(tmp_path)


def test_missing_and_corrupt_files_are_clear_errors(tmp_path):
    with pytest.raises(PyccError, match="does not exist"):
        artifact.ModelArtifact.load(tmp_path / "nope")
    make_dir(tmp_path)
    (tmp_path / artifact.WEIGHTS).write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(PyccError, match="corrupt weights"):
        artifact.ModelArtifact.load(tmp_path).weights()
    (tmp_path / artifact.MANIFEST).write_text("{not json")
    with pytest.raises(PyccError, match="corrupt JSON"):
        artifact.ModelArtifact.load(tmp_path)


def test_atomic_write_leaves_old_file_on_failure(tmp_path):
    target = tmp_path / "f.json"
    artifact.write_json_atomic(target, {"v": 1})
    with pytest.raises(RuntimeError):
        with artifact.atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert json.loads(target.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]
