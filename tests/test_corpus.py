import pytest

from pycodecomplete.errors import PyccError
from pycodecomplete.corpus import load_corpus, read_sources, split_of
from pycodecomplete.ml.lstm.data import encode_stream
from pycodecomplete.vocab import CharVocabulary


def test_skips_are_counted_by_reason(tmp_path):
    (tmp_path / "good.py").write_text("def f():\n    return 1\n")
    (tmp_path / "copy.py").write_text("def f():\n    return 1\n")  # exact duplicate
    (tmp_path / "latin1.py").write_bytes("x = 'caf\xe9'\n".encode("latin-1"))
    (tmp_path / "binary.py").write_bytes(b"\x7fELF\x00\x01\x02")
    (tmp_path / "big.py").write_text("x = 1\n" * 300)
    (tmp_path / "minified.py").write_text("x = [" + "1, " * 130 + "]\n")
    (tmp_path / "empty.py").write_text("\n")
    (tmp_path / "notes.txt").write_text("not python")
    pkg = tmp_path / "pkg" / "sub"
    pkg.mkdir(parents=True)
    (pkg / "mod.py").write_text("import os\r\nprint(os.sep)\r\n")
    corpus = load_corpus([tmp_path], max_file_bytes=1000, max_line_chars=200)
    stats = corpus.stats()
    assert stats["files"] == 2
    assert {k: v for k, v in stats["skipped"].items() if v} == {
        "duplicate": 1, "not-utf8": 1, "nul-bytes": 1, "too-large": 1, "generated": 1, "empty": 1}
    texts = {f.path: f.text for f in corpus.files}
    assert texts["pkg/sub/mod.py"] == "import os\nprint(os.sep)\n"  # CRLF normalised


def test_split_is_by_file_and_stable_when_files_are_added(tmp_path):
    for i in range(40):
        (tmp_path / f"m{i}.py").write_text(f"x = {i}\n")
    before = {f.path: f.split for f in load_corpus([tmp_path], val_fraction=0.3).files}
    for i in range(40, 80):
        (tmp_path / f"m{i}.py").write_text(f"y = {i}\n")
    after = {f.path: f.split for f in load_corpus([tmp_path], val_fraction=0.3).files}
    assert {p: after[p] for p in before} == before
    assert set(before.values()) == {"train", "val"}
    assert split_of("a/b.py", 0.3) == split_of("a/b.py", 0.3)


def test_default_corpus_is_the_stdlib_without_tests():
    corpus = load_corpus(None)
    paths = [f.path for f in corpus.files]
    assert corpus.roots == ["stdlib"]
    assert "os.py" in paths and "json/decoder.py" in paths
    assert not any(p.startswith("test/") or "/test/" in p or "/tests/" in p for p in paths)
    assert len(corpus.split("val")) > 0 and len(corpus.split("train")) > len(corpus.split("val"))


@pytest.mark.parametrize("setup, message", [
    (lambda p: None, "no .py files found"),
    (lambda p: (p / "a.txt").write_text("hi"), "no .py files found"),
    (lambda p: (p / "a.py").write_bytes(b"\x00\x01"), "no usable .py files"),
])
def test_unusable_directories_are_clear_errors(tmp_path, setup, message):
    setup(tmp_path)
    with pytest.raises(PyccError, match=message):
        load_corpus([tmp_path])


def test_missing_directory_is_a_clear_error(tmp_path):
    with pytest.raises(PyccError, match="does not exist"):
        load_corpus([tmp_path / "nope"])
    with pytest.raises(PyccError, match="does not exist"):
        read_sources([tmp_path / "nope.py"])


def test_stream_separates_files_with_the_boundary(tmp_path):
    (tmp_path / "a.py").write_text("a\n")
    (tmp_path / "b.py").write_text("b\n")
    files = load_corpus([tmp_path], val_fraction=0.01).files
    stream = encode_stream(files)
    vocab = CharVocabulary()
    assert vocab.decode(stream) == "\x0ba\n\x0bb\n\x0b"


def test_max_train_chars_keeps_a_stable_sample_of_the_training_split_and_all_of_validation(corpus):
    from pycodecomplete.config import Config
    from pycodecomplete.corpus.sources import corpus_for

    full = corpus_for(Config(), [corpus])
    train_chars = sum(len(f.text) for f in full.split("train"))
    capped = corpus_for(Config(max_train_chars=train_chars // 2), [corpus])
    kept = capped.split("train")
    assert train_chars // 2 <= sum(len(f.text) for f in kept) < train_chars
    assert [f.path for f in capped.split("val")] == [f.path for f in full.split("val")]
    assert {f.path for f in kept} | {f.path for f in capped.split("unused")} == {f.path for f in full.split("train")}
    again = corpus_for(Config(max_train_chars=train_chars // 2), [corpus])
    assert [f.path for f in again.split("train")] == [f.path for f in kept]
    assert capped.stats()["unused"]["files"] == len(capped.split("unused")) > 0
    assert "unused" not in full.stats()
