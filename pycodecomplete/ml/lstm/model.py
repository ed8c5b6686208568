"""The character-level LSTM in Keras 3, and its export to plain arrays.

Input is a window of character ids. The first layer one-hot encodes them inside the
graph (the design's representation, without ever materialising one-hot tensors in
the input pipeline); the LSTM stack follows, then a Dense layer of 100 logits.
Loss is `SparseCategoricalCrossentropy(from_logits=True)`, so the model outputs
logits and the softmax lives in the loss and in the engine.

Exported weight names (`weights.npz`), gate order i, f, c, o as in Keras:
    lstm_{i}/kernel            (input_dim, 4*units)   input_dim = 100 for i == 0
    lstm_{i}/recurrent_kernel  (units, 4*units)
    lstm_{i}/bias              (4*units,)
    output/kernel              (units, 100)
    output/bias                (100,)
"""
from __future__ import annotations

import keras
import numpy as np
from keras import layers

from pycodecomplete.config import Config
from pycodecomplete.vocab import CharVocabulary


@keras.saving.register_keras_serializable(package="pycodecomplete")
class OneHot(layers.Layer):
    """ids -> one-hot float vectors, computed on the fly."""

    def __init__(self, depth: int, **kwargs):
        super().__init__(**kwargs)
        self.depth = depth

    def call(self, ids):
        return keras.ops.one_hot(keras.ops.cast(ids, "int32"), self.depth)

    def compute_output_shape(self, input_shape):
        return (*input_shape, self.depth)

    def get_config(self):
        return {**super().get_config(), "depth": self.depth}


def build_lstm(config: Config, batch_size: int | None = None) -> keras.Model:
    """Build the char-LSTM. `stateful` models need a fixed `batch_size`."""
    vocab = CharVocabulary.size
    every = config.objective == "every-char"
    if config.stateful:
        inputs = keras.Input(shape=(config.seq_len,), batch_size=batch_size, dtype="int32", name="ids")
    else:
        inputs = keras.Input(shape=(None,), dtype="int32", name="ids")
    x = OneHot(vocab, name="one_hot")(inputs)
    for i in range(config.lstm_layers):
        last = i == config.lstm_layers - 1
        x = layers.LSTM(config.lstm_units, return_sequences=every or not last,
                        stateful=config.stateful, name=f"lstm_{i}")(x)
        if config.dropout and not last:
            x = layers.Dropout(config.dropout, name=f"dropout_{i}")(x)
    logits = layers.Dense(vocab, name="output")(x)
    return keras.Model(inputs, logits, name="char_lstm")


def compile_model(model: keras.Model, config: Config) -> keras.Model:
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate, clipnorm=config.clipnorm),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="acc")],
    )
    return model


def export_weights(model: keras.Model, config: Config) -> dict[str, np.ndarray]:
    arrays = {}
    for i in range(config.lstm_layers):
        kernel, recurrent, bias = model.get_layer(f"lstm_{i}").get_weights()
        arrays[f"lstm_{i}/kernel"] = kernel
        arrays[f"lstm_{i}/recurrent_kernel"] = recurrent
        arrays[f"lstm_{i}/bias"] = bias
    kernel, bias = model.get_layer("output").get_weights()
    arrays["output/kernel"], arrays["output/bias"] = kernel, bias
    return {k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()}


def import_weights(model: keras.Model, config: Config, arrays: dict[str, np.ndarray]) -> keras.Model:
    for i in range(config.lstm_layers):
        model.get_layer(f"lstm_{i}").set_weights(
            [arrays[f"lstm_{i}/kernel"], arrays[f"lstm_{i}/recurrent_kernel"], arrays[f"lstm_{i}/bias"]])
    model.get_layer("output").set_weights([arrays["output/kernel"], arrays["output/bias"]])
    return model
