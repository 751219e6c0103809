"""Each activation function (with its options) against keras.activations of Keras 3 and tf-keras."""

from __future__ import annotations

import numpy as np
import pytest

from generate_fixtures import activation_calls
from npinfer.layers import activations
from npinfer.layers.activations import KERAS2_HARD_SIGMOID_SLOPE
from parity import assert_close

CALLS = [(flavor, i, name, params) for flavor in ("keras3", "tf_keras") for i, (name, params) in enumerate(activation_calls(flavor))]


@pytest.mark.parametrize("flavor,index,name,params", CALLS, ids=[f"{f}-{n}-{i}" for f, i, n, _ in CALLS])
def test_activation_function_matches_keras(keras_fixtures, flavor, index, name, params):
    reference = keras_fixtures[flavor].root / "activations.npz"
    with np.load(reference) as data:
        assert f"{index}_error" not in data.files, bytes(data[f"{index}_error"]).decode()
        x = data["cube"] if "axis" in params or name in ("softmax", "log_softmax", "sparsemax") else data["grid"]
        expected = data[str(index)]
    spec = {"name": name, **params}
    if flavor == "tf_keras" and name == "hard_sigmoid":
        spec["slope"] = KERAS2_HARD_SIGMOID_SLOPE
    for dtype in (np.float32, np.float64):
        got = activations.get(spec)(x.astype(dtype))
        assert got.dtype == dtype
        assert_close(got, expected, what=f"{name}{params}", same_dtype=dtype == np.float32)
