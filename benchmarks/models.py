"""The benchmark models (issue 5), built in Keras 3 with random non-zero weights."""

from __future__ import annotations

import numpy as np

# name -> (builder(keras), input shape without batch, batch sizes)
SPECS = {
    "article_simple_rnn": (lambda k: _seq(k, (4, 3), k.layers.SimpleRNN(3), k.layers.Dense(1)), (4, 3), (1, 32, 1024, 65536)),
    "lstm64": (lambda k: _seq(k, (50, 16), k.layers.LSTM(64)), (50, 16), (1, 32, 1024)),
    "gru64": (lambda k: _seq(k, (50, 16), k.layers.GRU(64)), (50, 16), (1, 32, 1024)),
    "stacked_lstm128": (lambda k: _seq(k, (100, 32), k.layers.LSTM(128, return_sequences=True), k.layers.LSTM(128),
                                       k.layers.Dense(10)), (100, 32), (1, 32, 1024)),
    "conv_bilstm": (lambda k: _seq(k, (50, 16), k.layers.Conv1D(32, 3, padding="causal", activation="relu"),
                                   k.layers.Bidirectional(k.layers.LSTM(32)), k.layers.Dense(1)), (50, 16), (1, 32, 1024)),
    # issue 14: a small image CNN (3 Conv2D + pooling + Dense on 64x64x3) and a ConvLSTM2D model
    "cnn64": (lambda k: _seq(k, (64, 64, 3), k.layers.Conv2D(16, 3, padding="same", activation="relu"), k.layers.MaxPooling2D(),
                             k.layers.Conv2D(32, 3, padding="same", activation="relu"), k.layers.MaxPooling2D(),
                             k.layers.Conv2D(64, 3, padding="same", activation="relu"), k.layers.MaxPooling2D(),
                             k.layers.Flatten(), k.layers.Dense(10)), (64, 64, 3), (1, 32)),
    "conv_lstm2d": (lambda k: _seq(k, (10, 16, 16, 3), k.layers.ConvLSTM2D(16, 3, padding="same"), k.layers.Flatten(),
                                   k.layers.Dense(1)), (10, 16, 16, 3), (1, 32)),
}


def _seq(k, shape, *layers):
    return k.Sequential([k.Input(shape)] + list(layers))


def build(keras, name: str, seed: int = 0):
    """A Keras model with random weights (biases included) for benchmark `name`."""
    builder, _, _ = SPECS[name]
    model = builder(keras)
    rng = np.random.default_rng(seed)
    model.set_weights([w + rng.normal(0, 0.1, w.shape).astype(w.dtype) for w in model.get_weights()])
    return model
