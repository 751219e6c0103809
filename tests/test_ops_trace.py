"""TypedModel.trace: every node's outputs on the tensor tier, checked against ONNX Runtime run
with each intermediate value exposed as a graph output; the CLI's `npinfer trace` listing."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from onnx import helper

import npinfer
from ops_parity import assert_same, graph_model, run_onnxruntime


def _reshaping_graph(dtype):
    """y = reshape(x * 3, [-1, shape(x)[1] * 2]) via Shape / Gather / Mul, with a folded constant."""
    nodes = [
        helper.make_node("Constant", [], ["three"], value=helper.make_tensor("t", helper.np_dtype_to_tensor_dtype(np.dtype(dtype)), [], [3])),
        helper.make_node("Constant", [], ["two64"], value=helper.make_tensor("t2", 7, [1], [2])),
        helper.make_node("Mul", ["two64", "two64"], ["four64"], name="folded_mul"),
        helper.make_node("Mul", ["x", "three"], ["scaled"], name="scale"),
        helper.make_node("Shape", ["x"], ["shape"], name="shape"),
        helper.make_node("Gather", ["shape", "one"], ["cols"], name="cols", axis=0),
        helper.make_node("Mul", ["cols", "four64"], ["width"], name="width"),
        helper.make_node("Concat", ["minus_one", "width"], ["target"], name="target", axis=0),
        helper.make_node("Reshape", ["scaled", "target"], ["y"], name="reshape"),
    ]
    x = np.arange(48).reshape(4, 6, 2).astype(dtype)
    model = graph_model(nodes, {"x": x}, {"y": dtype},
                        initializers={"one": np.array([1], np.int64), "minus_one": np.array([-1], np.int64)})
    return model, x


@pytest.mark.parametrize("dtype", [np.float16, np.float64, np.int32, np.int64])  # float32 takes the layer tier
def test_trace_records_every_node_as_onnxruntime_computes_it(tmp_path, dtype):
    model, x = _reshaping_graph(dtype)
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    loaded = npinfer.load(path)
    assert loaded.tier == "tensor"
    record = loaded.trace(x)
    names = [n for node in model.graph.node for n in node.output]
    exposed = model.__class__()
    exposed.CopyFrom(model)
    del exposed.graph.output[:]
    exposed.graph.output.extend(helper.make_empty_tensor_value_info(n) for n in names)
    expected = dict(zip(names, run_onnxruntime(exposed, {"x": x})))
    seen = {}
    for entry in record["layers"]:
        seen.update(entry["outputs"])
    assert sorted(seen) == sorted(names)  # every node, the folded ones included
    for name in names:
        assert_same(seen[name], expected[name], where=name)
    folded = [e["name"] for e in record["layers"] if e["folded"]]
    assert "folded_mul" in folded and "scale" not in folded
    assert_same(record["layers"][-1]["output"], loaded.predict(x))


def test_trace_of_a_sample_other_than_the_first_is_refused(tmp_path):
    model, x = _reshaping_graph(np.int32)
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    with pytest.raises(npinfer.NpinferError, match="whole input"):
        npinfer.load(path).trace(x, sample=1)


def test_cli_trace_lists_each_node_of_a_tensor_tier_graph(tmp_path):
    model, x = _reshaping_graph(np.int64)
    path, data = tmp_path / "m.onnx", tmp_path / "x.npy"
    path.write_bytes(model.SerializeToString())
    np.save(data, x)
    run = subprocess.run([sys.executable, "-m", "npinfer.cli", "trace", str(path), "--input", str(data)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    for line in ("reshape (Reshape)", "folded_mul (Mul)  [folded at load]", "width = int64[1] [24]"):
        assert line in run.stdout


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "npinfer.cli", *map(str, args)], capture_output=True, text=True, timeout=120)


def test_cli_predicts_a_tensor_tier_graph_on_the_whole_input_as_onnxruntime(tmp_path):
    model, x = _reshaping_graph(np.int32)
    path, data, out = tmp_path / "m.onnx", tmp_path / "x.npy", tmp_path / "y.npy"
    path.write_bytes(model.SerializeToString())
    np.save(data, x)
    run = _cli("predict", path, data, "-o", out)
    assert run.returncode == 0, run.stderr
    assert_same(np.load(out), run_onnxruntime(model, {"x": x})[0])


@pytest.mark.parametrize("command, reason", [
    (("export", "{m}", "-o", "{d}/m.py"), "export writes models that map onto layers.*operators: Concat, Gather, Mul, Reshape, Shape"),
    (("verify", "{m}"), "tensor tier, which keeps no layer spec"),
    (("convert", "{m}", "-o", "{d}/m.npz"), "tensor tier, which the .npz format does not hold"),
    (("predict", "{m}", "{d}/x.npy", "--batch-size", "2"), "batch_size is not supported for ONNX graphs run on the tensor tier"),
])
def test_cli_refuses_by_name_what_the_tensor_tier_does_not_do(tmp_path, command, reason):
    import re

    model, x = _reshaping_graph(np.int32)
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    np.save(tmp_path / "x.npy", x)
    run = _cli(*(part.format(m=path, d=tmp_path) for part in command))
    assert run.returncode != 0 and re.search(reason, run.stderr), run.stderr
    assert "internal error" not in run.stderr
