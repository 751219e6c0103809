"""CausalConvWithState (opset 27) on the tensor tier (ops/causal_conv.py), every input and
activation, float16 and float, against ONNX Runtime strictly (dtype, shape, values) and against
onnx.reference.ReferenceEvaluator: ONNX Runtime 1.32 has no kernel for it and runs the
operator's function body, so both of ONNX's definitions are checked. Also: a sequence fed in
chunks, each step's present_state passed on as the next past_state, gives the whole sequence's
output."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper
from ops_parity import (
    assert_same,
    graph_model,
    run_npinfer,
    run_onnxruntime,
    run_reference,
)

import npinfer

TOLERANCE = {np.float16: (4e-3, 4e-3), np.float32: (1e-5, 1e-6)}
BATCH, CHANNELS = 2, 3


def conv_model(dtype=np.float32, length=7, kernel=4, bias=False, past=False, activation=None, seed=0, batch=BATCH,
               channels=CHANNELS):
    """One CausalConvWithState node with every tensor a graph input: (model, feeds)."""
    rng = np.random.default_rng(seed)
    feeds = {"input": rng.normal(size=(batch, channels, length)), "weight": rng.normal(0, 0.6, (channels, 1, kernel))}
    names = ["input", "weight", "", ""]
    if bias:
        names[2], feeds["bias"] = "bias", rng.normal(size=(channels,))
    if past:
        names[3], feeds["past_state"] = "past_state", rng.normal(size=(batch, channels, kernel - 1))
    feeds = {name: value.astype(dtype) for name, value in feeds.items()}
    while names[-1] == "":
        names.pop()
    attrs = {"activation": activation} if activation else {}
    node = helper.make_node("CausalConvWithState", names, ["output", "present_state"], **attrs)
    return graph_model([node], feeds, {"output": dtype, "present_state": dtype}, opset=27, ir_version=11), feeds


CASES = {
    "defaults": {}, "bias": {"bias": True}, "past": {"past": True}, "bias_past": {"bias": True, "past": True},
    "silu": {"activation": "silu"}, "swish_past": {"activation": "swish", "past": True, "bias": True},
    "none": {"activation": "none", "bias": True},
    "decode_step": {"length": 1, "past": True, "bias": True},
    "kernel_1": {"kernel": 1, "bias": True},
    "short_input": {"length": 2, "kernel": 5},
    "short_input_past": {"length": 2, "kernel": 5, "past": True, "activation": "silu"},
    "one_channel": {"batch": 1, "channels": 1, "length": 6},
}


@pytest.mark.parametrize("dtype", (np.float32, np.float16), ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("judge", [run_onnxruntime, run_reference], ids=["onnxruntime", "reference"])
@pytest.mark.parametrize("case", CASES)
def test_causal_conv_with_state_matches(case, judge, dtype):
    model, feeds = conv_model(dtype=dtype, **CASES[case])
    assert_same(run_npinfer(model, feeds), judge(model, feeds), *TOLERANCE[dtype])


def test_causal_conv_with_state_streams():
    """Chunks of 3, 1 and 4 steps, the state carried, equal ONNX Runtime on all 8 at once."""
    whole, feeds = conv_model(length=8, bias=True, past=True, activation="silu")
    expected, _ = run_onnxruntime(whole, feeds)
    state, outputs = feeds["past_state"], []
    for start, stop in ((0, 3), (3, 4), (4, 8)):
        model, _ = conv_model(length=stop - start, bias=True, past=True, activation="silu")
        y, state = run_npinfer(model, {**feeds, "input": feeds["input"][:, :, start:stop], "past_state": state})
        outputs.append(y)
    assert_same(np.concatenate(outputs, axis=2), expected, *TOLERANCE[np.float32])


@pytest.mark.parametrize("case, error, words", [
    ({"dtype": np.float64}, npinfer.UnsupportedOptionError, "not defined for double"),
    ({"activation": "relu"}, npinfer.ModelFormatError, "activation='relu'"),
], ids=["double", "activation"])
def test_causal_conv_with_state_refusals_are_typed(case, error, words):
    with pytest.raises(error, match=words) as caught:
        run_npinfer(*conv_model(**case))
    assert "CausalConvWithState" in str(caught.value) and "opset 27" in str(caught.value)


def test_causal_conv_with_state_past_of_wrong_length_is_malformed():
    model, feeds = conv_model(past=True)
    feeds["past_state"] = feeds["past_state"][:, :, :2]
    model.graph.input[2].type.tensor_type.shape.dim[2].dim_value = 2
    with pytest.raises(npinfer.ModelFormatError, match="past_state of shape"):
        run_npinfer(model, feeds)
