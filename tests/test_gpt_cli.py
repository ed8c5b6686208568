"""`pycc tokenizer`, `pycc preprocess`, and `pycc generate` / `pycc complete` on a GPT-2 model directory."""
from __future__ import annotations

import ast
import io
import json
import tokenize

import pytest

from pycodecomplete.cli import main
from pycodecomplete.ml.gpt2.model import weight_names
from _gpt import random_gpt_weights, tiny_gpt_config, train_tiny_tokenizer, write_random_gpt_dir


@pytest.fixture(scope="module")
def gpt_dir(tmp_path_factory):
    return write_random_gpt_dir(tmp_path_factory.mktemp("gpt") / "model", train_tiny_tokenizer())


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_random_weights_helper_matches_the_export_names():
    config = tiny_gpt_config(train_tiny_tokenizer())
    assert sorted(random_gpt_weights(config)) == sorted(weight_names(config))


def test_tokenizer_train_reports_and_writes(capsys, corpus, tmp_path):
    code, out, _ = run(capsys, "tokenizer", "train", corpus, "--vocab-size", 400, "--out", tmp_path, "--json")
    assert code == 0
    result = json.loads(out)
    assert result["vocab_size"] == 400 and result["special_tokens"] == {"<s>": 0, "<pad>": 1, "</s>": 2,
                                                                        "<unk>": 3, "<mask>": 4}
    assert result["round_trip"] == {"files": 18, "failed": []}
    assert result["val"]["chars_per_token"] > 1.2 and (tmp_path / "tokenizer.json").exists()
    code, out, _ = run(capsys, "tokenizer", "encode", "--tokenizer", tmp_path / "tokenizer.json", "--json",
                       "def f(x):\n    return '</s>'")
    encoded = json.loads(out)
    assert code == 0 and "".join(encoded["tokens"]) == "def f(x):\n    return '</s>'"
    assert min(encoded["ids"]) >= 5


def test_tokenizer_bad_input(capsys, corpus, tmp_path):
    assert run(capsys, "tokenizer", "train", corpus, "--vocab-size", 10)[0] == 2
    code, _, err = run(capsys, "tokenizer", "encode", "--tokenizer", tmp_path / "nope.json", "x")
    assert code == 2 and "missing" in err
    assert run(capsys, "tokenizer")[0] == 2


def test_preprocess_writes_a_corpus_with_the_same_split(capsys, corpus, tmp_path):
    from pycodecomplete.corpus import load_corpus

    out = tmp_path / "clean"
    code, printed, _ = run(capsys, "preprocess", corpus, "--out", out, "--json")
    assert code == 0 and json.loads(printed)["files"] == 18
    before, after = load_corpus([corpus], val_fraction=0.2), load_corpus([out], val_fraction=0.2)
    assert [(f.path, f.split) for f in before.files] == [(f.path, f.split) for f in after.files]
    for a, b in zip(before.files, after.files):
        assert ast.dump(ast.parse(a.text)) == ast.dump(ast.parse(b.text))
        comments = [t for t in tokenize.generate_tokens(io.StringIO(b.text).readline) if t.type == tokenize.COMMENT]
        assert all(c.string.startswith("#!") or "coding" in c.string for c in comments)
    assert run(capsys, "preprocess", corpus, "--out", out)[0] == 2  # not empty: refused


def test_generate_prints_exactly_and_is_seeded(capsys, gpt_dir):
    args = ["generate", "--model", gpt_dir, "--prompt", "def f(x):\n", "--chars", 50, "--top-k", 20,
            "--top-p", 0.9, "--temperature", 0.7]
    code, first, _ = run(capsys, *args, "--seed", 5)
    assert code == 0 and first.endswith("\n") and 1 <= len(first) <= 51
    assert run(capsys, *args, "--seed", 5)[1] == first
    beams = run(capsys, "generate", "--model", gpt_dir, "--prompt", "import os\n", "--beams", 10,
                "--max-length", 12)
    assert beams[0] == 0 and beams[1] == run(capsys, "generate", "--model", gpt_dir, "--prompt", "import os\n",
                                              "--beams", 10, "--max-length", 12)[1]
    code, _, err = run(capsys, "generate", "--model", gpt_dir, "--prompt", "x", "--beams", 0)
    assert code == 2 and "--beams" in err


def test_generate_interactive_loop(capsys, gpt_dir, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("def f(x):\\n\nclass A:\n\n"))
    code, out, _ = run(capsys, "generate", "--model", gpt_dir, "--chars", 10, "--seed", 1)
    assert code == 0 and out.startswith("def f(x):\n") and "class A:" in out


def test_complete_json_on_a_gpt_model(capsys, gpt_dir):
    code, out, _ = run(capsys, "complete", "--model", gpt_dir, "--json", "--n", 3, "import os\nx = os.pa")
    body = json.loads(out)
    assert code == 0 and body["model"] == "random-gpt-tiny" and 1 <= len(body["suggestions"]) <= 3
    assert all(set(s) == {"text", "score"} for s in body["suggestions"])


def test_train_arch_flag(capsys, tmp_path):
    code, _, err = run(capsys, "train", "--out", tmp_path / "m", "--arch", "gpt2", "--preset", "cpu")
    assert code == 2 and "gpt2-cpu" in err
    code, _, err = run(capsys, "train", "--out", tmp_path / "m", "--arch", "lstm", "--preset", "gpt2-tiny")
    assert code == 2 and "lstm" in err
