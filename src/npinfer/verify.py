"""`npinfer verify`: npinfer's outputs against a reference (Keras itself, or the reference
inputs and outputs stored in an `.npz` by `npinfer convert --with-reference`), per output:
largest absolute and relative differences, the worst element, pass or fail."""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass

import numpy as np

from .errors import NpinferError


@dataclass
class OutputReport:
    """How one output compares with its reference."""

    name: str
    max_abs: float
    max_rel: float
    worst_index: tuple
    npinfer_value: float
    reference_value: float
    passed: bool

    def line(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        return (f"{verdict} {self.name}: largest difference {self.max_abs:.3g} (relative {self.max_rel:.3g}) at "
                f"{list(self.worst_index)}: npinfer {self.npinfer_value:.9g}, reference {self.reference_value:.9g}")


def compare(names: list[str], got: list[np.ndarray], expected: list[np.ndarray], tolerance: float) -> list[OutputReport]:
    """Per-output reports; an output passes when |got - expected| <= tolerance * max(1, |expected|)."""
    reports = []
    for name, a, e in zip(names, got, expected):
        a, e = np.asarray(a, np.float64), np.asarray(e, np.float64)
        if a.shape != e.shape:
            raise NpinferError(f"output {name}: npinfer gives shape {a.shape}, the reference {e.shape}")
        diff = np.abs(a - e)
        scaled = diff / np.maximum(1.0, np.abs(e))
        worst = np.unravel_index(int(np.nanargmax(scaled)), scaled.shape) if scaled.size else ()
        nan_mismatch = bool(np.any(np.isnan(a) != np.isnan(e)))
        reports.append(OutputReport(
            name=name, max_abs=float(np.nanmax(diff)) if diff.size else 0.0,
            max_rel=float(np.nanmax(diff / np.maximum(np.abs(e), 1e-12))) if diff.size else 0.0,
            worst_index=tuple(int(i) for i in worst), npinfer_value=float(a[worst]) if a.size else 0.0,
            reference_value=float(e[worst]) if e.size else 0.0,
            passed=not nan_mismatch and (not scaled.size or float(np.nanmax(scaled)) <= tolerance),
        ))
    return reports


def keras_available() -> bool:
    return importlib.util.find_spec("keras") is not None or importlib.util.find_spec("tf_keras") is not None


def keras_outputs(path: str, keras_version: str, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """Run the Keras model saved at `path` (Keras 3, or tf-keras for Keras 2 files)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if str(keras_version).startswith("2"):
        import tf_keras as keras
    else:
        import keras
    model = keras.models.load_model(path, compile=False)
    result = model.predict(inputs if len(inputs) > 1 else inputs[0], verbose=0)
    return [np.asarray(r) for r in (result if isinstance(result, list) else [result])]


def random_inputs(model, count: int, seed: int = 0) -> list[np.ndarray]:
    """`count` random samples for every input (normal floats; small positive ids for integer inputs)."""
    rng = np.random.default_rng(seed)
    arrays = []
    for info in model.inputs:
        shape = [count] + [8 if d is None else d for d in info.shape[1:]]
        if "int" in info.dtype:
            high = min([layer.config["input_dim"] for layer in model.layers if layer.class_name == "Embedding"] or [10])
            arrays.append(rng.integers(1, high, size=shape).astype(np.int32))
        else:
            arrays.append(rng.normal(size=shape).astype(np.float32))
    return arrays


def plot(reports: list[OutputReport], got: list[np.ndarray], expected: list[np.ndarray], path: str) -> None:
    """The article's scatter per output (reference on x, npinfer on y, the line y = x) and a
    histogram of the differences."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .atomic import atomic_write

    figure, axes = plt.subplots(len(reports), 2, figsize=(9, 4 * len(reports)), squeeze=False)
    for row, (report, a, e) in enumerate(zip(reports, got, expected)):
        a, e = np.ravel(a), np.ravel(e)
        low, high = float(min(a.min(), e.min())), float(max(a.max(), e.max()))
        ax = axes[row][0]
        ax.plot([low, high], [low, high], color="0.7", linewidth=1, label="y = x")
        ax.scatter(e, a, s=8, zorder=3)
        ax.set_xlabel("reference (Keras)")
        ax.set_ylabel("npinfer")
        ax.set_title(f"{report.name}: {'pass' if report.passed else 'FAIL'}, largest difference {report.max_abs:.1e}", fontsize=9)
        ax.legend(loc="upper left")
        axes[row][1].hist(a - e, bins=50)
        axes[row][1].set_xlabel("npinfer - reference")
        axes[row][1].set_ylabel("count")
    figure.tight_layout()
    with atomic_write(path) as handle:
        figure.savefig(handle, format="png", dpi=100)
    plt.close(figure)
