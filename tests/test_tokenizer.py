"""The byte-level BPE tokenizer: lossless round trip, fixed special ids, save/load, manifest checks."""
from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pycodecomplete.bpe import PAD_ID, SEPARATOR, SEPARATOR_ID, SPECIAL_TOKENS, BPETokenizer
from pycodecomplete.errors import PyccError
from pycodecomplete.corpus.tokenizer import compression, round_trip_failures, train_tokenizer
from _gpt import tiny_texts


def test_special_tokens_have_fixed_ids_in_order(tokenizer):
    assert SPECIAL_TOKENS == ("<s>", "<pad>", "</s>", "<unk>", "<mask>")
    for expected, token in enumerate(SPECIAL_TOKENS):
        assert tokenizer._tok.token_to_id(token) == expected
    assert (PAD_ID, SEPARATOR_ID, SEPARATOR) == (1, 2, "</s>")


def test_special_ids_do_not_depend_on_the_corpus():
    a = train_tokenizer(["def f(x):\n    return x\n"] * 5, 300)
    b = train_tokenizer(["<mask> </s> <s> <pad> <unk> zzz\n"] * 5, 300)
    for t in (a, b):
        assert [t._tok.token_to_id(s) for s in SPECIAL_TOKENS] == [0, 1, 2, 3, 4]


def test_every_corpus_file_round_trips(tokenizer):
    texts = tiny_texts()
    assert round_trip_failures(tokenizer, [(str(i), t) for i, t in enumerate(texts)]) == []
    stats = compression(tokenizer, texts)
    assert stats["chars_per_token"] > 1.5  # the merges do compress code


def test_literal_special_token_text_is_plain_text(tokenizer):
    text = 'SEP = "</s>"  # <s> <pad> <mask> <unk>\n'
    ids = tokenizer.encode(text)
    assert not set(ids.tolist()) & set(range(len(SPECIAL_TOKENS)))
    assert tokenizer.decode(ids) == text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text())
def test_round_trip_on_arbitrary_text(tokenizer, text):
    ids = tokenizer.encode(text)
    assert tokenizer.decode(ids) == text
    assert all(i >= len(SPECIAL_TOKENS) for i in ids.tolist())


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(list(" \t\n\r\x0b\x0c#'\"\\") + ["    ", "\n    ", "é", "☃", "\x00", "x"])).map("".join))
def test_whitespace_and_indentation_survive(tokenizer, text):
    assert tokenizer.decode(tokenizer.encode(text)) == text


def test_token_bytes_concatenate_to_the_utf8_text(tokenizer):
    table = tokenizer.token_bytes()
    assert table[:len(SPECIAL_TOKENS)] == [b""] * len(SPECIAL_TOKENS)
    text = "def caf\u00e9(x):\n\treturn '\u2603' + x  # ok\r\n"
    assert b"".join(table[i] for i in tokenizer.encode(text)) == text.encode("utf-8")


def test_save_and_load_give_the_same_ids(tokenizer, tmp_path):
    path = tmp_path / "tokenizer.json"
    path.write_text(tokenizer.to_str())
    loaded = BPETokenizer.from_file(path)
    text = tiny_texts()[0]
    assert loaded.encode(text).tolist() == tokenizer.encode(text).tolist()
    assert loaded.sha256() == tokenizer.sha256() and loaded.vocab_size == tokenizer.vocab_size


def test_bad_tokenizer_files_fail_clearly(tokenizer, tmp_path):
    path = tmp_path / "tokenizer.json"
    with pytest.raises(PyccError, match="missing"):
        BPETokenizer.from_file(path)
    path.write_text("{not json")
    with pytest.raises(PyccError, match="not a tokenizer file"):
        BPETokenizer.from_file(path)
    spec = json.loads(tokenizer.to_str())
    spec["added_tokens"][0]["id"], spec["added_tokens"][2]["id"] = 2, 0  # swap <s> and </s>
    spec["model"]["vocab"]["<s>"], spec["model"]["vocab"]["</s>"] = 2, 0
    path.write_text(json.dumps(spec))
    with pytest.raises(PyccError, match="must have id"):
        BPETokenizer.from_file(path)


def test_vocabulary_size_limits():
    with pytest.raises(PyccError, match="at least 261"):
        train_tokenizer(["x = 1\n"], 100)
    small = train_tokenizer(["x = 1\n"] * 3, 5000)  # a tiny corpus yields fewer merges
    assert 261 <= small.vocab_size < 5000
