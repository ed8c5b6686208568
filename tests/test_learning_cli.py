"""Bad input on the learning commands: one clear line and a non-zero exit, never a traceback."""
import json
import subprocess
import sys

import pytest

from pycodecomplete import artifact
from pycodecomplete.config import preset
from pycodecomplete.vocab import CharVocabulary


def pycc(*args, cwd=None):
    proc = subprocess.run([sys.executable, "-m", "pycodecomplete", *map(str, args)],
                          capture_output=True, text=True, cwd=cwd, timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


def assert_clean_error(rc, err, message):
    assert rc != 0
    assert "Traceback" not in err
    assert message in err, err


def test_corpus_command_prints_stats(tmp_path):
    (tmp_path / "a.py").write_text("print('hi')\n")
    (tmp_path / "b.py").write_bytes(b"\xff\xfe")
    rc, out, err = pycc("corpus", tmp_path, "--json")
    assert rc == 0, err
    stats = json.loads(out)
    assert stats["files"] == 1 and stats["chars"] == len("print('hi')\n")
    assert stats["skipped"]["not-utf8"] == 1


@pytest.mark.parametrize("make, args, message", [
    (lambda p: None, ["corpus", "{p}"], "no .py files found"),
    (lambda p: (p / "x.txt").write_text("x"), ["corpus", "{p}"], "no .py files found"),
    (lambda p: (p / "x.py").write_bytes(b"\x00\x00"), ["corpus", "{p}"], "no usable .py files"),
    (lambda p: None, ["corpus", "{p}/missing"], "does not exist"),
    (lambda p: (p / "x.py").write_text("x = 1\n"), ["train", "--out", "{p}/m", "--corpus", "{p}", "--preset", "tiny",
                                                   "--set", "val_fraction=0.99", "--max-steps", "1"],
     "fewer than one training window"),
    (lambda p: None, ["train", "--out", "{p}/m", "--preset", "huge"], "invalid choice: 'huge'"),
    (lambda p: None, ["train", "--out", "{p}/m", "--set", "lstm_width=3"], "unknown key 'lstm_width'"),
    (lambda p: None, ["train", "--out", "{p}/m", "--max-steps", "0"], "--max-steps must be at least 1"),
    (lambda p: None, ["evaluate", "--model", "{p}/nope"], "does not exist"),
])
def test_bad_input(tmp_path, make, args, message):
    make(tmp_path)
    rc, _, err = pycc(*[a.format(p=tmp_path) for a in args])
    assert_clean_error(rc, err, message)


def test_corrupt_model_and_other_format_version(tmp_path):
    model = tmp_path / "m"
    artifact.write_manifest(model, preset("tiny"), CharVocabulary().to_json())
    (model / artifact.WEIGHTS).write_bytes(b"not a zip")
    (tmp_path / "a.py").write_text("x = 1\n" * 50)
    rc, _, err = pycc("evaluate", "--model", model, "--data", tmp_path / "a.py")
    assert_clean_error(rc, err, "corrupt weights")
    manifest = json.loads((model / artifact.MANIFEST).read_text())
    manifest["format_version"] = 0
    (model / artifact.MANIFEST).write_text(json.dumps(manifest))
    rc, _, err = pycc("evaluate", "--model", model)
    assert_clean_error(rc, err, "format version 0 is not supported")
