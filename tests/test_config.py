import pytest

from pycodecomplete.config import PRESETS, Config, preset
from pycodecomplete.errors import PyccError


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_round_trips(name):
    config = preset(name)
    assert Config.from_dict(config.to_dict()) == config


def test_paper_preset_is_the_reference_architecture():
    config = preset("paper")
    assert (config.lstm_layers, config.lstm_units, config.dropout, config.seq_len) == (4, 512, 0.2, 100)
    assert config.objective == "every-char"


def test_overrides_are_typed():
    config = preset("cpu").with_overrides(["lstm_units=384", "dropout=0.3", "stateful=false", "objective=last-char"])
    assert (config.lstm_units, config.dropout, config.stateful, config.objective) == (384, 0.3, False, "last-char")


@pytest.mark.parametrize("overrides, message", [
    (["nope=1"], "unknown key 'nope'"),
    (["lstm_units=abc"], "lstm_units expects int"),
    (["lstm_units"], "not KEY=VALUE"),
    (["dropout=1.5"], "dropout must be in"),
    (["objective=everything"], "objective must be one of"),
    (["batch_size=0"], "batch_size must be at least 1"),
])
def test_bad_overrides_are_clear_errors(overrides, message):
    with pytest.raises(PyccError, match=message):
        preset("cpu").with_overrides(overrides)


def test_unknown_preset_and_unknown_saved_key():
    with pytest.raises(PyccError, match="unknown preset 'huge'"):
        preset("huge")
    with pytest.raises(PyccError, match="unknown key"):
        Config.from_dict({**Config().to_dict(), "extra": 1})
