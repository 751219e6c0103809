"""The article's hand computation, next to npinfer: the same numbers three ways.

The article (../shared/seed) takes W, U, b, Wout, bout from model.get_weights() and runs
    h = tanh(x W + h U + b)   over the 4 time steps,   y = h Wout + bout
This script takes the same arrays from the bundled .keras file with npinfer (no TensorFlow),
runs that loop, and compares it with npinfer's prediction and the recorded Keras prediction.

    python examples/article_by_hand.py
"""

from __future__ import annotations

import numpy as np

import npinfer
from npinfer import demo
from npinfer.datafiles import drop_column, read_csv, sliding_windows


def by_hand(model: npinfer.Model, windows: np.ndarray) -> np.ndarray:
    rnn = model.get_layer("simple_rnn").weights
    dense = model.get_layer("dense").weights
    W, U, b = rnn["kernel"], rnn["recurrent_kernel"], rnn["bias"]  # (3, 3), (3, 3), (3,)
    Wout, bout = dense["kernel"], dense["bias"]  # (3, 1), (1,)
    results = []
    for sample in windows:  # (4, 3): one window
        h = np.zeros(W.shape[1], np.float32)
        for x in sample:  # one time step: 3 features
            h = np.tanh(np.dot(x, W) + np.dot(h, U) + b)
        results.append(np.dot(h, Wout) + bout)
    return np.array(results)[:, 0]


def main() -> None:
    model = npinfer.load(demo.data_path("rnn_sample.keras"))
    windows = sliding_windows(drop_column(read_csv(demo.data_path("rnn_sample.csv")), "Y", "csv").values, 4)
    windows = windows.astype(np.float32)
    hand = by_hand(model, windows)
    library = model.predict(windows)[:, 0]
    keras = demo.run().keras
    print("window   by hand     npinfer     Keras")
    for i, (a, c, k) in enumerate(zip(hand, library, keras), start=1):
        print(f"{i:>6}  {a:.6f}  {c:.6f}  {k:.6f}")
    print(f"largest difference by hand vs Keras: {np.max(np.abs(hand - keras)):.1e}")


if __name__ == "__main__":
    main()
