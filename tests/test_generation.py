"""engine/generation.py: the sampling filters and beam search, for both families (here: the char-LSTM)."""
from __future__ import annotations

import numpy as np
import pytest

from pycodecomplete.engine import load_engine
from pycodecomplete.engine.generation import GenerationOptions, banned_by_ngrams, sample_id
from pycodecomplete.errors import PyccError


def test_lstm_generation_with_top_k_top_p_and_a_seed(random_model_dir):
    engine = load_engine(random_model_dir)
    kwargs = dict(chars=60, temperature=0.9, top_k=10, top_p=0.9)
    a = "".join(engine.generate("def ", seed=3, **kwargs))
    assert a == "".join(engine.generate("def ", seed=3, **kwargs)) != "".join(engine.generate("def ", seed=4, **kwargs))
    assert len("".join(engine.generate("def ", seed=3, chars=60, max_length=7))) <= 7


def test_lstm_beam_generation_has_no_repeated_ngrams(random_model_dir):
    engine = load_engine(random_model_dir)
    text = "".join(engine.generate("import ", chars=80, beams=10, no_repeat_ngram=5, max_length=80))
    assert text == "".join(engine.generate("import ", chars=80, beams=10, no_repeat_ngram=5, max_length=80))
    whole = "\x0bimport " + text  # the LSTM's tokens are characters, the document starts after the boundary
    grams = [whole[i:i + 5] for i in range(len(whole) - 4)]
    assert text and len(grams) == len(set(grams))


def test_helpers():
    assert sorted(banned_by_ngrams([1, 2, 3, 1, 2], 3)) == [3]
    assert banned_by_ngrams([1, 2], 5) == [] and sorted(banned_by_ngrams([4, 4, 5], 1)) == [4, 5]
    rng = np.random.default_rng(0)
    logp = np.log(np.array([0.5, 0.3, 0.15, 0.05]))
    every = np.ones(4, bool)
    assert sample_id(logp, every, 0, 0, 1.0, rng) == 0
    assert {sample_id(logp, every, 1.0, 2, 1.0, rng) for _ in range(300)} == {0, 1}
    assert {sample_id(logp, every, 1.0, 0, 0.75, rng) for _ in range(300)} == {0, 1}
    assert sample_id(logp, np.array([False, False, True, False]), 1.0, 0, 1.0, rng) == 2
    assert sample_id(logp, np.zeros(4, bool), 1.0, 0, 1.0, rng) == -1
    for bad in (dict(chars=0), dict(top_p=0.0), dict(beams=0), dict(temperature=-1), dict(max_length=0)):
        with pytest.raises(PyccError):
            GenerationOptions(**bad).validate()
