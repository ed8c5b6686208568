import numpy as np
import pytest

from pycodecomplete.config import preset
from pycodecomplete.errors import PyccError
from pycodecomplete.ml.lstm import data


@pytest.fixture
def stream():
    return (np.arange(5000) % 97).astype(np.uint8)


def test_every_char_targets_are_inputs_shifted_by_one(stream):
    config = preset("tiny")
    x, y = next(iter(data.train_dataset(stream, config, global_batch=8)))
    x, y = x.numpy(), y.numpy()
    assert x.shape == y.shape == (8, config.seq_len)
    assert x.dtype == np.int32  # ids, never a one-hot copy
    assert (x[:, 1:] == y[:, :-1]).all()
    # Each window is a contiguous slice of the stream.
    for row_x, row_y in zip(x, y):
        start = int(np.flatnonzero(stream == row_x[0])[0])
        while not (stream[start:start + config.seq_len] == row_x).all():
            start += 97
        assert stream[start + config.seq_len] == row_y[-1]


def test_last_char_objective_predicts_the_101st_char(stream):
    config = preset("tiny").with_overrides({"objective": "last-char"})
    x, y = next(iter(data.train_dataset(stream, config, global_batch=4)))
    assert x.shape == (4, 100) and y.shape == (4,)
    assert ((x.numpy()[:, -1].astype(int) + 1) % 97 == y.numpy()).all()


def test_batches_are_a_function_of_the_step(stream):
    config = preset("tiny")
    full = [b[0].numpy() for b in data.train_dataset(stream, config, 4).take(6)]
    resumed = [b[0].numpy() for b in data.train_dataset(stream, config, 4, start_step=3).take(3)]
    for a, b in zip(full[3:], resumed):
        assert (a == b).all()
    assert not (full[0] == full[1]).all()


def test_corpus_smaller_than_one_window_is_a_clear_error():
    with pytest.raises(PyccError, match="fewer than one training window"):
        data.train_dataset(np.zeros(50, np.uint8), preset("tiny"), 4)


def test_validation_windows_do_not_overlap(stream):
    config = preset("tiny")
    windows = data.validation_windows(stream, config, max_windows=1000)
    assert windows.shape[1] == config.seq_len + 1
    assert len(windows) == (len(stream) - 1) // config.seq_len


def test_stateful_rows_continue_the_previous_batch(stream):
    config = preset("tiny").with_overrides({"stateful": True})
    dataset, per_track = data.stateful_train_dataset(stream, config, global_batch=4)
    batches = [x.numpy() for x, _ in dataset.take(per_track + 1)]
    track = (len(stream) - 1) // 4
    for k in range(per_track):
        for row in range(4):
            start = row * track + k * config.seq_len
            assert (batches[k][row] == stream[start:start + config.seq_len]).all()
    assert (batches[per_track] == batches[0]).all()  # the tracks wrap around
