import string

from hypothesis import given
from hypothesis import strategies as st

from pycodecomplete.vocab import BOUNDARY, UNKNOWN, CharVocabulary, normalize_newlines

vocab = CharVocabulary()
SOURCE_CHARS = "".join(c for c in string.printable if c not in (BOUNDARY, UNKNOWN))


def test_vocabulary_is_string_printable():
    assert vocab.size == 100
    assert vocab.decode(range(100)) == string.printable


@given(st.text(alphabet=SOURCE_CHARS))
def test_printable_text_round_trips(text):
    ids = vocab.encode(text)
    assert ids.dtype.name == "uint8" and len(ids) == len(text)
    assert vocab.decode(ids) == text


@given(st.text())
def test_any_text_maps_one_to_one_and_deterministically(text):
    ids = vocab.encode(text)
    assert len(ids) == len(text)
    assert (ids < 100).all()
    assert (vocab.encode(text) == ids).all()
    assert vocab.boundary_id not in ids  # the file separator never comes from source text


def test_non_ascii_mapping_is_documented_behaviour():
    assert vocab.decode(vocab.encode("café")) == "cafe"
    assert vocab.decode(vocab.encode("π→x")) == UNKNOWN + UNKNOWN + "x"
    assert vocab.decode(vocab.encode("a\x0bb\x0cc")) == f"a{UNKNOWN}b{UNKNOWN}c"


def test_newlines_are_normalised():
    assert normalize_newlines("a\r\nb\rc\n") == "a\nb\nc\n"


def test_vocabulary_json_round_trips():
    assert CharVocabulary.from_json(vocab.to_json()).chars == vocab.chars


def test_documents_start_with_the_boundary():
    ids = vocab.encode_document("x")
    assert list(ids) == [vocab.boundary_id, vocab.chars.index("x")]
