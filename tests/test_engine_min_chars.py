"""Suggestions shorter than `min_chars` are never offered, and never take a top-n place."""
import pytest

from pycodecomplete.engine import EngineSettings, load_engine
from pycodecomplete.errors import PyccError

PREFIXES = ["", "def f", "import o", "x = [1, 2", "class A:\n    def __in", "print('he"]


@pytest.mark.parametrize("min_chars", [1, 3, 5])
def test_no_suggestion_is_shorter_than_min_chars(random_model_dir, min_chars):
    engine = load_engine(random_model_dir, {"min_chars": min_chars, "max_chars": 12})
    lengths = [len(s.text) for p in PREFIXES for s in engine.complete(p, n=5)]
    assert lengths and min(lengths) >= min_chars
    if min_chars == 1:
        assert min(lengths) < 3  # a random model does offer short suggestions when allowed


def test_filtered_search_still_fills_the_list(random_model_dir):
    engine = load_engine(random_model_dir, {"min_chars": 3, "max_chars": 12})
    assert all(len(engine.complete(p, n=5)) == 5 for p in PREFIXES)


def test_max_chars_below_min_chars_still_answers(random_model_dir):
    engine = load_engine(random_model_dir, {"min_chars": 3})
    assert all(len(s.text) <= 2 for s in engine.complete("def f", n=3, max_chars=2))


def test_min_chars_must_be_positive():
    with pytest.raises(PyccError, match="min_chars must be at least 1"):
        EngineSettings(min_chars=0).validate()
