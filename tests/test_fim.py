"""Fill-in-the-middle for the GPT-2 family: the layout, the sentinel ids, and what a FIM model learns."""
from __future__ import annotations

import numpy as np
import pytest

from pycodecomplete.bpe import EOS_ID, FIM_MIDDLE_ID, FIM_PREFIX_ID, FIM_SUFFIX_ID, FIM_TOKENS, SPECIAL_TOKENS
from pycodecomplete.corpus.tokenizer import train_tokenizer
from pycodecomplete.ml.gpt2 import fim
from pycodecomplete.ml.gpt2.data import file_units

from _gpt import tiny_texts


@pytest.fixture(scope="module")
def fim_tokenizer():
    return train_tokenizer(tiny_texts(), 400, fim=True)


def test_sentinels_have_fixed_ids_after_the_special_tokens(fim_tokenizer, tokenizer):
    assert fim_tokenizer.fim and not tokenizer.fim
    for expected, token in enumerate(SPECIAL_TOKENS + FIM_TOKENS):
        assert fim_tokenizer._tok.token_to_id(token) == expected
    assert (FIM_PREFIX_ID, FIM_MIDDLE_ID, FIM_SUFFIX_ID) == (5, 6, 7)
    assert fim_tokenizer.token_bytes()[5:8] == [b"", b"", b""]
    assert all(tokenizer.token_bytes()[5:8])  # an older tokenizer's ids 5-7 stay bytes
    assert FIM_MIDDLE_ID not in fim_tokenizer.encode("s = '<fim_middle>'")  # in code it is text
    assert fim_tokenizer.decode(fim_tokenizer.encode("s = '<fim_middle>'")) == "s = '<fim_middle>'"


@pytest.mark.parametrize("seed", range(20))
def test_the_layout_is_lossless(fim_tokenizer, seed):
    text = tiny_texts()[seed % 5][:600]
    prefix, middle, suffix = fim.split_points(text, np.random.default_rng(seed))
    assert prefix + middle + suffix == text
    ids = fim.psm_ids(prefix, middle, suffix, fim_tokenizer).tolist()
    assert ids[0] == FIM_PREFIX_ID and ids[-1] == EOS_ID
    p, s, m = ids.index(FIM_PREFIX_ID), ids.index(FIM_SUFFIX_ID), ids.index(FIM_MIDDLE_ID)
    assert p < s < m
    parts = [fim_tokenizer.decode(ids[p + 1:s]), fim_tokenizer.decode(ids[m + 1:-1]), fim_tokenizer.decode(ids[s + 1:m])]
    assert "".join(parts) == text


def test_fim_units_fit_the_context_and_are_reproducible(fim_tokenizer):
    text = tiny_texts()[0]
    units = file_units(text, fim_tokenizer, 64, fim_rate=0.5, rng=np.random.default_rng([7, 0]))
    again = file_units(text, fim_tokenizer, 64, fim_rate=0.5, rng=np.random.default_rng([7, 0]))
    assert all(len(u) <= 65 for u in units) and all((a == b).all() for a, b in zip(units, again))
    laid_out = [u for u in units if FIM_MIDDLE_ID in u]
    assert 0.2 < len(laid_out) / len(units) < 0.8


@pytest.mark.slow
def test_a_fim_trained_model_fills_the_middle_and_ends_with_the_end_token(tmp_path):
    """A tiny GPT-2 trained only on FIM layouts of one repeated function learns the layout:
    from prefix and suffix it writes a middle and ends it with the end token."""
    from pycodecomplete.artifact import ModelArtifact
    from pycodecomplete.config import preset
    from pycodecomplete.engine.gpt2.stepper import GPTStepper
    from pycodecomplete.ml.budget import Budget
    from pycodecomplete.ml.trainer import train

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    body = "def add(a, b):\n    return a + b\n\n\n"
    for i in range(40):
        (corpus / f"m{i}.py").write_text(f"# module {i}\n" + body * 3)
    config = preset("gpt2-tiny").with_overrides({"fim_rate": 1.0, "gpt_vocab_size": 300, "val_fraction": 0.1,
                                                 "learning_rate": 1e-2, "near_duplicates": 0.0})
    train(tmp_path / "model", [corpus], config, Budget(max_steps=400), verbose=0)
    art = ModelArtifact.load(tmp_path / "model")
    from pycodecomplete.bpe import BPETokenizer

    tok = BPETokenizer.from_artifact(art)
    assert tok.fim and art.summary()["fim_rate"] == 1.0
    stepper = GPTStepper.from_artifact(art)
    prompt = fim.prompt_ids(tok.encode("def add(a, b):\n    return "), tok.encode("\n\n\n"))
    logits, state, _ = stepper.advance(stepper.initial_state(), prompt)
    out = []
    for _ in range(20):
        token = int(np.argmax(logits))
        if token == EOS_ID:
            break
        out.append(token)
        step_logits, state = stepper.step(state, np.array([token]))
        logits = step_logits[0]
    # It writes a middle and ends it, as trained (a model this small gets the content roughly right).
    assert token == EOS_ID, tok.decode(out)
    assert out and tok.decode(out).strip()

    # The engine lays out prefix and suffix the same way, and the end token ends a suggestion.
    from pycodecomplete.engine import load_engine

    engine = load_engine(tmp_path / "model")
    ids, healed = engine._fim_prompt("def add(a, b):\n    return ", "\n\n\n", room=8)
    layout = ids.tolist()
    assert layout.index(FIM_PREFIX_ID) < layout.index(FIM_SUFFIX_ID) < layout.index(FIM_MIDDLE_ID) == len(layout) - 1
    assert engine.complete("def add(a, b):\n    return ", n=3, suffix="\n\n\n")


def test_a_model_without_fim_reads_the_prefix_only(tmp_path, tokenizer):
    from _gpt import write_random_gpt_dir

    from pycodecomplete.engine import load_engine

    engine = load_engine(write_random_gpt_dir(tmp_path / "m", tokenizer))
    assert not engine.tokenizer.fim
    plain = engine.complete("import os\nos.pa", n=5)
    # Nothing of the suffix is read: the same suggestions, minus what the suffix rules cut.
    assert [s.text for s in engine.complete("import os\nos.pa", n=5, suffix="\nx = 1\n")] == [s.text for s in plain]
