"""ONNX LSTM / GRU / RNN on the tensor tier (ops/recurrent.py), every attribute and input,
against ONNX Runtime: float directly (strictly: dtype, shape, values); float16 and double,
which ONNX Runtime's CPU kernels do not run, against ONNX Runtime on the same values as float
(the result must keep the node's type, within that type's precision) and, for the options it
implements, against onnx.reference.ReferenceEvaluator in the node's own type."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper
from ops_parity import assert_same, graph_model, run_onnxruntime

import npinfer

GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
TIME, BATCH, FEATURES, HIDDEN = 5, 3, 4, 6
TOLERANCE = {np.float16: (2e-2, 2e-2), np.float32: (1e-5, 1e-6), np.float64: (1e-5, 1e-6)}

OPTIONS = {  # name -> (node attributes, which optional inputs and outputs)
    "defaults": ({}, {}),
    "reverse": ({"direction": "reverse"}, {}),
    "bidirectional": ({"direction": "bidirectional"}, {"bias": True}),
    "layout1": ({"layout": 1}, {"bias": True, "initial": True}),
    "layout1_bidirectional": ({"layout": 1, "direction": "bidirectional"}, {"lengths": True, "initial": True}),
    "bias_initial": ({}, {"bias": True, "initial": True}),
    "sequence_lens": ({}, {"bias": True, "lengths": True}),
    "sequence_lens_reverse_initial": ({"direction": "reverse"}, {"lengths": True, "initial": True}),
    "sequence_lens_bidirectional": ({"direction": "bidirectional"}, {"bias": True, "lengths": True, "initial": True}),
    "clip": ({"clip": 0.4}, {"bias": True}),
    "only_y": ({}, {"outputs": "Y"}),
    "only_last": ({"direction": "bidirectional"}, {"outputs": "last"}),
    "activations": ({}, {"activations": True}),
    "activations_bidirectional": ({"direction": "bidirectional"}, {"activations": True, "bias": True}),
}
LSTM_OPTIONS = {
    "peepholes": ({}, {"bias": True, "peepholes": True, "initial": True}),
    "peepholes_bidirectional_lens": ({"direction": "bidirectional"}, {"peepholes": True, "lengths": True}),
    "input_forget": ({"input_forget": 1}, {"bias": True}),
    "only_c": ({}, {"outputs": "c"}),
    "initial_c_only": ({}, {"initial": "c"}),
}
GRU_OPTIONS = {
    "linear_before_reset": ({"linear_before_reset": 1}, {"bias": True}),
    "linear_before_reset_no_bias_reverse": ({"linear_before_reset": 1, "direction": "reverse"}, {"initial": True}),
}
# non-default activations per kind (one direction's worth), with ONNX Runtime's parameters
ACTIVATIONS = {"LSTM": (["HardSigmoid", "LeakyRelu", "Softsign"], [0.3, 0.1], [0.4]),
               "GRU": (["HardSigmoid", "Elu"], [0.25, 0.8], [0.45]),
               "RNN": (["Relu"], [], [])}
CASES = [(kind, name) for kind in GATES for name in OPTIONS] + [("LSTM", name) for name in LSTM_OPTIONS] + \
    [("GRU", name) for name in GRU_OPTIONS]


def node_model(kind: str, attrs: dict, extra: dict, dtype, seed: int = 0):
    """One recurrent node with every tensor a graph input: (model, feeds)."""
    rng = np.random.default_rng(seed)
    directions = 2 if attrs.get("direction") == "bidirectional" else 1
    layout = attrs.get("layout", 0)
    g = GATES[kind] * HIDDEN
    x = rng.normal(size=(BATCH, TIME, FEATURES) if layout else (TIME, BATCH, FEATURES))
    feeds = {"X": x, "W": rng.normal(0, 0.5, (directions, g, FEATURES)), "R": rng.normal(0, 0.5, (directions, g, HIDDEN))}
    feeds = {k: v.astype(dtype) for k, v in feeds.items()}
    names = ["X", "W", "R", "", "", "", "", ""]
    if extra.get("bias"):
        names[3], feeds["B"] = "B", rng.normal(0, 0.5, (directions, 2 * g)).astype(dtype)
    if extra.get("lengths"):
        names[4], feeds["sequence_lens"] = "sequence_lens", np.array([TIME, 2, 0][:BATCH], np.int32)
    state = (BATCH, directions, HIDDEN) if layout else (directions, BATCH, HIDDEN)
    initial = extra.get("initial")
    if initial in (True, "h"):
        names[5], feeds["initial_h"] = "initial_h", rng.normal(size=state).astype(dtype)
    if kind == "LSTM" and initial in (True, "c"):
        names[6], feeds["initial_c"] = "initial_c", rng.normal(size=state).astype(dtype)
    if extra.get("peepholes"):
        names[7], feeds["P"] = "P", rng.normal(0, 0.5, (directions, 3 * HIDDEN)).astype(dtype)
    while names[-1] == "":
        names.pop()
    attrs = {"hidden_size": HIDDEN, **attrs}
    if extra.get("activations"):
        functions, alphas, betas = ACTIVATIONS[kind]
        attrs.update(activations=functions * directions, activation_alpha=alphas * directions,
                     activation_beta=betas * directions)
        if not alphas:
            del attrs["activation_alpha"], attrs["activation_beta"]
    outputs = ["Y", "Y_h", "Y_c"][: 3 if kind == "LSTM" else 2]
    wanted = {"Y": ["Y"], "last": ["", "Y_h"], "c": ["", "", "Y_c"]}.get(extra.get("outputs"), outputs)
    node = helper.make_node(kind, names, wanted, **attrs)
    model = graph_model([node], feeds, {name: dtype for name in wanted if name}, opset=22)
    return model, feeds


def run_tensor_tier(model, feeds: dict) -> list:
    """The tensor tier's outputs (the layer tier would take some of these graphs)."""
    from npinfer.importers.onnx_proto import read_model
    from npinfer.limits import current
    from npinfer.ops.model import TypedModel

    typed = TypedModel(read_model(model.SerializeToString(), current(None), "m.onnx"), "m.onnx")
    got = typed.predict(dict(feeds))
    return [got] if len(typed.output_names) == 1 else list(got)


def as_float(feeds: dict) -> dict:
    return {k: v.astype(np.float32) if v.dtype.kind == "f" else v for k, v in feeds.items()}


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16], ids=["float", "double", "float16"])
@pytest.mark.parametrize("kind,name", CASES, ids=[f"{k}-{n}" for k, n in CASES])
def test_recurrent_nodes_match_onnxruntime(kind, name, dtype):
    attrs, extra = {**OPTIONS, **LSTM_OPTIONS, **GRU_OPTIONS}[name]
    model, feeds = node_model(kind, attrs, extra, dtype)
    got = run_tensor_tier(model, feeds)
    rtol, atol = TOLERANCE[dtype]
    assert_same(got, onnxruntime_outputs(kind, attrs, extra, dtype, feeds), rtol, atol)


def onnxruntime_outputs(kind, attrs, extra, dtype, feeds) -> list:
    """ONNX Runtime's outputs for the node on `feeds`. Its CPU kernels run float and layout 0
    only: other types run as float (results cast to the node's type), layout 1 as layout 0 on
    the transposed inputs (the outputs transposed back)."""
    if attrs.get("layout", 0) == 1:
        swapped = {k: v.swapaxes(0, 1) if k in ("X", "initial_h", "initial_c") else v for k, v in feeds.items()}
        outputs = onnxruntime_outputs(kind, {**attrs, "layout": 0}, extra, dtype, swapped)
        names = [o for o in node_model(kind, attrs, extra, dtype)[0].graph.node[0].output if o]
        return [y.transpose(2, 0, 1, 3) if name == "Y" else y.swapaxes(0, 1) for name, y in zip(names, outputs)]
    model, _ = node_model(kind, attrs, extra, np.float32)
    return [e.astype(dtype) for e in run_onnxruntime(model, as_float(feeds))]


REFERENCE_CASES = [(kind, name) for kind in GATES for name in ("defaults", "bidirectional", "layout1", "bias_initial")] + \
    [("LSTM", "peepholes"), ("GRU", "linear_before_reset")]


@pytest.mark.parametrize("dtype", [np.float64, np.float16], ids=["double", "float16"])
@pytest.mark.parametrize("kind,name", REFERENCE_CASES, ids=[f"{k}-{n}" for k, n in REFERENCE_CASES])
def test_recurrent_nodes_match_the_reference_evaluator_in_their_own_type(kind, name, dtype):
    from onnx.reference import ReferenceEvaluator

    attrs, extra = {**OPTIONS, **LSTM_OPTIONS, **GRU_OPTIONS}[name]
    model, feeds = node_model(kind, attrs, extra, dtype)
    expected = ReferenceEvaluator(model).run(None, feeds)
    rtol, atol = (1e-2, 1e-2) if dtype == np.float16 else (1e-10, 1e-12)
    assert_same(run_tensor_tier(model, feeds), expected, rtol, atol)


def test_recurrent_refusals_name_the_node():
    model, feeds = node_model("LSTM", {"direction": "sideways"}, {}, np.float32)
    with pytest.raises(npinfer.UnsupportedOptionError, match="LSTM node.*direction='sideways'"):
        run_tensor_tier(model, feeds)
    model, feeds = node_model("GRU", {"activations": ["Gelu", "Tanh"]}, {}, np.float32)
    with pytest.raises(npinfer.UnsupportedOptionError, match="GRU node.*activation 'Gelu'"):
        run_tensor_tier(model, feeds)
    model, feeds = node_model("RNN", {}, {}, np.float32)
    feeds["X"] = feeds["X"].astype(np.float64)  # W and R float, X double
    model = graph_model(list(model.graph.node), feeds, {"Y": np.float32, "Y_h": np.float32}, opset=22)
    with pytest.raises(npinfer.ModelFormatError, match="RNN node.*mixes element types"):
        run_tensor_tier(model, feeds)
