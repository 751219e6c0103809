"""The parity check every value test uses: within 1e-5, relative where values exceed 1."""

from __future__ import annotations

import numpy as np

TOLERANCE = 1e-5


def assert_close(actual, expected, tolerance: float = TOLERANCE, what: str = "output", same_dtype: bool = True) -> float:
    """Assert |actual - expected| <= tolerance * max(1, |expected|) everywhere; return the worst ratio.

    same_dtype: float32 results must stay float32 (no float64 leaking in)."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape}, Keras gives {expected.shape}"
    if same_dtype and expected.dtype.kind == "f":
        assert actual.dtype == expected.dtype, f"{what}: dtype {actual.dtype}, Keras gives {expected.dtype}"
    assert np.array_equal(np.isfinite(actual), np.isfinite(expected)), f"{what}: non-finite values differ"
    finite = np.isfinite(expected)
    error = np.zeros(expected.shape)
    error[finite] = np.abs(actual[finite].astype(np.float64) - expected[finite]) / np.maximum(1.0, np.abs(expected[finite]))
    worst = float(error.max(initial=0.0))
    if worst > tolerance:
        index = np.unravel_index(int(np.argmax(error)), error.shape)
        raise AssertionError(
            f"{what}: largest difference {worst:.3g} > {tolerance} at {index}: npinfer {actual[index]!r}, Keras {expected[index]!r}"
        )
    return worst


def as_list(result) -> list:
    """predict() returns an array for one output and a list for several."""
    return result if isinstance(result, list) else [result]
