"""`pycc tokenizer add-fim`: a left-to-right GPT-2 given the FIM sentinels, reading text exactly as before."""
from __future__ import annotations

import json

import numpy as np
import pytest

from _gpt import tiny_texts, write_keras_gpt_dir, write_random_gpt_dir
from pycodecomplete.artifact import ModelArtifact
from pycodecomplete.bpe import FIM_MIDDLE_ID, FIM_PREFIX_ID, FIM_SUFFIX_ID, FIM_TOKENS, BPETokenizer
from pycodecomplete.cli import main
from pycodecomplete.corpus.tokenizer import add_fim_tokens
from pycodecomplete.errors import PyccError


def _dropped(tokenizer) -> list[str]:
    """The texts of the three tokens that make room (the last three ids)."""
    return [tokenizer.decode([i]) for i in range(tokenizer.vocab_size - 3, tokenizer.vocab_size)]


def _lines_without(texts, dropped) -> str:
    return "".join(line for t in texts for line in t.splitlines(keepends=True)
                   if not any(d in line for d in dropped))


def test_the_sentinels_take_ids_5_to_7_and_every_other_token_moves_up_by_three(tokenizer):
    grafted, source = add_fim_tokens(tokenizer)
    assert grafted.fim and not tokenizer.fim and grafted.vocab_size == tokenizer.vocab_size
    assert [grafted._tok.token_to_id(t) for t in FIM_TOKENS] == [FIM_PREFIX_ID, FIM_MIDDLE_ID, FIM_SUFFIX_ID]
    assert list(source[:8]) == [0, 1, 2, 3, 4, -1, -1, -1]
    old, new = tokenizer._tok.get_vocab(), grafted._tok.get_vocab()
    dropped = {t for t, i in old.items() if i >= tokenizer.vocab_size - 3}
    assert len(dropped) == 3 and not dropped & set(new)
    for token, i in old.items():
        if token not in dropped:
            assert new[token] == (i if i < 5 else i + 3) and source[new[token]] == i


def test_text_without_the_dropped_tokens_encodes_to_the_same_tokens_and_all_text_round_trips(tokenizer):
    grafted, source = add_fim_tokens(tokenizer)
    text = _lines_without(tiny_texts(), _dropped(tokenizer))
    assert len(text) > 10_000
    old, new = tokenizer.encode(text), grafted.encode(text)
    assert np.array_equal(source[new], old)
    whole = "".join(tiny_texts())
    assert grafted.decode(grafted.encode(whole)) == whole  # the dropped tokens' text still encodes
    assert grafted.decode(grafted.encode("<fim_prefix>")) == "<fim_prefix>"  # text, not a control token


def test_a_tokenizer_that_has_them_already_is_refused(tokenizer):
    grafted, _ = add_fim_tokens(tokenizer)
    with pytest.raises(PyccError, match="already has the fill-in-the-middle tokens"):
        add_fim_tokens(grafted)


@pytest.mark.slow
def test_the_grafted_model_gives_every_kept_token_its_parents_logit(tmp_path, tokenizer):
    # The softmax changes only by the three tokens that left and the three sentinels that came.
    from pycodecomplete.ml.gpt2.scoring import load_keras_model

    model, _, parent = write_keras_gpt_dir(tmp_path / "parent", tokenizer)
    assert main(["tokenizer", "add-fim", "--model", str(parent), "--out", str(tmp_path / "child")]) == 0
    child = ModelArtifact.load(tmp_path / "child")
    grafted = BPETokenizer.from_artifact(child)
    assert grafted.fim
    assert child.config == ModelArtifact.load(parent).config  # the same architecture: --init-from accepts it
    text = _lines_without(tiny_texts()[:1], _dropped(tokenizer))[:400]
    old_ids, new_ids = tokenizer.encode(text)[:60], grafted.encode(text)[:60]
    _, source = add_fim_tokens(tokenizer)
    kept = np.flatnonzero(source >= 0)

    def logits(keras_model, ids):
        ids = np.asarray(ids, np.int32)[None]
        return np.asarray(keras_model({"token_ids": ids, "padding_mask": np.ones_like(ids)}, training=False))[0]

    before, after = logits(model, old_ids), logits(load_keras_model(child), new_ids)
    np.testing.assert_allclose(after[:, kept], before[:, source[kept]], rtol=1e-4, atol=1e-4)
    assert json.loads((tmp_path / "child" / "summary.json").read_text())["fim_tokens_added"]["dropped_merges"] == 3


def test_a_model_whose_weights_never_learned_fim_reads_the_prefix_only(tmp_path, tokenizer):
    # Its tokenizer has the sentinels, but the layout was never trained (add-fim, or fim_rate=0).
    from pycodecomplete.artifact import write_json_atomic
    from pycodecomplete.engine import load_engine

    parent = write_random_gpt_dir(tmp_path / "parent", tokenizer)
    assert main(["tokenizer", "add-fim", "--model", str(parent), "--out", str(tmp_path / "grafted")]) == 0
    engine = load_engine(tmp_path / "grafted")
    assert engine.tokenizer.fim and not engine.reads_suffix and engine.info()["engine"]["reads_suffix"] is False
    text, suffix = "import os\nos.pa", "\nx = 1\n"
    assert [s.text for s in engine.complete(text, n=5, suffix=suffix)] == \
        [s.text for s in engine.complete(text, n=5)]
    # The same directory once its training recorded a FIM rate reads the suffix.
    summary = json.loads((tmp_path / "grafted" / "summary.json").read_text())
    write_json_atomic(tmp_path / "grafted" / "summary.json", {**summary, "fim_rate": 0.5})
    assert load_engine(tmp_path / "grafted").reads_suffix


def test_bad_requests_are_one_line_errors_and_write_nothing(tmp_path, tokenizer, random_model_dir, capsys):
    parent = write_random_gpt_dir(tmp_path / "parent", tokenizer)
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "keep.txt").write_text("mine")
    grafted = tmp_path / "grafted"
    assert main(["tokenizer", "add-fim", "--model", str(parent), "--out", str(grafted)]) == 0
    capsys.readouterr()
    for model, out, message in [(parent, tmp_path / "taken", "not empty"),
                                (grafted, tmp_path / "again", "already has the fill-in-the-middle tokens"),
                                (random_model_dir, tmp_path / "lstm", "lstm model"),
                                (tmp_path / "nowhere", tmp_path / "x", "does not exist")]:
        code = main(["tokenizer", "add-fim", "--model", str(model), "--out", str(out)])
        err = capsys.readouterr().err
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert sorted(p.name for p in (tmp_path / "taken").iterdir()) == ["keep.txt"]
    assert not (tmp_path / "again").exists() and not (tmp_path / "lstm").exists()
