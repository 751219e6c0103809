"""erf in NumPy alone, against the standard library's math.erf."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from npinfer.layers.special import erf


def test_erf_matches_math_erf_on_a_dense_grid():
    x = np.concatenate([np.linspace(-9, 9, 100001), [0.0, 2.5, -2.5, 2.4999999, 40.0, -40.0, 1e-300]])
    expected = np.array([math.erf(v) for v in x])
    assert np.max(np.abs(erf(x) - expected)) < 2e-14


@given(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False))
def test_erf_matches_math_erf_anywhere(value):
    assert abs(float(erf(np.array([value]))[0]) - math.erf(value)) < 2e-14


def test_erf_keeps_float32_and_propagates_nan():
    result = erf(np.array([0.5, np.nan, np.inf, -np.inf], dtype=np.float32))
    assert result.dtype == np.float32
    assert np.isnan(result[1]) and result[2] == 1.0 and result[3] == -1.0
