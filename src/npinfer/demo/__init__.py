"""`npinfer demo`: the article's example, run with npinfer alone.

Bundled: rnn_sample.csv (X1, X2, X3, Y; 10 rows), rnn_sample.keras (SimpleRNN(3) -> Dense(1)
trained by examples/train_rnn_sample.py) and the Keras predictions recorded at training time.
The demo builds the 7 look-back-4 windows, predicts with npinfer, and compares with Keras.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from importlib import resources
from typing import Callable

import numpy as np

LOOK_BACK = 4
FILES = ("rnn_sample.csv", "rnn_sample.keras", "rnn_sample_keras_predictions.csv")  # what the demo reads


@dataclass
class DemoResult:
    """The demo's numbers: per window the target, Keras's and npinfer's predictions."""

    targets: np.ndarray
    keras: np.ndarray
    npinfer: np.ndarray
    keras_version: str

    @property
    def largest_difference(self) -> float:
        return float(np.max(np.abs(self.npinfer - self.keras)))


def data_path(name: str) -> str:
    """Path of a bundled demo file."""
    return str(resources.files(__package__).joinpath(name))


def run() -> DemoResult:
    """Load the bundled model and data, predict the 7 windows, return them with Keras's numbers."""
    import npinfer
    from npinfer.datafiles import drop_column, read_csv, sliding_windows

    model = npinfer.load(data_path("rnn_sample.keras"))
    table = read_csv(data_path("rnn_sample.csv"))
    windows = sliding_windows(drop_column(table, "Y", "rnn_sample.csv").values, LOOK_BACK)  # (7, 4, 3)
    predictions = model.predict(windows)[:, 0]  # (7,)
    with open(data_path("rnn_sample_keras_predictions.csv"), newline="") as handle:
        rows = list(csv.DictReader(handle))
    targets = np.array([float(r["target_Y"]) for r in rows])
    keras = np.array([float(r["keras_prediction"]) for r in rows], dtype=np.float32)
    return DemoResult(targets, keras, predictions, model.spec.source.get("version", "?"))


def report(result: DemoResult, write: Callable[[str], object] = print) -> None:
    """Print the article's comparison as a table."""
    write("npinfer demo: the article's Keras SimpleRNN(3) -> Dense(1), recomputed with NumPy alone")
    write(f"data: rnn_sample.csv (X1, X2, X3 -> Y; 10 rows, look-back {LOOK_BACK} -> {len(result.keras)} windows); "
          f"model: rnn_sample.keras (Keras {result.keras_version})")
    write("inside: h_t = tanh(x_t W + h_(t-1) U + b) for t = 1..4, then y = h_4 W_out + b_out")
    write("")
    write(f"{'window':>6}  {'target Y':>9}  {'Keras':>10}  {'npinfer':>10}  {'difference':>10}")
    for i, (target, k, n) in enumerate(zip(result.targets, result.keras, result.npinfer), start=1):
        write(f"{i:>6}  {target:>9.4f}  {k:>10.6f}  {n:>10.6f}  {n - k:>10.1e}")
    write("")
    verdict = "npinfer matches Keras" if result.largest_difference <= 1e-5 else "MISMATCH: please report this"
    write(f"largest difference: {result.largest_difference:.2e} ({verdict}; float32 holds about 7 digits)")


def plot(result: DemoResult, path: str) -> None:
    """The article's scatter: Keras on x, npinfer on y, and the line y = x."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from npinfer.atomic import atomic_write

    figure, axes = plt.subplots(figsize=(4.5, 4.5))
    low = float(min(result.keras.min(), result.npinfer.min()))
    high = float(max(result.keras.max(), result.npinfer.max()))
    margin = (high - low) * 0.05 or 0.05
    axes.plot([low - margin, high + margin], [low - margin, high + margin], color="0.7", linewidth=1, label="y = x")
    axes.scatter(result.keras, result.npinfer, zorder=3, label="7 windows")
    axes.set_xlabel("Keras prediction", fontsize=12)
    axes.set_ylabel("npinfer prediction (NumPy only)", fontsize=12)
    axes.set_title(f"largest difference {result.largest_difference:.1e}", fontsize=10)
    axes.legend(loc="upper left")
    figure.tight_layout()
    with atomic_write(path) as handle:
        figure.savefig(handle, format=_image_format(path), dpi=120)
    plt.close(figure)


def _image_format(path: str) -> str:
    extension = path.rsplit(".", 1)[-1].lower() if "." in path else "png"
    return extension if extension in ("png", "svg", "pdf", "jpg", "jpeg") else "png"
