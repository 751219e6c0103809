"""ONNX files: ONNX's own backend test cases, and models exported from PyTorch (torch.onnx)
and Keras (tf2onnx, in test_onnx_keras.py), against their frameworks' outputs."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
import torch
from torch import nn

import npinfer
from npinfer.errors import ModelFormatError, NpinferError, UnsupportedLayerError, UnsupportedOptionError
from npinfer.importers.onnx_graph import OPERATORS
from onnx_backend import ROUNDED_EXPECTED
from parity import assert_close

torch.set_num_threads(1)


def _backend_cases():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from onnx.backend.test.case.node import collect_testcases

        return [case for case in collect_testcases(None) if case.model is not None]


CASES = _backend_cases()
RECURRENT = [c for c in CASES if any(c.name.startswith(p) for p in ("test_lstm_", "test_gru_", "test_rnn_", "test_simple_rnn_"))]


def _run_case(case, tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(case.model.SerializeToString())
    model = npinfer.load(path)
    for inputs, expected in case.data_sets:
        got = model.predict(list(inputs) if len(inputs) != 1 else inputs[0])
        got = [got] if len(model.output_names) == 1 else got  # one output may itself be a list (a sequence)
        assert len(got) == len(expected)
        for i, (a, b) in enumerate(zip(got, expected)):
            assert a.shape == b.shape, f"{case.name} output {i}: {a.shape} vs {b.shape}"
            tolerance = 1e-4 if case.name in ROUNDED_EXPECTED else 1e-5  # expected values printed to 4 decimals
            assert_close(a, b if b.dtype.kind in "iub" else b.astype(np.float32), tolerance=tolerance, what=f"{case.name} output {i}")


def test_every_recurrent_backend_case_is_here():
    assert len(RECURRENT) == 18, [c.name for c in RECURRENT]


@pytest.mark.parametrize("case", RECURRENT, ids=[c.name for c in RECURRENT])
def test_onnx_backend_recurrent_cases(case, tmp_path):
    _run_case(case, tmp_path)


def _supported_op_cases():
    picked = []
    for case in CASES:
        ops = {n.op_type for n in case.model.graph.node}
        if case not in RECURRENT and ops <= set(OPERATORS) and all(i.type.tensor_type.elem_type == 1 for i in case.model.graph.input):
            picked.append(case)
    return picked


OTHER = _supported_op_cases()


def test_other_backend_cases_match_or_are_refused_by_name(tmp_path):
    """Every backend case of the other operators npinfer reads (float inputs): the right numbers,
    or an NpinferError (rank-0/1 inputs, attributes npinfer does not implement) — never a wrong answer."""
    passed, refused, wrong = [], [], []
    for case in OTHER:
        try:
            _run_case(case, tmp_path)
            passed.append(case.name)
        except NpinferError as err:
            refused.append((case.name, str(err)[:100]))
        except AssertionError as err:
            wrong.append((case.name, str(err)[:300]))
    assert wrong == []
    assert len(passed) >= 191, (len(passed), refused)  # 191 of 351 on onnx 1.23 (170 of 317 before 2-D/3-D windows and Resize); the rest: other dtypes, weights given as inputs, modes refused


# Loop and Split cases give the trip count, condition or split sizes as graph inputs; npinfer needs
# them fixed in the file (it unrolls Loops while loading), so they become initializers here with
# the values of the case's own inputs — the expected outputs are unchanged.
FIXED_INPUTS = ("trip_count", "cond", "split")
FIXED_CASES = [c for c in CASES if c.name == "test_loop11" or (c.name.startswith("test_split_") and "sequence" not in c.name)]


def _with_fixed_inputs(case):
    from onnx import ModelProto, numpy_helper

    model = ModelProto()
    model.CopyFrom(case.model)
    inputs, expected = case.data_sets[0]
    kept_info, kept = [], []
    for info, value in zip(list(model.graph.input), inputs):
        if info.name in FIXED_INPUTS:
            model.graph.initializer.append(numpy_helper.from_array(np.asarray(value), info.name))
        else:
            kept_info.append(info)
            kept.append(value)
    del model.graph.input[:]
    model.graph.input.extend(kept_info)
    return model, kept, expected


def test_loop_and_split_backend_cases_are_here():
    assert len(FIXED_CASES) == 17, [c.name for c in FIXED_CASES]  # onnx 1.23: test_loop11 and 16 Split cases


@pytest.mark.parametrize("case", FIXED_CASES, ids=[c.name for c in FIXED_CASES])
def test_loop_and_split_backend_cases_with_fixed_sizes(case, tmp_path):
    model, inputs, expected = _with_fixed_inputs(case)
    path = tmp_path / "model.onnx"
    path.write_bytes(model.SerializeToString())
    got = npinfer.load(path).predict(inputs if len(inputs) > 1 else inputs[0])
    got = got if isinstance(got, list) else [got]
    assert len(got) == len(expected)
    for i, (a, b) in enumerate(zip(got, expected)):
        assert a.shape == b.shape, f"{case.name} output {i}: {a.shape} vs {b.shape}"
        assert_close(a, b.astype(np.float32), tolerance=1e-5, what=f"{case.name} output {i}")


def test_a_loop_whose_length_is_a_graph_input_runs_on_the_tensor_tier(tmp_path):
    """The layer tier unrolls Loops of constant length; a trip count given at run time (a rank-0
    input) runs on the tensor tier."""
    case = next(c for c in CASES if c.name == "test_loop11")
    _run_case(case, tmp_path)
    assert type(npinfer.load(tmp_path / "model.onnx")).__name__ == "TypedModel"


# -- models exported from PyTorch ---------------------------------------------------------------

def _export(module, example, dynamic: dict, opset: int = 17) -> bytes:
    buffer = io.BytesIO()
    names = [f"input_{i}" for i in range(len(example))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), example, buffer, dynamo=False, input_names=names, opset_version=opset,
                          dynamic_axes={n: dynamic for n in names[:1]})
    return buffer.getvalue()


TORCH_RECURRENT = [(kind, layers, bidirectional, batch_first) for kind in ("RNN", "LSTM", "GRU") for layers in (1, 2)
                   for bidirectional in (False, True) for batch_first in (False, True)]


@pytest.mark.parametrize("kind,layers,bidirectional,batch_first", TORCH_RECURRENT)
def test_torch_exported_recurrent_models(kind, layers, bidirectional, batch_first, tmp_path):
    torch.manual_seed(3)
    module = getattr(nn, kind)(4, 5, num_layers=layers, bidirectional=bidirectional, batch_first=batch_first)
    shape = (2, 6, 4) if batch_first else (6, 2, 4)
    dynamic = {0: "batch", 1: "time"} if batch_first else {0: "time", 1: "batch"}
    (tmp_path / "m.onnx").write_bytes(_export(module, (torch.randn(*shape),), dynamic))
    model = npinfer.load(tmp_path / "m.onnx")
    other = torch.randn(3, 9, 4) if batch_first else torch.randn(9, 3, 4)
    with torch.no_grad():
        expected = [t.numpy() for t in _flat(module(other))]
    got = model.predict(other.numpy())
    for a, b in zip(got, expected):
        assert_close(a, b, tolerance=1e-5)


def _flat(value):
    if isinstance(value, (tuple, list)):
        return [t for item in value for t in _flat(item)]
    return [value]


def test_torch_exported_custom_modules(tmp_path):
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from test_torch_parity import Composed, Tagger, TimeMajorRegressor

    torch.manual_seed(4)
    for make, example, other, dynamic in (
        (Tagger, torch.randint(0, 20, (2, 7)), torch.randint(0, 20, (3, 11)), {0: "b", 1: "t"}),
        (TimeMajorRegressor, torch.randn(6, 2, 3), torch.randn(9, 4, 3), {0: "t", 1: "b"}),
        (Composed, torch.randn(2, 7, 4), torch.randn(3, 10, 4), {0: "b", 1: "t"}),
    ):
        module = make().eval()
        (tmp_path / "m.onnx").write_bytes(_export(module, (example,), dynamic))
        model = npinfer.load(tmp_path / "m.onnx")
        with torch.no_grad():
            expected = [t.numpy() for t in _flat(module(other))]
        got = model.predict(other.numpy())
        got = got if isinstance(got, list) else [got]
        for a, b in zip(got, expected):
            assert_close(a, b, tolerance=1e-5, what=make.__name__)
        model.save(tmp_path / "m.npz")  # the .npz runs the same
        again = npinfer.load(tmp_path / "m.npz").predict(other.numpy())
        assert all(np.array_equal(a, b) for a, b in zip(again if isinstance(again, list) else [again], got))


def test_cli_converts_an_onnx_file_to_npz(tmp_path, capsys):
    """`npinfer convert model.onnx -o model.npz`, then `npinfer predict` on the .npz: torch's numbers."""
    from npinfer.cli import main

    torch.manual_seed(5)
    module = nn.GRU(3, 4, batch_first=True)
    (tmp_path / "m.onnx").write_bytes(_export(module, (torch.randn(2, 5, 3),), {0: "batch", 1: "time"}))
    assert main(["convert", str(tmp_path / "m.onnx"), "-o", str(tmp_path / "m.npz")]) == 0
    assert "wrote" in capsys.readouterr().out
    x = torch.randn(6, 8, 3)
    np.save(tmp_path / "x.npy", x.numpy())
    assert main(["predict", str(tmp_path / "m.npz"), str(tmp_path / "x.npy"), "-o", str(tmp_path / "y.npz")]) == 0
    with np.load(tmp_path / "y.npz") as y, torch.no_grad():
        expected = [t.numpy() for t in _flat(module(x))]
        assert len(y.files) == 2
        for key, b in zip(y.files, expected):
            assert_close(y[key], b, tolerance=1e-5)
    assert main(["convert", str(tmp_path / "m.onnx"), "-o", str(tmp_path / "r.npz"), "--with-reference"]) == 1
    assert "runs the model in Keras; this is an ONNX model" in capsys.readouterr().err
    assert not (tmp_path / "r.npz").exists()


# -- the file's own input and output names (issue 19) -------------------------------------------

def _ort_session(data: bytes):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def _load_script(path):
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"exported_names_{abs(hash(str(path)))}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _assert_names_as_onnx_runtime(data: bytes, feeds: dict, tmp_path):
    """input_names / output_names are ONNX Runtime's; a dict keyed by the file's names gives its
    outputs, in predict, after a save to .npz and in the exported script (INPUT_NAMES)."""
    from npinfer.export import export_script

    session = _ort_session(data)
    inputs, outputs = [i.name for i in session.get_inputs()], [o.name for o in session.get_outputs()]
    expected = session.run(None, feeds)
    (tmp_path / "m.onnx").write_bytes(data)
    model = npinfer.load(tmp_path / "m.onnx")
    model.save(tmp_path / "m.npz")
    for loaded in (model, npinfer.load(tmp_path / "m.npz")):
        assert loaded.input_names == inputs and loaded.output_names == outputs
        got = loaded.predict(feeds)
        for j, (a, e) in enumerate(zip(got if isinstance(got, list) else [got], expected, strict=True)):
            assert_close(a, e, tolerance=1e-5, what=f"output {outputs[j]}")
    named = model.predict(feeds, outputs=[])
    assert sorted(named) == sorted(outputs)
    export_script(model, str(tmp_path / "m.py"))
    script = _load_script(tmp_path / "m.py")
    assert script.INPUT_NAMES == inputs
    got = script.predict(feeds)
    for j, (a, e) in enumerate(zip(got if isinstance(got, list) else [got], expected, strict=True)):
        assert_close(a, e, tolerance=1e-5, what=f"exported output {outputs[j]}")


def test_inputs_and_outputs_keep_the_files_names(tmp_path):
    """Names with '::' and '.', and two ('a:b', 'a_b') that clean to one layer name."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = numpy_helper.from_array(rng.normal(0, 0.5, (3, 4, 3)).astype(np.float32), "conv.weight")
    names = ["onnx::ConvTranspose_0", "skip.1", "a:b", "a_b"]
    shapes = [["batch", 3, 7]] + [["batch", 4, 15]] * 3
    nodes = [helper.make_node("ConvTranspose", [names[0], "conv.weight"], ["onnx::Add_5"], strides=[2]),
             helper.make_node("Add", ["onnx::Add_5", names[1]], ["out::sum"]),
             helper.make_node("Mul", ["out::sum", names[2]], ["t"]),
             helper.make_node("Sub", ["t", names[3]], ["u"]),
             helper.make_node("Tanh", ["u"], ["y.1"])]
    model = _graph(nodes, [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in zip(names, shapes)],
                   [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("y.1", "out::sum")], [weights])
    feeds = {n: rng.normal(size=[2 if d == "batch" else d for d in s]).astype(np.float32) for n, s in zip(names, shapes)}
    _assert_names_as_onnx_runtime(model.SerializeToString(), feeds, tmp_path)


def test_a_torch_export_without_input_names_takes_its_own_names(tmp_path):
    """torch.onnx names an unnamed input 'onnx::ConvTranspose_0' and the output '4'."""
    module = nn.Sequential(nn.ConvTranspose1d(3, 4, 3, stride=2), nn.Tanh()).eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (torch.randn(2, 3, 7),), buffer, dynamo=False, opset_version=17,
                          dynamic_axes={"onnx::ConvTranspose_0": {0: "batch"}})  # the name torch gives it
    data = buffer.getvalue()
    (name,) = [i.name for i in _ort_session(data).get_inputs()]
    assert "::" in name
    x = np.random.default_rng(1).normal(size=(2, 3, 7)).astype(np.float32)
    _assert_names_as_onnx_runtime(data, {name: x}, tmp_path)


# -- refusals and bad files ---------------------------------------------------------------------

def _graph(nodes, inputs, outputs, initializers=()):
    from onnx import helper

    return helper.make_model(helper.make_graph(nodes, "g", inputs, outputs, list(initializers)),
                             opset_imports=[helper.make_opsetid("", 17)])


def test_unsupported_operators_and_attributes_are_refused_by_name(tmp_path):
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", 3, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    cases = [
        (helper.make_node("Bernoulli", ["x"], ["y"]), UnsupportedLayerError, "Bernoulli"),  # random: neither tier runs it
        (helper.make_node("Pad", ["x", "p"], ["y"], mode="bogus"), NpinferError, "bogus"),
    ]
    for node, error, word in cases:
        pads = helper.make_tensor("p", TensorProto.INT64, [6], [0, 0, 0, 0, 1, 1])
        (tmp_path / "m.onnx").write_bytes(_graph([node], [x], [y], [pads]).SerializeToString())
        with pytest.raises(error, match=word):  # the tensor tier checks an attribute's value when the node first runs
            npinfer.load(tmp_path / "m.onnx").predict(np.zeros((1, 3, 4), np.float32))


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty-graph"])
def test_damaged_onnx_files_are_model_format_errors(tmp_path, damage):
    module = nn.GRU(3, 4, batch_first=True)
    data = _export(module, (torch.randn(2, 5, 3),), {0: "b", 1: "t"})
    if damage == "truncate":
        data = data[: len(data) // 2]
    elif damage == "garbage":
        data = b"\x08" + bytes(range(256)) * 4
    else:
        data = b"\x08\x07"
    (tmp_path / "m.onnx").write_bytes(data)
    with pytest.raises(ModelFormatError, match="m.onnx"):
        npinfer.load(tmp_path / "m.onnx")


@pytest.mark.parametrize("op", ["ReduceSumSquare", "ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSum"])
@pytest.mark.parametrize("axes, keepdims", [([1], 1), ([-1], 0), ([0, 2], 1), (None, 0)])
def test_reductions_with_constant_axes_match_onnx_runtime_and_export(tmp_path, op, axes, keepdims):
    """The ONNX reductions (axes as an attribute, opset 13) on a computed tensor and folded on a
    constant: ONNX Runtime's numbers, loaded and in the exported script."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    from npinfer.export import export_script

    as_input = op == "ReduceSum" and axes is not None  # opset 13's ReduceSum takes its axes as a (constant) input
    attributes = {"keepdims": keepdims, **({"axes": axes} if axes is not None and not as_input else {})}
    extra = ["axes"] if as_input else []
    positive = np.abs(np.random.default_rng(3).normal(size=(2, 3, 4))).astype(np.float32) + 0.1
    nodes = [helper.make_node("Abs", ["x"], ["a"]), helper.make_node(op, ["a"] + extra, ["y"], **attributes),
             helper.make_node(op, ["c"] + extra, ["folded"], **attributes), helper.make_node("Add", ["y", "folded"], ["z"])]
    initializers = [numpy_helper.from_array(positive, "c")]
    if as_input:
        initializers.append(numpy_helper.from_array(np.array(axes, np.int64), "axes"))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3, 4])],
                              [helper.make_tensor_value_info("z", TensorProto.FLOAT, None)], initializer=initializers)
    path = tmp_path / "reduce.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    x = np.random.default_rng(4).normal(size=(2, 3, 4)).astype(np.float32) * 3
    expected = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    model = npinfer.load(path)
    assert_close(model.predict(x), expected, tolerance=1e-5, what=op)
    export_script(model, str(tmp_path / "reduce_script.py"))
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"reduce_{op}_{keepdims}_{axes}".replace("-", "m").replace(",", "_"),
                                                  tmp_path / "reduce_script.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert_close(script.predict(x), expected, tolerance=1e-5, what=f"{op} exported")
