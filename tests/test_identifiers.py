"""The identifier cache: names already written in the document are offered again."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from pycodecomplete.engine import load_engine
from pycodecomplete.engine.identifiers import candidates, mix, typed_word
from pycodecomplete.engine.text import Suggestion

TEXT = "spam_eggs = 1\nspam_ham = spam_eggs\nspam_"


def test_frequency_and_recency_by_hand():
    # spam_eggs: 2 uses, the nearest ends 1 character before the word being typed;
    # spam_ham: 1 use, 13 characters before it. u = count * (1 + 1 / (1 + distance / 1000)).
    u_eggs = 2 * (1 + 1 / 1.001)
    u_ham = 1 * (1 + 1 / 1.013)
    got = candidates(TEXT, typed_word(TEXT))
    assert set(got) == {"eggs", "ham"}
    assert got["eggs"] == pytest.approx(u_eggs / (u_eggs + u_ham))
    assert got["ham"] == pytest.approx(u_ham / (u_eggs + u_ham))


def test_project_files_count_half_a_use_and_the_typed_word_is_not_a_use():
    assert typed_word("x = foo.bar_b") == "bar_b"
    assert candidates("bar_b", "bar_b") == {}  # only the word being typed: nothing to offer
    got = candidates("spam_", "spam_", files=["spam_toast = 1\n"])
    assert got == {"toast": 1.0}


def test_mixing_interpolates_and_reranks():
    model = [Suggestion("ham", 0.5), Suggestion("x_y", 0.2)]
    mixed = mix(model, {"eggs": 0.7, "ham": 0.3}, 0.5, 3, min_chars=3, max_chars=40)
    assert [(s.text, s.score) for s in mixed] == [("ham", pytest.approx(0.4)), ("eggs", pytest.approx(0.35)),
                                                 ("x_y", pytest.approx(0.1))]
    assert mix(model, {"eggs": 1.0}, 0.0, 3, min_chars=3, max_chars=40) == model  # weight 0: off


def test_an_identifier_defined_earlier_in_the_document_is_offered_first(random_model_dir):
    text = "def area(rectangle_width, rectangle_height):\n    return rectangle_width * rect"
    plain = load_engine(random_model_dir, {"identifier_weight": 0.0}).complete(text, n=5)
    assert "angle_width" not in [s.text for s in plain]  # random weights do not know the name
    engine = load_engine(random_model_dir)  # the cache is on by default
    first = engine.complete(text, n=5)[0]
    assert first.text in ("angle_width", "angle_height")
    assert first.text == "angle_width"  # used twice, once nearer the cursor


def _every_word(text: str, prefix: str) -> dict[str, int]:
    """Reference: every identifier of `text` (none right after a digit), counted, if it extends prefix."""
    counts: dict[str, int] = {}
    for match in re.finditer(r"[A-Za-z_][A-Za-z0-9_]*", text):
        word = match.group(0)
        if word.startswith(prefix) and len(word) > len(prefix) and not text[match.start() - 1:match.start()].isdigit():
            counts[word[len(prefix):]] = counts.get(word[len(prefix):], 0) + 1
    return counts


def test_the_lookup_finds_the_same_words_as_reading_every_word():
    source = (Path(__file__).parent / "data" / "heldout" / "six.py").read_text()[:19_000]  # inside the window
    prefixes = {w[:k] for w in re.findall(r"[A-Za-z_]\w*", source)[::25] for k in (1, 2, 4) if len(w) > k}
    assert len(prefixes) > 50
    for prefix in sorted(prefixes):
        text = source + "\n" + prefix
        assert candidates(text, prefix).keys() == _every_word(source, prefix).keys(), prefix


def test_letters_inside_numbers_and_words_are_not_identifiers():
    assert candidates("a = 0x1ff\nx", "x") == {}
    assert candidates("is_x = 1\nsigma = 2\nmissing = 3\ns", "s") == {"igma": 1.0}
