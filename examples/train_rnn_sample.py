"""Train the article's model in Keras 3 and store it in the package for `npinfer demo`.

The recipe of ../shared/seed (the article this project grew from): windows of look-back 4
over X1, X2, X3 of rnn_sample.csv, target Y at each window's last row; SimpleRNN(3) then
Dense(1); mean absolute error; Adam with learning rate 0.01; batch size 4; 2000 epochs.
Writes src/npinfer/demo/rnn_sample.keras and the Keras predictions of the 7 windows to
src/npinfer/demo/rnn_sample_keras_predictions.csv. Needs TensorFlow (pip install -e ".[test]").

    python examples/train_rnn_sample.py
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

DEMO = Path(__file__).resolve().parent.parent / "src" / "npinfer" / "demo"
LOOK_BACK = 4


def article_windows(data: np.ndarray, look_back: int):
    """The article's loop: X = data[i:i+look_back, :-1], Y = data[i+look_back-1, -1]."""
    x, y = [], []
    for i in range(data.shape[0] - look_back + 1):
        x.append(data[i : i + look_back, :-1])
        y.append(data[i + look_back - 1, -1])
    return np.array(x, dtype=np.float32), np.array(y, dtype=np.float32)


def main() -> None:
    keras.utils.set_random_seed(0)
    data = np.loadtxt(DEMO / "rnn_sample.csv", delimiter=",", skiprows=1)
    x, y = article_windows(data, LOOK_BACK)
    model = keras.Sequential([
        keras.Input((LOOK_BACK, x.shape[2])),
        keras.layers.SimpleRNN(3),
        keras.layers.Dense(1),
    ])
    model.compile(loss="mean_absolute_error", optimizer=keras.optimizers.Adam(learning_rate=0.01))
    model.fit(x, y, batch_size=4, epochs=2000, verbose=0)
    model.save(DEMO / "rnn_sample.keras")
    predictions = model.predict(x, verbose=0)[:, 0]
    with open(DEMO / "rnn_sample_keras_predictions.csv", "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["window", "target_Y", "keras_prediction"])
        for i, (target, value) in enumerate(zip(y, predictions), start=1):
            writer.writerow([i, f"{target:.9g}", f"{value:.9g}"])
    print(f"trained; Keras {keras.__version__}; predictions: {np.round(predictions, 4).tolist()}")


if __name__ == "__main__":
    main()
