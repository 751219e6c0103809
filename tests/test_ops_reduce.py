"""The tensor tier's reduce family (src/npinfer/ops/reduce.py) against ONNX Runtime: one-node
graphs on seeded random inputs, parametrized over element types, attributes and the opsets where
the meaning changed, compared strictly (dtype, shape, values). The graphs run on the tensor tier
itself (TypedModel), not on the layer tier that npinfer.load would try first for float32. Where
ONNX Runtime has no kernel for a type, onnx.reference.ReferenceEvaluator is the anchor."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper
from ops_parity import assert_same, graph_model, run_onnxruntime

import npinfer

F16, F32, F64 = np.float16, np.float32, np.float64
I32, I64, U32, U64, I8, U8 = np.int32, np.int64, np.uint32, np.uint64, np.int8, np.uint8


def run_tensor_tier(model, feeds: dict) -> list:
    """npinfer's tensor tier (TypedModel) on `model`: its outputs, a list in the graph's order."""
    from npinfer.importers.onnx_proto import read_model
    from npinfer.limits import current
    from npinfer.ops.model import TypedModel

    typed = TypedModel(read_model(model.SerializeToString(), current(None), "test.onnx"), "test.onnx")
    got = typed.predict(dict(feeds))
    return [got] if len(typed.output_names) == 1 else list(got)


def expected_outputs(model, feeds: dict) -> list:
    """ONNX Runtime's outputs; the reference evaluator's where ORT has no kernel for the case."""
    from onnxruntime.capi.onnxruntime_pybind11_state import (
        NotImplemented as OrtNotImplemented,
    )

    try:
        return run_onnxruntime(model, feeds)
    except OrtNotImplemented:
        from onnx.reference import ReferenceEvaluator

        return [np.asarray(v) for v in ReferenceEvaluator(model).run(None, feeds)]


def tolerance(dtype) -> dict:
    return {np.dtype(F16): {"rtol": 2e-3, "atol": 2e-3}, np.dtype(F64): {"rtol": 1e-10, "atol": 1e-12}}.get(
        np.dtype(dtype), {"rtol": 1e-5, "atol": 1e-6})


def check(op: str, inputs: dict, outputs: dict, opset: int = 21, initializers: dict | None = None, **attributes):
    """One `op` node of `inputs` (name -> array; None leaves an optional input out) to `outputs`
    (name -> dtype), run by npinfer's tensor tier and ONNX Runtime, compared strictly."""
    names = [name if value is not None else "" for name, value in {**inputs, **(initializers or {})}.items()]
    node = helper.make_node(op, names, list(outputs), **attributes)
    feeds = {k: v for k, v in inputs.items() if v is not None}
    model = graph_model([node], feeds, outputs, opset=opset, initializers=initializers)
    want = expected_outputs(model, feeds)
    got = run_tensor_tier(model, feeds)
    assert len(got) == len(want)
    dtype = next(iter(feeds.values())).dtype
    for i, (a, b) in enumerate(zip(got, want)):
        assert_same(a, b, where=f"{op} output {i}", **tolerance(dtype))
    return got


def random(shape, dtype, seed: int = 0, low: int = -5, high: int = 6) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    if np.dtype(dtype).kind == "u":
        low = 0
    if np.dtype(dtype) == np.bool_:
        return rng.random(shape) > 0.5
    return rng.integers(low, high, shape).astype(dtype)


def refused(model, feeds: dict, word: str) -> None:
    with pytest.raises(npinfer.UnsupportedOptionError, match=word):
        run_tensor_tier(model, feeds)


# -- reductions ------------------------------------------------------------------------------

REDUCE_TYPES = {"ReduceSum": [F32, F64, F16, I32, I64], "ReduceMean": [F32, F64, F16, I32, I64],
                "ReduceMax": [F32, F64, F16, I32, I64, I8, U8], "ReduceMin": [F32, F64, F16, I32, I64, I8, U8],
                "ReduceProd": [F32, F64, I32, I64], "ReduceL1": [F32, F64, I32, I64], "ReduceL2": [F32, F64, I32, I64],
                "ReduceSumSquare": [F32, F64, I32, I64], "ReduceLogSum": [F32, F64], "ReduceLogSumExp": [F32, F64]}
REDUCE_CASES = [(op, dtype) for op, dtypes in REDUCE_TYPES.items() for dtype in dtypes]
AXES = [None, [1], [-1], [0, 2], [2, 0, 1]]


def reduce_input(op: str, dtype, shape=(3, 4, 5)) -> np.ndarray:
    x = random(shape, dtype, seed=1, low=-3, high=4)
    if op == "ReduceLogSum":
        x = np.abs(x) + dtype(0.1)  # a positive sum
    if op == "ReduceProd" and np.dtype(dtype).kind == "f":
        x = (x / 2 + dtype(1)).astype(dtype)
    return x


@pytest.mark.parametrize("op,dtype", REDUCE_CASES)
@pytest.mark.parametrize("axes", AXES)
@pytest.mark.parametrize("keepdims", [0, 1])
def test_reduce_axes_input(op, dtype, axes, keepdims):
    """Opset 18: axes is an input (left out: every axis)."""
    x = reduce_input(op, dtype)
    inputs = {"x": x, "axes": None if axes is None else np.array(axes, np.int64)}
    check(op, inputs, {"y": dtype}, opset=18, keepdims=keepdims)


@pytest.mark.parametrize("op,dtype", [(op, t) for op, t in REDUCE_CASES if t in (F32, I64)])
@pytest.mark.parametrize("axes", [None, [1], [0, -1]])
@pytest.mark.parametrize("opset", [11, 13])
def test_reduce_axes_attribute(op, dtype, axes, opset):
    """Before opset 18 (13 for ReduceSum) axes is an attribute."""
    if op == "ReduceSum" and opset == 13:
        opset = 11
    x = reduce_input(op, dtype)
    attributes = {} if axes is None else {"axes": axes}
    check(op, {"x": x}, {"y": dtype}, opset=opset, keepdims=1, **attributes)


@pytest.mark.parametrize("op", list(REDUCE_TYPES))
@pytest.mark.parametrize("noop", [0, 1])
def test_reduce_empty_axes(op, noop):
    """An empty axes input: every axis, or none with noop_with_empty_axes."""
    x = reduce_input(op, F32)
    check(op, {"x": x, "axes": np.array([], np.int64)}, {"y": F32}, opset=18, keepdims=1, noop_with_empty_axes=noop)


@pytest.mark.parametrize("op,dtype", [(op, t) for op, t in REDUCE_CASES if t in (F32, I32)])
@pytest.mark.parametrize("keepdims", [0, 1])
def test_reduce_empty_set(op, dtype, keepdims):
    """Reducing an axis of size 0 gives the operation's identity (max: -inf / the type's lowest)."""
    if op == "ReduceMean":
        return  # ORT and the reference evaluator disagree (NaN vs an error); npinfer gives NaN as NumPy
    x = np.zeros((2, 0, 4), dtype)
    check(op, {"x": x, "axes": np.array([1], np.int64)}, {"y": dtype}, opset=18, keepdims=keepdims)


def test_reduce_integer_mean_truncates():
    x = np.array([[-7, 2, 0], [7, 1, 1]], np.int64)
    check("ReduceMean", {"x": x, "axes": np.array([1], np.int64)}, {"y": I64}, opset=18, keepdims=0)


def test_reduce_bool_max_min():
    x = random((3, 4), np.bool_)
    for op in ("ReduceMax", "ReduceMin"):
        check(op, {"x": x, "axes": np.array([1], np.int64)}, {"y": np.bool_}, opset=20, keepdims=0)


def test_reduce_refusals():
    x = random((2, 3), I32)
    model = graph_model([helper.make_node("ReduceLogSum", ["x"], ["y"])], {"x": x}, {"y": I32}, opset=18)
    refused(model, {"x": x}, "ReduceLogSum")


@pytest.mark.parametrize("op", ["ArgMax", "ArgMin"])
@pytest.mark.parametrize("dtype", [F32, F64, F16, I32, I64, U8, I8])
@pytest.mark.parametrize("axis,keepdims,last", [(0, 1, 0), (-1, 0, 0), (1, 1, 1), (-2, 0, 1)])
def test_arg_reduce(op, dtype, axis, keepdims, last):
    x = random((3, 4, 5), dtype, seed=2, low=0, high=3)  # many ties
    check(op, {"x": x}, {"y": I64}, opset=13, axis=axis, keepdims=keepdims, select_last_index=last)


# -- matrix products -------------------------------------------------------------------------

MATMUL_SHAPES = [((3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)), ((4,), (4,)), ((2, 3, 4), (4, 5)),
                 ((2, 1, 3, 4), (5, 4, 2)), ((3, 4), (2, 4, 5))]


@pytest.mark.parametrize("dtype", [F32, F64, F16, I32, I64, U32, U64])
@pytest.mark.parametrize("shapes", MATMUL_SHAPES)
def test_matmul(dtype, shapes):
    a, b = random(shapes[0], dtype, 3), random(shapes[1], dtype, 4)
    check("MatMul", {"a": a, "b": b}, {"y": dtype}, opset=13)


def test_matmul_refuses_mixed_and_mismatch():
    a, b = random((3, 4), F32), random((5, 2), F32)
    model = graph_model([helper.make_node("MatMul", ["a", "b"], ["y"])], {"a": a, "b": b}, {"y": F32}, opset=13)
    with pytest.raises(npinfer.NpinferError, match="cannot multiply"):
        run_tensor_tier(model, {"a": a, "b": b})


@pytest.mark.parametrize("dtype", [F32, F64, F16, I32, I64])
@pytest.mark.parametrize("trans_a,trans_b", [(0, 0), (1, 0), (0, 1), (1, 1)])
@pytest.mark.parametrize("c_shape", [None, (), (1,), (5,), (3, 1), (3, 5)])
def test_gemm(dtype, trans_a, trans_b, c_shape):
    a = random((4, 3) if trans_a else (3, 4), dtype, 5)
    b = random((5, 4) if trans_b else (4, 5), dtype, 6)
    c = None if c_shape is None else random(c_shape, dtype, 7)
    factors = {} if np.dtype(dtype).kind in "iu" else {"alpha": 0.5, "beta": 2.0}
    check("Gemm", {"a": a, "b": b, "c": c}, {"y": dtype}, opset=13, transA=trans_a, transB=trans_b, **factors)


@pytest.mark.parametrize("opset", [9, 11])
def test_gemm_opsets(opset):
    a, b, c = random((3, 4), F32, 1), random((4, 5), F32, 2), random((5,), F32, 3)
    check("Gemm", {"a": a, "b": b, "c": c}, {"y": F32}, opset=opset, alpha=1.5, beta=-0.5)


def test_gemm_integer_fraction_refused():
    a, b = random((3, 4), I32, 1), random((4, 5), I32, 2)
    model = graph_model([helper.make_node("Gemm", ["a", "b"], ["y"], alpha=0.5)], {"a": a, "b": b}, {"y": I32}, opset=13)
    refused(model, {"a": a, "b": b}, "Gemm")


EINSUM = [("ij,jk->ik", [(3, 4), (4, 5)]), ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]), ("ij->ji", [(3, 4)]),
          ("ii->i", [(4, 4)]), ("i,i", [(5,), (5,)]), ("ij", [(3, 4)]), ("ji", [(3, 4)]), ("ij->", [(3, 4)]),
          ("...ij,...jk->...ik", [(2, 3, 4), (2, 4, 5)]), ("...ii->...i", [(2, 3, 3)]),
          ("i, j -> ij", [(3,), (4,)]), ("bhqd,bhkd->bhqk", [(2, 2, 3, 4), (2, 2, 5, 4)])]


@pytest.mark.parametrize("dtype", [F32, F64, I32, I64])
@pytest.mark.parametrize("equation,shapes", EINSUM)
def test_einsum(dtype, equation, shapes):
    inputs = {f"x{i}": random(s, dtype, 10 + i) for i, s in enumerate(shapes)}
    check("Einsum", inputs, {"y": dtype}, opset=12, equation=equation)


# -- softmax ---------------------------------------------------------------------------------

@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax", "Hardmax"])
@pytest.mark.parametrize("dtype", [F32, F64, F16])
@pytest.mark.parametrize("opset", [11, 13])
@pytest.mark.parametrize("axis", [None, 0, 1, 2, -1, -3])
def test_softmax_family(op, dtype, opset, axis):
    """Before opset 13 the input is flattened to 2-D at axis (default 1); from 13, along axis (-1)."""
    if op == "Hardmax" and opset < 13 and dtype != F32:
        return  # ONNX Runtime runs opset-11 Hardmax for float only
    x = random((2, 3, 4), dtype, 12)
    if op == "Hardmax":
        x = np.round(x).astype(dtype)  # ties: the first maximum
    attributes = {} if axis is None else {"axis": axis}
    check(op, {"x": x}, {"y": dtype}, opset=opset, **attributes)


# -- TopK, CumSum, CumProd, Det --------------------------------------------------------------

@pytest.mark.parametrize("dtype", [F32, F64, I32, I64, U64])
@pytest.mark.parametrize("axis", [-1, 0, 1])
@pytest.mark.parametrize("largest", [0, 1])
@pytest.mark.parametrize("k", [0, 1, 3])
def test_top_k(dtype, axis, largest, k):
    x = random((3, 4, 5), dtype, 13, low=0, high=4)  # ties: smaller index first
    check("TopK", {"x": x, "k": np.array([k], np.int64)}, {"values": dtype, "indices": I64}, opset=11,
          axis=axis, largest=largest, sorted=1)


@pytest.mark.parametrize("opset", [1, 10])
def test_top_k_opsets(opset):
    """Opset 1 takes k as an attribute, 10 as an input (largest only)."""
    x = random((4, 6), F32, 14)
    inputs, attributes = ({"x": x}, {"k": 2}) if opset == 1 else ({"x": x, "k": np.array([2], np.int64)}, {})
    check("TopK", inputs, {"values": F32, "indices": I64}, opset=max(opset, 7) if opset == 1 else opset, **attributes)


def test_top_k_unsorted_same_set():
    """sorted=0 leaves the order free: the same values and indices as a set."""
    x = random((3, 8), F32, 15)
    node = helper.make_node("TopK", ["x", "k"], ["v", "i"], sorted=0)
    feeds = {"x": x, "k": np.array([3], np.int64)}
    model = graph_model([node], feeds, {"v": F32, "i": I64}, opset=11)
    (v, i), (ev, ei) = run_tensor_tier(model, feeds), run_onnxruntime(model, feeds)
    np.testing.assert_array_equal(np.sort(i, axis=1), np.sort(ei, axis=1))
    np.testing.assert_array_equal(np.sort(v, axis=1), np.sort(ev, axis=1))


@pytest.mark.parametrize("op", ["CumSum", "CumProd"])
@pytest.mark.parametrize("dtype", [F32, F64, I32, I64])
@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("exclusive,reverse", [(0, 0), (1, 0), (0, 1), (1, 1)])
@pytest.mark.parametrize("axis_type", [I32, I64])
def test_cumulative(op, dtype, axis, exclusive, reverse, axis_type):
    x = random((3, 4), dtype, 16, low=-2, high=3)
    inputs = {"x": x, "axis": np.array(axis, axis_type)}
    if op == "CumProd":  # opset 26: newer than ORT's CPU kernels, so the reference evaluator is the anchor
        from onnx.reference import ReferenceEvaluator

        node = helper.make_node(op, ["x", "axis"], ["y"], exclusive=exclusive, reverse=reverse)
        model = graph_model([node], inputs, {"y": dtype}, opset=26, ir_version=13)
        want = ReferenceEvaluator(model).run(None, inputs)
        assert_same(run_tensor_tier(model, inputs), [np.asarray(w) for w in want], **tolerance(dtype))
        return
    check(op, inputs, {"y": dtype}, opset=14, exclusive=exclusive, reverse=reverse)


@pytest.mark.parametrize("dtype", [F32, F64])
@pytest.mark.parametrize("shape", [(3, 3), (2, 4, 4), (1, 1)])
def test_det(dtype, shape):
    check("Det", {"x": random(shape, dtype, 17)}, {"y": dtype}, opset=11)


# -- normalizations --------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [F32, F64, F16])
@pytest.mark.parametrize("axis", [-1, 0, 1, 2])
@pytest.mark.parametrize("bias", [True, False])
def test_layer_normalization(dtype, axis, bias):
    """Y, Mean and InvStdDev; float16 computes its statistics in float32 (stash_type 1)."""
    x = random((2, 3, 4), dtype, 18)
    normalized = x.shape[axis:]
    scale, b = random(normalized, dtype, 19), random(normalized, dtype, 20)
    if not bias:  # ONNX Runtime 1.32 crashes (segfault) on a LayerNormalization without B: the reference evaluator
        from onnx.reference import ReferenceEvaluator

        node = helper.make_node("LayerNormalization", ["x", "scale"], ["y"], axis=axis, epsilon=1e-3)
        model = graph_model([node], {"x": x, "scale": scale}, {"y": dtype}, opset=17)
        want = ReferenceEvaluator(model).run(None, {"x": x, "scale": scale})
        assert_same(run_tensor_tier(model, {"x": x, "scale": scale}), [np.asarray(w) for w in want], **tolerance(dtype))
        return
    check("LayerNormalization", {"x": x, "scale": scale, "b": b}, {"y": dtype, "mean": F32, "inv": F32},
          opset=17, axis=axis, epsilon=1e-3)


@pytest.mark.parametrize("dtype", [F32, F64, F16])
@pytest.mark.parametrize("axis", [-1, 1, 0])
def test_rms_normalization(dtype, axis):
    x = random((2, 3, 4), dtype, 21)
    scale = random(x.shape[axis:], dtype, 22)
    check("RMSNormalization", {"x": x, "scale": scale}, {"y": dtype}, opset=23, axis=axis, epsilon=1e-4)


@pytest.mark.parametrize("dtype", [F32, F64, F16])
@pytest.mark.parametrize("opset", [18, 21])
@pytest.mark.parametrize("groups", [1, 2, 4])
def test_group_normalization(dtype, opset, groups):
    """Opset 18: scale and bias per group; 21: per channel."""
    x = random((2, 4, 3, 2), dtype, 23)
    per = groups if opset == 18 else 4
    scale, bias = random((per,), dtype, 24), random((per,), dtype, 25)
    if dtype == F64 and opset == 21:  # the statistics in float32 (stash_type 1): float32's tolerance
        model = graph_model([helper.make_node("GroupNormalization", ["x", "scale", "bias"], ["y"], num_groups=groups,
                                              epsilon=1e-3)], {"x": x, "scale": scale, "bias": bias}, {"y": dtype}, opset=21)
        feeds = {"x": x, "scale": scale, "bias": bias}
        assert_same(run_tensor_tier(model, feeds), run_onnxruntime(model, feeds), rtol=1e-5, atol=1e-6)
        return
    check("GroupNormalization", {"x": x, "scale": scale, "bias": bias}, {"y": dtype}, opset=opset,
          num_groups=groups, epsilon=1e-3)


@pytest.mark.parametrize("dtype", [F32])  # ORT's function body mixes float constants into a double graph
@pytest.mark.parametrize("axes", [None, [0, 2, 3], [1], [2, 3]])
def test_mean_variance_normalization(dtype, axes):
    x = random((2, 3, 4, 5), dtype, 26)
    attributes = {} if axes is None else {"axes": axes}
    check("MeanVarianceNormalization", {"x": x}, {"y": dtype}, opset=13, **attributes)


@pytest.mark.parametrize("dtype", [F32, F64])
@pytest.mark.parametrize("p", [1, 2])
@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_lp_normalization(dtype, p, axis):
    x = random((3, 4), dtype, 27)
    x[1] = 0  # a zero norm gives 0
    check("LpNormalization", {"x": x}, {"y": dtype}, opset=13, p=p, axis=axis)


# -- losses ----------------------------------------------------------------------------------

LOSS_SHAPES = [(3, 5), (3, 5, 2), (2, 5, 2, 3)]


@pytest.mark.parametrize("op", ["NegativeLogLikelihoodLoss", "SoftmaxCrossEntropyLoss"])
@pytest.mark.parametrize("dtype", [F32, F64])
@pytest.mark.parametrize("shape", LOSS_SHAPES)
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("weights", [False, True])
@pytest.mark.parametrize("ignore_index", [None, 2, -1])
@pytest.mark.parametrize("target_type", [I64, I32])
def test_losses(op, dtype, shape, reduction, weights, ignore_index, target_type):
    rng = np.random.default_rng(28)
    x = random(shape, dtype, 29)
    target = rng.integers(0, shape[1], shape[:1] + shape[2:]).astype(target_type)
    if ignore_index is not None:
        target.reshape(-1)[0] = ignore_index
    inputs = {"x": x, "target": target, "w": np.abs(random((shape[1],), dtype, 30)) if weights else None}
    outputs = {"loss": dtype} if op == "NegativeLogLikelihoodLoss" else {"loss": dtype, "log_prob": dtype}
    attributes = {} if ignore_index is None else {"ignore_index": ignore_index}
    check(op, inputs, outputs, opset=13, reduction=reduction, **attributes)


def test_loss_target_out_of_range():
    x, target = random((2, 3), F32), np.array([0, 3], np.int64)
    model = graph_model([helper.make_node("NegativeLogLikelihoodLoss", ["x", "t"], ["y"])], {"x": x, "t": target},
                        {"y": F32}, opset=13)
    with pytest.raises(npinfer.NpinferError, match="NegativeLogLikelihoodLoss"):
        run_tensor_tier(model, {"x": x, "t": target})
