"""Streaming: predict as readings arrive, one time step (or a chunk) at a time.

A model trained on whole sequences (here the bundled article model, SimpleRNN(3) -> Dense(1))
can follow a live signal: each `stream.predict(chunk)` continues from the states the previous
chunk left, so the numbers equal predicting the whole sequence at once.

    python examples/streaming_sensor.py
"""

from __future__ import annotations

import numpy as np

import npinfer
from npinfer import demo


def main() -> None:
    model = npinfer.load(demo.data_path("rnn_sample.keras"))
    readings = np.random.default_rng(0).uniform(0, 1, size=(1, 4, 3)).astype(np.float32)  # 4 steps (its look-back), 3 sensors

    stream = model.stream()
    for t in range(readings.shape[1]):
        y = stream.predict(readings[:, t : t + 1])  # one new reading
        print(f"step {t + 1:>2}: reading {np.round(readings[0, t], 2)} -> prediction {y[0, 0]: .5f}")

    whole = model.predict(readings)  # the same window at once
    print(f"whole sequence: {whole[0, 0]: .5f}  (difference {abs(whole[0, 0] - y[0, 0]):.1e})")


if __name__ == "__main__":
    main()
