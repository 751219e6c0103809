"""ONNX LSTM / GRU / RNN nodes with every attribute, run by npinfer's canonical cells, against
ONNX Runtime within 1e-5: loaded, exported as a standalone script, and traced (every step's h
against ONNX Runtime's Y, the last against Y_h). Weights as initializers, or fed as graph
inputs (as ONNX's own test cases give them); sequence_lens, initial states, both layouts."""

from __future__ import annotations

import importlib.util

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import npinfer
from npinfer.export import export_script
from npinfer.layers import cells, kernels
from npinfer.layers.paired import PAIRED_MAX_BATCH
from parity import as_list, assert_close

TIME, BATCH, FEATURES, HIDDEN = 5, 3, 4, 3
GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}

VARIANTS = [
    ("LSTM", {}, {}),
    ("LSTM", {"direction": "reverse"}, {}),
    ("LSTM", {"direction": "bidirectional"}, {}),
    ("LSTM", {"layout": 1, "direction": "bidirectional"}, {"initial": True}),
    ("LSTM", {"clip": 0.7}, {"peepholes": True}),
    ("LSTM", {"input_forget": 1}, {}),
    ("LSTM", {}, {"peepholes": True, "fed": True}),
    ("LSTM", {"activations": ["HardSigmoid", "Tanh", "Softsign"], "activation_alpha": [0.3], "activation_beta": [0.4]}, {}),
    ("LSTM", {"direction": "bidirectional", "activations": ["Sigmoid", "Tanh", "Tanh", "Sigmoid", "Relu", "Elu"]}, {}),
    ("LSTM", {}, {"sequence_lens": True}),
    ("LSTM", {"direction": "bidirectional"}, {"sequence_lens": True, "initial": True, "empty_row": True}),
    ("LSTM", {}, {"bias": False, "initial": True}),
    ("GRU", {}, {}),
    ("GRU", {"linear_before_reset": 1}, {}),
    ("GRU", {"direction": "bidirectional", "linear_before_reset": 1}, {"sequence_lens": True}),
    ("GRU", {"clip": 1.5, "direction": "reverse"}, {"sequence_lens": True}),
    ("GRU", {"activations": ["Sigmoid", "Relu"]}, {"initial": True}),
    ("GRU", {"layout": 1}, {"fed": True, "sequence_lens": True}),
    ("GRU", {"linear_before_reset": 1}, {"bias": False}),
    ("RNN", {}, {}),
    ("RNN", {"activations": ["Relu"], "direction": "reverse"}, {"initial": True}),
    ("RNN", {"activations": ["Affine"], "activation_alpha": [0.5], "activation_beta": [0.1]}, {}),
    ("RNN", {"direction": "bidirectional", "activations": ["ScaledTanh", "ThresholdedRelu"],
             "activation_alpha": [0.8, 0.2], "activation_beta": [1.2]}, {"sequence_lens": True}),
    ("RNN", {"activations": ["LeakyRelu"], "activation_alpha": [0.1], "clip": 2.0}, {"fed": True}),
]
IDS = [f"{kind}-{'-'.join(f'{k}={v}' for k, v in {**attrs, **options}.items()) or 'defaults'}"
       for kind, attrs, options in VARIANTS]


def _model(kind: str, attrs: dict, options: dict, seed: int = 0):
    """An ONNX graph of one recurrent node (all three outputs), and inputs for it in graph-input order."""
    rng = np.random.default_rng(seed)
    directions = 2 if attrs.get("direction") == "bidirectional" else 1
    layout = attrs.get("layout", 0)
    g = GATES[kind] * HIDDEN
    arrays = {"W": rng.normal(0, 0.5, (directions, g, FEATURES)), "R": rng.normal(0, 0.5, (directions, g, HIDDEN))}
    if options.get("bias", True):
        arrays["B"] = rng.normal(0, 0.5, (directions, 2 * g))
    state = [directions, "batch", HIDDEN] if layout == 0 else ["batch", directions, HIDDEN]
    x_shape = ["time", "batch", FEATURES] if layout == 0 else ["batch", "time", FEATURES]
    inputs = [helper.make_tensor_value_info("X", TensorProto.FLOAT, x_shape)]
    x = rng.normal(size=(TIME, BATCH, FEATURES)).astype(np.float32)
    x = x if layout == 0 else x.transpose(1, 0, 2)
    feeds = [x]
    names = ["X", "W", "R", "B" if "B" in arrays else ""]
    initializers = []
    for name in ("W", "R", "B"):
        if name not in arrays:
            continue
        value = arrays[name].astype(np.float32)
        if options.get("fed"):
            inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, list(value.shape)))
            feeds.append(value)
        else:
            initializers.append(numpy_helper.from_array(value, name))
    names.append("")
    if options.get("sequence_lens"):
        lengths = rng.integers(1, TIME + 1, size=BATCH).astype(np.int32)
        lengths[0] = TIME
        if options.get("empty_row"):
            lengths[-1] = 0
        inputs.append(helper.make_tensor_value_info("lengths", TensorProto.INT32, ["batch"]))
        feeds.append(lengths)
        names[-1] = "lengths"
    for state_name in ("initial_h", "initial_c")[: 2 if kind == "LSTM" else 1]:
        names.append("")
        if options.get("initial"):
            inputs.append(helper.make_tensor_value_info(state_name, TensorProto.FLOAT, state))
            value = rng.normal(0, 0.5, (directions, BATCH, HIDDEN)).astype(np.float32)
            feeds.append(value if layout == 0 else value.transpose(1, 0, 2))
            names[-1] = state_name
    if options.get("peepholes"):
        peepholes = rng.normal(0, 0.5, (directions, 3 * HIDDEN)).astype(np.float32)
        if options.get("fed"):
            inputs.append(helper.make_tensor_value_info("P", TensorProto.FLOAT, list(peepholes.shape)))
            feeds.append(peepholes)
        else:
            initializers.append(numpy_helper.from_array(peepholes, "P"))
        names.append("P")
    while names[-1] == "":
        names.pop()
    outputs = ["Y", "Y_h", "Y_c"][: 3 if kind == "LSTM" else 2]
    node = helper.make_node(kind, names, outputs, hidden_size=HIDDEN, **attrs)
    y_shape = ["time", directions, "batch", HIDDEN] if layout == 0 else ["batch", "time", directions, HIDDEN]
    graph_outputs = [helper.make_tensor_value_info("Y", TensorProto.FLOAT, y_shape)] + [
        helper.make_tensor_value_info(o, TensorProto.FLOAT, state) for o in outputs[1:]]
    graph = helper.make_graph([node], "recurrent", inputs, graph_outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    return model.SerializeToString(), feeds


def _expected(kind, attrs, options, data, feeds) -> list[np.ndarray]:
    """ONNX Runtime's outputs. It runs no layout=1 (batch first) node: those come from the
    layout-0 twin (the same weights and inputs, transposed), transposed back."""
    if attrs.get("layout", 0) == 0:
        return _onnx_runtime(data, feeds)
    twin, twin_feeds = _model(kind, {**attrs, "layout": 0}, options)
    y, *states = _onnx_runtime(twin, twin_feeds)
    return [y.transpose(2, 0, 1, 3)] + [s.transpose(1, 0, 2) for s in states]


def _onnx_runtime(data: bytes, feeds: list) -> list[np.ndarray]:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    return session.run(None, {i.name: v for i, v in zip(session.get_inputs(), feeds)})


def _load_script(path):
    spec = importlib.util.spec_from_file_location(f"exported_onnx_{abs(hash(str(path)))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("kind,attrs,options", VARIANTS, ids=IDS)
def test_onnx_recurrent_nodes_match_onnx_runtime_loaded_exported_and_traced(kind, attrs, options, tmp_path):
    data, feeds = _model(kind, attrs, options)
    expected = _expected(kind, attrs, options, data, feeds)
    (tmp_path / "m.onnx").write_bytes(data)
    model = npinfer.load(tmp_path / "m.onnx")
    got = as_list(model.predict(feeds if len(feeds) > 1 else feeds[0]))
    assert len(got) == len(expected)
    for j, (a, e) in enumerate(zip(got, expected)):
        assert_close(a, e, tolerance=1e-5, what=f"npinfer output {j}")

    export_script(model, str(tmp_path / "m.py"))
    script = _load_script(tmp_path / "m.py")
    for j, (a, e) in enumerate(zip(as_list(script.predict(*feeds)), expected)):
        assert_close(a, e, tolerance=1e-5, what=f"exported output {j}")

    layout = attrs.get("layout", 0)
    y = expected[0] if layout == 0 else expected[0].transpose(1, 2, 0, 3)  # (time, directions, batch, hidden)
    y_h = expected[1] if layout == 0 else expected[1].transpose(1, 0, 2)  # (directions, batch, hidden)
    sample = 1
    record = model.trace(feeds if len(feeds) > 1 else feeds[0], sample=sample)
    (entry,) = [e for e in record["layers"] if e.get("directions")]
    assert len(entry["directions"]) == y.shape[1]
    for d, direction in enumerate(entry["directions"]):
        steps = direction["steps"]
        assert [s["time"] for s in steps] == (list(range(TIME))[::-1] if direction["go_backwards"] else list(range(TIME)))
        for step in steps:  # every step's h is ONNX Runtime's Y there (zeros past the row's length)
            h = np.zeros(HIDDEN, np.float32) if step.get("masked") else step["h"]
            assert_close(h, y[step["time"], d, sample], tolerance=1e-5, what=f"direction {d} step {step['time']}")
        assert_close(steps[-1]["h"], y_h[d, sample], tolerance=1e-5, what=f"direction {d} final h")


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_onnx_recurrent_nodes_run_on_the_fast_kernels(kind, tmp_path, monkeypatch):
    """Default attributes, no sequence_lens: the same fast kernels as a Keras-loaded layer."""
    data, feeds = _model(kind, {"direction": "bidirectional"}, {})
    (tmp_path / "m.onnx").write_bytes(data)
    model = npinfer.load(tmp_path / "m.onnx")
    runs = []
    original = kernels.FastCell.run
    monkeypatch.setattr(kernels.FastCell, "run", lambda self, *a: runs.append(self) or original(self, *a))
    for batch in (3, 40):  # the paired directions at a small batch, two fast loops at a large one
        x = np.random.default_rng(batch).normal(size=(TIME, batch, FEATURES)).astype(np.float32)
        assert_close(as_list(model.predict(x))[1], _onnx_runtime(data, [x])[1], tolerance=1e-5)
    assert len(runs) == 3


def test_constant_initial_states_that_fix_the_batch_run_on_the_tensor_tier(tmp_path):
    """The layer tier refuses a constant initial_h (it fixes the batch size); the tensor tier
    runs the node as it is, with ONNX Runtime's numbers."""
    data, feeds = _model("GRU", {}, {})
    from onnx import load_from_string

    model = load_from_string(data)
    model.graph.initializer.append(numpy_helper.from_array(np.ones((1, BATCH, HIDDEN), np.float32), "h0"))
    model.graph.node[0].input.extend(["", "h0"])
    (tmp_path / "m.onnx").write_bytes(model.SerializeToString())
    from npinfer.importers.onnx_graph import spec_from_onnx
    from npinfer.importers.onnx_proto import read_model
    from npinfer.limits import current

    with pytest.raises(npinfer.UnsupportedOptionError, match="a constant initial_h is not supported"):
        spec_from_onnx(read_model(model.SerializeToString(), current(None), "m.onnx"), "m.onnx")
    loaded = npinfer.load(tmp_path / "m.onnx")
    assert loaded.tier == "tensor"
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    named = dict(zip([i.name for i in session.get_inputs()], feeds))
    expected = session.run(None, named)
    for got, want in zip(as_list(loaded.predict(named)), expected):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


# -- ONNX's clip: bounds every gate's pre-activation, never the cell state (issue 19) --------------
CLIP_CASES = [(kind, clip, direction, batch) for kind in ("LSTM", "GRU", "RNN") for clip in (0.3, 0.7, 2.0)
              for direction in ("forward", "reverse", "bidirectional") for batch in (1, 3, 40)]


def _clip_model(kind, clip, direction, hidden=5, features=4, seed=0):
    """One node with clip, W / R / B from N(0, 0.5) as initializers: large enough that the
    gates' pre-activations and an LSTM's cell state pass the bound."""
    rng = np.random.default_rng(seed)
    directions = 2 if direction == "bidirectional" else 1
    g = GATES[kind] * hidden
    initializers = [numpy_helper.from_array(rng.normal(0, 0.5, shape).astype(np.float32), name) for name, shape in
                    (("W", (directions, g, features)), ("R", (directions, g, hidden)), ("B", (directions, 2 * g)))]
    outputs = ["Y", "Y_h", "Y_c"][: 3 if kind == "LSTM" else 2]
    node = helper.make_node(kind, ["X", "W", "R", "B"], outputs, hidden_size=hidden, clip=clip, direction=direction)
    graph = helper.make_graph([node], "clip", [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["time", "batch", features])],
                              [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs], initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    return model.SerializeToString()


@pytest.mark.parametrize("kind,clip,direction,batch", CLIP_CASES,
                         ids=[f"{k}-clip{c}-{d}-b{b}" for k, c, d, b in CLIP_CASES])
def test_clip_matches_onnx_runtime_on_every_path(kind, clip, direction, batch, tmp_path, monkeypatch):
    """Every path that runs the node gives ONNX Runtime's Y, Y_h (and Y_c) with a clip that
    binds: predict on the fast kernel (both directions paired in one loop at a small batch),
    predict on the readable step, the exported script, trace's steps."""
    data = _clip_model(kind, clip, direction)
    x = np.random.default_rng(batch).normal(size=(6, batch, 4)).astype(np.float32)
    expected = _onnx_runtime(data, [x])
    (tmp_path / "m.onnx").write_bytes(data)
    runs = []
    original = kernels.FastCell.run
    monkeypatch.setattr(kernels.FastCell, "run", lambda self, *a: runs.append(type(self).__name__) or original(self, *a))
    model = npinfer.load(tmp_path / "m.onnx")
    for j, (a, e) in enumerate(zip(as_list(model.predict(x)), expected, strict=True)):
        assert_close(a, e, tolerance=1e-5, what=f"fast kernel output {j}")
    paired = direction == "bidirectional" and batch <= PAIRED_MAX_BATCH
    assert runs == (["PairedFastCell"] if paired else ["FastCell"] * (2 if direction == "bidirectional" else 1))
    fast_runs = len(runs)
    monkeypatch.setattr(cells, "fast_cell", lambda cell: None)  # the readable step only
    for j, (a, e) in enumerate(zip(as_list(npinfer.load(tmp_path / "m.onnx").predict(x)), expected, strict=True)):
        assert_close(a, e, tolerance=1e-5, what=f"readable output {j}")
    assert len(runs) == fast_runs
    export_script(model, str(tmp_path / "m.py"))
    for j, (a, e) in enumerate(zip(as_list(_load_script(tmp_path / "m.py").predict(x)), expected, strict=True)):
        assert_close(a, e, tolerance=1e-5, what=f"exported output {j}")
    sample = batch - 1
    (entry,) = [e for e in model.trace(x, sample=sample)["layers"] if e.get("directions")]
    for d, direction_record in enumerate(entry["directions"]):
        for step in direction_record["steps"]:
            assert_close(step["h"], expected[0][step["time"], d, sample], tolerance=1e-5, what=f"trace d{d} t{step['time']}")
            if kind == "LSTM" and step is direction_record["steps"][-1]:
                assert_close(step["c"], expected[2][d, sample], tolerance=1e-5, what=f"trace d{d} final c")
