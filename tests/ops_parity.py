"""Small ONNX graphs run through npinfer's tensor tier and ONNX Runtime, compared strictly:
same number of outputs, same dtype, same shape, floats within a tolerance, integers and bools
exactly. The tensor tier's operator tests (tests/test_ops_*.py) build on these two functions.

    model = graph_model([helper.make_node("Add", ["a", "b"], ["y"])],
                        inputs={"a": a, "b": b}, outputs={"y": np.float32})
    assert_matches_onnxruntime(model, {"a": a, "b": b})
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np


def graph_model(nodes, inputs: dict, outputs: dict, opset: int = 21, initializers: dict | None = None,
                domains: dict | None = None, ir_version: int = 10):
    """An onnx ModelProto of `nodes`: `inputs` maps names to example arrays (their dtype and
    shape are declared), `outputs` names to NumPy dtypes (shape left free), `initializers` names
    to constant arrays; `domains` adds opsets of other domains ({"ai.onnx.ml": 3})."""
    from onnx import helper, numpy_helper

    def info(name, dtype, shape):
        return helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(np.dtype(dtype)), shape)

    graph = helper.make_graph(
        nodes, "g",
        [info(name, np.asarray(value).dtype, list(np.asarray(value).shape)) for name, value in inputs.items()],
        [info(name, dtype, None) for name, dtype in outputs.items()],
        [numpy_helper.from_array(np.asarray(value), name) for name, value in (initializers or {}).items()])
    opsets = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, v) for d, v in (domains or {}).items()]
    return helper.make_model(graph, opset_imports=opsets, ir_version=ir_version)


def run_npinfer(model, feeds: dict):
    """npinfer's outputs (a list, in the graph's order) for `feeds` by input name."""
    import npinfer

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        path.write_bytes(model.SerializeToString())
        loaded = npinfer.load(path)
        got = loaded.predict(dict(feeds))
    return [got] if len(loaded.output_names) == 1 else list(got)


def run_onnxruntime(model, feeds: dict) -> list:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, dict(feeds))


def run_reference(model, feeds: dict) -> list:
    """The onnx package's reference evaluator: ONNX's semantics step by step (ONNX Runtime's CPU
    build computes float16 arithmetic in float32 and may drop the rounding between nodes)."""
    from onnx.reference import ReferenceEvaluator

    return ReferenceEvaluator(model).run(None, dict(feeds))


def assert_same(got, expected, rtol: float = 1e-5, atol: float = 1e-6, where: str = "output") -> None:
    """`got` equals `expected` strictly (dtype, shape, values; lists item by item)."""
    if isinstance(expected, list):
        assert isinstance(got, list) and len(got) == len(expected), f"{where}: {type(got)} vs a list of {len(expected)}"
        for i, (a, b) in enumerate(zip(got, expected)):
            assert_same(a, b, rtol, atol, f"{where}[{i}]")
        return
    expected = np.asarray(expected)
    assert isinstance(got, np.ndarray), f"{where}: got {type(got).__name__}"
    assert got.dtype == expected.dtype, f"{where}: dtype {got.dtype}, expected {expected.dtype}"
    assert got.shape == expected.shape, f"{where}: shape {got.shape}, expected {expected.shape}"
    if expected.dtype.kind in "fc":
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol, equal_nan=True, err_msg=where)
    else:
        np.testing.assert_array_equal(got, expected, err_msg=where)


def assert_matches_onnxruntime(model, feeds: dict, rtol: float = 1e-5, atol: float = 1e-6, judge=None) -> list:
    """Run `model` on `feeds` in npinfer and ONNX Runtime (or `judge`, e.g. run_reference) and
    assert every output is the same; returns npinfer's outputs."""
    expected = (judge or run_onnxruntime)(model, feeds)
    got = run_npinfer(model, feeds)
    assert len(got) == len(expected), f"{len(got)} outputs, expected {len(expected)}"
    for i, (a, b) in enumerate(zip(got, expected)):
        assert_same(a, b, rtol, atol, f"output {i}")
    return got
