"""Shared fixtures, one place for all test files (session-scoped where they are read-only).

Helper modules that define fixtures are plugins (`pytest_plugins`), never imported
by name into test files. Plain helpers (`_sources`, `_gpt`) are imported as modules.
"""
from __future__ import annotations

import numpy as np
import pytest

pytest_plugins = ["_mariadb"]

# ------------------------------------------------------------------ learning --


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    """A tiny corpus of 18 small stdlib modules (read-only: shared by the whole session)."""
    from _sources import write_tiny_corpus

    return write_tiny_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(scope="session")
def tokenizer():
    """A byte-level BPE of about 400 tokens trained on the tiny corpus's modules."""
    from _gpt import train_tiny_tokenizer

    return train_tiny_tokenizer()


# ------------------------------------------------------------------ serving --


def _random_lstm_weights(config, seed: int) -> dict[str, np.ndarray]:
    """numpy-random weights with the exact names and shapes of `export_weights`."""
    rng = np.random.default_rng(seed)
    units, vocab, arrays = config.lstm_units, 100, {}
    scale = 1.0 / np.sqrt(units)
    for layer in range(config.lstm_layers):
        inputs = vocab if layer == 0 else units
        arrays[f"lstm_{layer}/kernel"] = rng.uniform(-scale, scale, (inputs, 4 * units))
        arrays[f"lstm_{layer}/recurrent_kernel"] = rng.uniform(-scale, scale, (units, 4 * units))
        arrays[f"lstm_{layer}/bias"] = rng.uniform(-0.5, 0.5, 4 * units)
    arrays["output/kernel"] = rng.uniform(-4 * scale, 4 * scale, (units, vocab))
    arrays["output/bias"] = rng.uniform(-1.0, 1.0, vocab)
    return {k: v.astype(np.float32) for k, v in arrays.items()}


def write_random_lstm_dir(path, preset_name: str = "tiny", seed: int = 0, name: str | None = None,
                          **overrides):
    """A complete model directory (manifest, weights, summary, metrics) with random weights."""
    from pycodecomplete.artifact import write_json_atomic, write_manifest, write_npz_atomic
    from pycodecomplete.config import preset
    from pycodecomplete.vocab import CharVocabulary

    config = preset(preset_name).with_overrides(overrides)
    path.mkdir(parents=True, exist_ok=True)
    write_manifest(path, config, CharVocabulary().to_json(), name=name or f"random-{preset_name}")
    write_npz_atomic(path / "weights.npz", _random_lstm_weights(config, seed))
    write_json_atomic(path / "summary.json", {"note": "random weights for tests", "steps": 0})
    write_json_atomic(path / "metrics.json", {"val_loss": None})
    return path


@pytest.fixture
def make_random_model_dir(tmp_path):
    """Factory: make_random_model_dir(preset="tiny", seed=0, name=None, **config overrides) -> Path."""
    counter = iter(range(10**6))

    def make(preset_name: str = "tiny", seed: int = 0, name: str | None = None, **overrides):
        return write_random_lstm_dir(tmp_path / f"model-{next(counter)}", preset_name, seed, name, **overrides)

    return make


@pytest.fixture(scope="session")
def random_model_dir(tmp_path_factory):
    """A 2-layer 32-unit LSTM with random weights (numpy only; shared: do not modify it)."""
    return write_random_lstm_dir(tmp_path_factory.mktemp("random-tiny"), "tiny", seed=1, name="random-tiny",
                                 lstm_layers=2)


@pytest.fixture(scope="session")
def keras_lstm_dir(tmp_path_factory):
    """(keras model, config, model dir): a 2-layer tiny Keras LSTM with random (not zero) biases."""
    from pycodecomplete.artifact import write_manifest, write_npz_atomic
    from pycodecomplete.config import preset
    from pycodecomplete.ml.lstm.model import build_lstm, export_weights, import_weights
    from pycodecomplete.vocab import CharVocabulary

    config = preset("tiny").with_overrides({"lstm_layers": 2})
    model = build_lstm(config)
    rng = np.random.default_rng(7)
    arrays = export_weights(model, config)
    for key in arrays:
        if key.endswith("bias"):
            arrays[key] = rng.uniform(-0.5, 0.5, arrays[key].shape).astype(np.float32)
    import_weights(model, config, arrays)
    path = tmp_path_factory.mktemp("keras-lstm")
    write_manifest(path, config, CharVocabulary().to_json(), name="keras-tiny")
    write_npz_atomic(path / "weights.npz", export_weights(model, config))
    return model, config, path


@pytest.fixture
def app(random_model_dir):
    """The web app serving `random_model_dir`, with small limits to test them.

    No rate limit: these tests send requests faster than people type (test_security.py tests the limits)."""
    from webapp import create_app

    return create_app({"TESTING": True, "MODEL_DIR": str(random_model_dir), "MAX_TEXT_CHARS": 5000,
                       "MAX_CONTENT_LENGTH": 64 * 1024, "RATE_LIMIT": "off"})


@pytest.fixture
def client(app):
    return app.test_client()
