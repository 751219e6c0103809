"""The tensor tier's shape family (src/npinfer/ops/shape.py) against ONNX Runtime, strictly
(dtype, shape, values), parametrized over element types, attributes, run-time shape / axes
inputs and opsets. Each graph is run on the tensor tier directly (not through the layer tier,
which takes some float graphs first). Where ONNX Runtime has no kernel for a case (a type or
an opset it lacks), onnx.reference.ReferenceEvaluator is the reference."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

import npinfer
from npinfer.errors import InputError, ModelFormatError, UnsupportedOptionError
from ops_parity import assert_same, graph_model

I64 = np.iinfo(np.int64)
ALL = [np.float32, np.float16, np.float64, np.int8, np.int32, np.int64, np.uint8, np.bool_]
NUMERIC = [np.float32, np.float16, np.float64, np.int8, np.int32, np.int64, np.uint8]


def sample(rng, shape, dtype):
    """Random values of `dtype`: normal floats, small signed / unsigned integers, bools."""
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return np.asarray(rng.random(shape) < 0.5)
    if dtype.kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    low = 0 if dtype.kind == "u" else -50
    return rng.integers(low, 50, shape).astype(dtype)


def typed(model):
    """`model` loaded straight onto the tensor tier."""
    from npinfer.importers.onnx_proto import read_model
    from npinfer.limits import current
    from npinfer.ops.model import TypedModel

    return TypedModel(read_model(model.SerializeToString(), current(None), "test.onnx"), "test.onnx")


def expected_outputs(model, feeds: dict) -> list:
    """ONNX Runtime's outputs, or the reference evaluator's where ONNX Runtime has no kernel."""
    import onnxruntime
    from onnxruntime.capi.onnxruntime_pybind11_state import NotImplemented as NoKernel

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    try:
        session = onnxruntime.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    except NoKernel:
        from onnx.reference import ReferenceEvaluator

        return [np.asarray(v) for v in ReferenceEvaluator(model).run(None, feeds)]
    return session.run(None, feeds)


def check(nodes, inputs: dict, outputs: dict, opset: int = 21, initializers=None, rtol=1e-5, atol=1e-6) -> list:
    """Build the graph, run it on npinfer's tensor tier and the reference, compare strictly."""
    model = graph_model(nodes, inputs, outputs, opset=opset, initializers=initializers)
    expected = expected_outputs(model, inputs)
    got = typed(model).predict(dict(inputs))
    got = [got] if len(outputs) == 1 else list(got)
    assert len(got) == len(expected)
    for i, (a, b) in enumerate(zip(got, expected)):
        assert_same(a, b, rtol, atol, f"output {i}")
    return got


def one(op, inputs: dict, dtype, /, opset=21, outputs=1, **attrs) -> list:
    """check() of a single node `op` reading `inputs` in order (a None value: left out)."""
    names = [name if value is not None else "" for name, value in inputs.items()]
    outs = [f"y{i}" for i in range(outputs)]
    feeds = {k: v for k, v in inputs.items() if v is not None}
    return check([helper.make_node(op, names, outs, **attrs)], feeds,
                 {o: (dtype[i] if isinstance(dtype, list) else dtype) for i, o in enumerate(outs)}, opset)


def i64(*values):
    return np.array(values, np.int64)


# -- Shape, Size, Reshape, Flatten, Squeeze, Unsqueeze, Transpose ------------------------------

@pytest.mark.parametrize("dtype", ALL)
@pytest.mark.parametrize("bounds", [{}, {"start": 1}, {"end": -1}, {"start": -2, "end": 3}, {"start": -10, "end": 10},
                                    {"start": 3, "end": 1}])
def test_shape(dtype, bounds):
    x = sample(np.random.default_rng(0), (2, 3, 4, 1), dtype)
    one("Shape", {"x": x}, np.int64, opset=21 if bounds else 13, **bounds)


@pytest.mark.parametrize("dtype", ALL)
@pytest.mark.parametrize("shape", [(), (0, 3), (2, 3, 4)])
def test_size(dtype, shape):
    one("Size", {"x": sample(np.random.default_rng(1), shape, dtype)}, np.int64)


@pytest.mark.parametrize("dtype", ALL)
@pytest.mark.parametrize("target", [(4, 6), (0, -1), (-1,), (2, 0, 2, 2), (3, 8), (1, 1, -1, 1), ()])
def test_reshape(dtype, target):
    x = sample(np.random.default_rng(2), (2, 3, 4) if target != () else (1, 1), dtype)
    one("Reshape", {"x": x, "shape": i64(*target)}, dtype)


@pytest.mark.parametrize("allowzero", [0, 1])
def test_reshape_allowzero(allowzero):
    x = np.zeros((0, 3, 4), np.float32)
    one("Reshape", {"x": x, "shape": i64(3, 4, 0)}, np.float32, opset=14, allowzero=allowzero) if allowzero else \
        one("Reshape", {"x": x, "shape": i64(0, 12)}, np.float32, opset=14)


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.bool_, np.float16])
@pytest.mark.parametrize("axis", [-3, -1, 0, 1, 2, 3])
def test_flatten(dtype, axis):
    one("Flatten", {"x": sample(np.random.default_rng(3), (2, 3, 4), dtype)}, dtype, axis=axis)


@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.bool_, np.float64])
@pytest.mark.parametrize("axes", [None, (0,), (-1, 2), (2, 0)])
@pytest.mark.parametrize("opset", [11, 13])
def test_squeeze(dtype, axes, opset):
    x = sample(np.random.default_rng(4), (1, 3, 1, 1), dtype)
    if opset < 13:
        one("Squeeze", {"x": x}, dtype, opset=opset, **({} if axes is None else {"axes": list(axes)}))
    else:
        one("Squeeze", {"x": x} if axes is None else {"x": x, "axes": i64(*axes)}, dtype, opset=opset)


@pytest.mark.parametrize("dtype", [np.float32, np.int8, np.bool_, np.uint8])
@pytest.mark.parametrize("axes", [(0,), (-1,), (3, 0), (1, -1, 2)])
@pytest.mark.parametrize("opset", [11, 13, 21])
def test_unsqueeze(dtype, axes, opset):
    x = sample(np.random.default_rng(5), (2, 3), dtype)
    if opset < 13:
        one("Unsqueeze", {"x": x}, dtype, opset=opset, axes=list(axes))
    else:
        one("Unsqueeze", {"x": x, "axes": i64(*axes)}, dtype, opset=opset)


def test_unsqueeze_scalar():
    one("Unsqueeze", {"x": np.array(3.5, np.float32), "axes": i64(0)}, np.float32)


@pytest.mark.parametrize("dtype", ALL)
@pytest.mark.parametrize("perm", [None, (0, 1, 2), (2, 0, 1), (1, 2, 0)])
def test_transpose(dtype, perm):
    x = sample(np.random.default_rng(6), (2, 3, 4), dtype)
    one("Transpose", {"x": x}, dtype, **({} if perm is None else {"perm": list(perm)}))


# -- Concat, Split, Slice --------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ALL)
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concat(dtype, axis):
    rng = np.random.default_rng(7)
    shapes = [[2, 3, 4], [2, 3, 4], [2, 3, 4]]
    for i, size in enumerate((1, 2, 0)):
        shapes[i][axis] = size if i else shapes[i][axis]
    inputs = {f"x{i}": sample(rng, s, dtype) for i, s in enumerate(shapes)}
    check([helper.make_node("Concat", list(inputs), ["y"], axis=axis)], inputs, {"y": dtype})


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.bool_, np.float16])
@pytest.mark.parametrize("opset, sizes, outputs", [
    (11, None, 3), (11, (1, 2, 3), 3), (13, None, 2), (13, (4, 0, 2), 3), (18, "num", 4), (18, "num", 3),
    (18, (3, 3), 2)])
def test_split(dtype, opset, sizes, outputs):
    x = sample(np.random.default_rng(8), (2, 6, 3), dtype)
    names = [f"y{i}" for i in range(outputs)]
    attrs = {"axis": 1}
    inputs = {"x": x}
    if sizes == "num":
        attrs["num_outputs"] = outputs
        x = sample(np.random.default_rng(8), (2, 7, 3), dtype)
        inputs = {"x": x}
    elif sizes is not None and opset < 13:
        attrs["split"] = list(sizes)
    elif sizes is not None:
        inputs["split"] = i64(*sizes)
    check([helper.make_node("Split", list(inputs), names, **attrs)], inputs, {n: dtype for n in names}, opset)


SLICES = [  # starts, ends, axes, steps
    ((0, 1), (2, 3), None, None),
    ((1,), (-1,), (1,), None),
    ((-100, 2), (100, -1), (0, 2), None),
    ((I64.max,), (I64.min,), (1,), (-1,)),
    ((-1, 3), (I64.min, 0), (-1, 1), (-2, -1)),
    ((5, -100), (-200, -200), (2, 1), (-1, -1)),
    ((0, 0, 0), (3, 4, 5), (0, 1, 2), (2, 3, 2)),
    ((2,), (2,), (0,), (1,)),
    ((-3,), (10,), (-3,), (3,)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.bool_, np.float16, np.uint8])
@pytest.mark.parametrize("index_type", [np.int64, np.int32])
@pytest.mark.parametrize("starts, ends, axes, steps", SLICES)
def test_slice(dtype, index_type, starts, ends, axes, steps):
    x = sample(np.random.default_rng(9), (3, 4, 5), dtype)

    def tensor(v):
        return None if v is None else np.array(v, np.int64).clip(np.iinfo(index_type).min, np.iinfo(index_type).max).astype(index_type)

    inputs = {"x": x, "starts": tensor(starts), "ends": tensor(ends), "axes": tensor(axes), "steps": tensor(steps)}
    if steps is None:
        inputs.pop("steps")
        if axes is None:
            inputs.pop("axes")
    one("Slice", inputs, dtype)


@pytest.mark.parametrize("starts, ends, axes", [((0, 1), (2, 3), None), ((-100,), (100,), (1,)), ((1, -2), (-1, 1000), (2, 0))])
def test_slice_opset9_attributes(starts, ends, axes):
    x = sample(np.random.default_rng(10), (3, 4, 5), np.float32)
    one("Slice", {"x": x}, np.float32, opset=9, starts=list(starts), ends=list(ends), **({} if axes is None else {"axes": list(axes)}))


# -- Gather, GatherElements, GatherND --------------------------------------------------------

@pytest.mark.parametrize("dtype", ALL)
@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("index_type", [np.int64, np.int32])
@pytest.mark.parametrize("index_shape", [(), (4,), (2, 3)])
def test_gather(dtype, axis, index_type, index_shape):
    rng = np.random.default_rng(11)
    x = sample(rng, (3, 4, 5), dtype)
    size = x.shape[axis]
    indices = rng.integers(-size, size, index_shape).astype(index_type)
    one("Gather", {"x": x, "i": indices}, dtype, axis=axis)


@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.bool_, np.float16])
@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("index_shape", [(3, 4, 5), (2, 3, 2), (3, 4, 1)])
def test_gather_elements(dtype, axis, index_shape):
    rng = np.random.default_rng(12)
    x = sample(rng, (3, 4, 5), dtype)
    size = x.shape[axis]
    index_shape = list(index_shape)
    index_shape[axis] = 6
    one("GatherElements", {"x": x, "i": rng.integers(-size, size, index_shape).astype(np.int64)}, dtype, axis=axis)


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.bool_, np.float64])
@pytest.mark.parametrize("batch_dims, data_shape, index_shape", [
    (0, (3, 4, 5), (2, 1)), (0, (3, 4, 5), (2, 3, 2)), (0, (3, 4, 5), (6, 3)),
    (1, (3, 4, 5), (3, 2, 1)), (1, (3, 4, 5), (3, 2)), (2, (2, 3, 4, 5), (2, 3, 1, 2))])
def test_gather_nd(dtype, batch_dims, data_shape, index_shape):
    rng = np.random.default_rng(13)
    x = sample(rng, data_shape, dtype)
    k = index_shape[-1]
    sizes = np.array(data_shape[batch_dims:batch_dims + k])
    indices = (rng.integers(0, 1000, index_shape) % sizes - (rng.random(index_shape) < 0.3) * sizes).astype(np.int64)
    one("GatherND", {"x": x, "i": indices}, dtype, batch_dims=batch_dims)


# -- Scatter, ScatterElements, ScatterND, TensorScatter ----------------------------------------

def distinct_indices(rng, shape, size, axis):
    """Indices along `axis` with no position written twice (ONNX leaves that order open)."""
    order = np.argsort(rng.random(shape[:axis] + (size,) + shape[axis + 1:]), axis=axis)
    picked = np.take(order, np.arange(shape[axis]), axis=axis)
    return (picked - (rng.random(picked.shape) < 0.3) * size).astype(np.int64)


@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.bool_, np.float16, np.int64])
@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("op, opset", [("ScatterElements", 11), ("ScatterElements", 18), ("Scatter", 10)])
def test_scatter_elements(dtype, axis, op, opset):
    rng = np.random.default_rng(14)
    x = sample(rng, (4, 5, 6), dtype)
    shape = [3, 2, 4]
    shape[axis] = 2
    indices = distinct_indices(rng, tuple(shape), x.shape[axis], axis % 3)
    one(op, {"x": x, "i": indices, "u": sample(rng, indices.shape, dtype)}, dtype, opset=opset, axis=axis)


@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.float64, np.int64])
@pytest.mark.parametrize("reduction", ["add", "mul", "max", "min"])
def test_scatter_elements_reduction(dtype, reduction):
    rng = np.random.default_rng(15)
    x = sample(rng, (4, 5), dtype)
    indices = rng.integers(-4, 4, (6, 5)).astype(np.int64)  # repeated positions combine
    one("ScatterElements", {"x": x, "i": indices, "u": sample(rng, (6, 5), dtype)}, dtype, opset=18,
        axis=0, reduction=reduction)


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.bool_, np.float16])
@pytest.mark.parametrize("k", [1, 2, 3])
def test_scatter_nd(dtype, k):
    rng = np.random.default_rng(16)
    x = sample(rng, (4, 5, 6), dtype)
    flat = rng.choice(np.prod(x.shape[:k]), 3, replace=False)
    indices = np.stack(np.unravel_index(flat, x.shape[:k]), axis=-1).astype(np.int64)
    indices -= (rng.random(indices.shape) < 0.3) * np.array(x.shape[:k])
    one("ScatterND", {"x": x, "i": indices, "u": sample(rng, (3,) + x.shape[k:], dtype)}, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.float64])
@pytest.mark.parametrize("reduction", ["add", "mul", "max", "min"])
def test_scatter_nd_reduction(dtype, reduction):
    rng = np.random.default_rng(17)
    x = sample(rng, (4, 5), dtype)
    indices = rng.integers(0, 4, (6, 1)).astype(np.int64)
    one("ScatterND", {"x": x, "i": indices, "u": sample(rng, (6, 5), dtype)}, dtype, opset=18, reduction=reduction)


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.float16])
@pytest.mark.parametrize("mode", ["linear", "circular"])
@pytest.mark.parametrize("axis, shape", [(-2, (2, 3, 8, 4)), (1, (2, 8, 3)), (2, (3, 2, 8))])
def test_tensor_scatter(dtype, mode, axis, shape):
    rng = np.random.default_rng(18)
    cache = sample(rng, shape, dtype)
    update_shape = list(shape)
    update_shape[axis] = 3
    starts = rng.integers(0, 6 if mode == "linear" else 12, (shape[0],)).astype(np.int64)
    one("TensorScatter", {"c": cache, "u": sample(rng, update_shape, dtype), "w": starts}, dtype, opset=24,
        axis=axis, mode=mode)


def test_tensor_scatter_without_indices():
    rng = np.random.default_rng(19)
    one("TensorScatter", {"c": sample(rng, (2, 6, 3), np.float32), "u": sample(rng, (2, 2, 3), np.float32)},
        np.float32, opset=24, axis=1)


# -- Expand, Tile, Pad, CenterCropPad ----------------------------------------------------------

@pytest.mark.parametrize("dtype", ALL)
@pytest.mark.parametrize("x_shape, shape", [((3, 1), (2, 3, 4)), ((3, 1), (1,)), ((1, 4), (3, 1)), ((), (2, 2)),
                                            ((2, 1, 3), (0, 1)), ((3,), (3,))])
def test_expand(dtype, x_shape, shape):
    one("Expand", {"x": sample(np.random.default_rng(20), x_shape, dtype), "shape": i64(*shape)}, dtype)


@pytest.mark.parametrize("dtype", ALL)
@pytest.mark.parametrize("repeats", [(1, 1), (2, 3), (0, 2), (3, 1)])
def test_tile(dtype, repeats):
    one("Tile", {"x": sample(np.random.default_rng(21), (2, 3), dtype), "r": i64(*repeats)}, dtype)


PADS = [(0, 2, 1, 0), (1, 1, 2, 2), (-1, 1, 0, -2), (0, 0, 0, 0), (2, 0, 0, 3)]


@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.float64, np.int64, np.float16, np.uint8, np.bool_])
@pytest.mark.parametrize("mode", ["constant", "reflect", "edge", "wrap"])
@pytest.mark.parametrize("pads", PADS)
def test_pad(dtype, mode, pads):
    if dtype == np.bool_ and mode != "constant":
        pads = PADS[0]
    rng = np.random.default_rng(22)
    x = sample(rng, (3, 4), dtype)
    value = sample(rng, (), dtype) if mode == "constant" else None
    if mode != "constant" and min(pads) < 0:  # ONNX Runtime crops only in constant mode
        pads = tuple(abs(p) for p in pads)
    one("Pad", {"x": x, "pads": i64(*pads), "value": value}, dtype, mode=mode)


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge"])
@pytest.mark.parametrize("opset", [7, 10])
def test_pad_attributes_before_opset_11(mode, opset):
    x = sample(np.random.default_rng(23), (2, 3, 4), np.float32)
    one("Pad", {"x": x}, np.float32, opset=opset, mode=mode, pads=[0, 1, 2, 0, 1, 1], value=1.5)


@pytest.mark.parametrize("axes, pads", [((1,), (1, 2)), ((-1, 0), (2, 0, 1, 1)), ((0, 2), (0, 1, 1, 0))])
@pytest.mark.parametrize("mode", ["constant", "edge", "reflect"])
def test_pad_axes(axes, pads, mode):
    x = sample(np.random.default_rng(24), (2, 3, 4), np.float32)
    one("Pad", {"x": x, "pads": i64(*pads), "value": None, "axes": i64(*axes)}, np.float32, opset=18, mode=mode)


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.bool_, np.uint8])
@pytest.mark.parametrize("shape, axes", [((2, 3), (1, 2)), ((6, 9), (1, 2)), ((3, 7, 2), None), ((5, 1), (-2, 0)),
                                         ((4,), (-1,))])
def test_center_crop_pad(dtype, shape, axes):
    x = sample(np.random.default_rng(25), (3, 4, 5), dtype)
    one("CenterCropPad", {"x": x, "shape": i64(*shape)}, dtype, opset=18, **({} if axes is None else {"axes": list(axes)}))


# -- Range, NonZero, OneHot, EyeLike, Trilu ----------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16, np.int32, np.int64])
@pytest.mark.parametrize("start, limit, delta", [(0, 10, 3), (10, 4, -2), (1, 1, 1), (5, 1, 2), (-3, 7, 1)])
def test_range(dtype, start, limit, delta):
    scalars = {name: np.array(v, dtype) for name, v in zip(("s", "l", "d"), (start, limit, delta))}
    one("Range", scalars, dtype, opset=11)


def test_range_float_fractions():
    one("Range", {"s": np.array(0.1, np.float32), "l": np.array(2.35, np.float32), "d": np.array(0.25, np.float32)}, np.float32)


@pytest.mark.parametrize("dtype", ALL)
@pytest.mark.parametrize("shape", [(7,), (3, 4), (2, 3, 2), (0, 3)])
def test_non_zero(dtype, shape):
    x = sample(np.random.default_rng(26), shape, dtype)
    if x.dtype != np.bool_:
        x = np.where(np.random.default_rng(27).random(shape) < 0.4, 0, x).astype(dtype)
    one("NonZero", {"x": x}, np.int64)


@pytest.mark.parametrize("index_type", [np.int64, np.int32, np.float32, np.uint8])
@pytest.mark.parametrize("value_type", [np.float32, np.int64, np.float16])  # ONNX Runtime has no bool OneHot
@pytest.mark.parametrize("axis", [-1, 0, 1, -3])
def test_one_hot(index_type, value_type, axis):
    rng = np.random.default_rng(28)
    low = 0 if np.dtype(index_type).kind == "u" else -8
    indices = rng.integers(low, 8, (3, 4)).astype(index_type)  # beyond [-5, 4]: all off
    values = np.array([0, 1], value_type) if value_type == np.bool_ else np.array([2, 7], value_type)
    one("OneHot", {"i": indices, "depth": np.array(5, np.int64), "v": values}, value_type, axis=axis)


@pytest.mark.parametrize("depth_type", [np.float32, np.int32, np.int64])
def test_one_hot_depth_types(depth_type):
    indices = np.array([[0, 3], [-1, 2]], np.int64)
    one("OneHot", {"i": indices, "depth": np.array([4], depth_type), "v": np.array([0.5, -1.5], np.float32)}, np.float32)


@pytest.mark.parametrize("shape", [(3, 3), (3, 5), (4, 2)])
@pytest.mark.parametrize("k", [0, 1, -2, 7])
@pytest.mark.parametrize("dtype, target", [(np.float32, None), (np.int32, None), (np.float32, TensorProto.INT64),
                                           (np.int64, TensorProto.DOUBLE), (np.float32, TensorProto.BOOL)])
def test_eye_like(shape, k, dtype, target):
    output = {None: dtype, TensorProto.INT64: np.int64, TensorProto.DOUBLE: np.float64, TensorProto.BOOL: np.bool_}[target]
    attrs = {"k": k} | ({} if target is None else {"dtype": target})
    one("EyeLike", {"x": sample(np.random.default_rng(29), shape, dtype)}, output, **attrs)


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.bool_, np.float16, np.int32, np.float64])
@pytest.mark.parametrize("upper", [0, 1])
@pytest.mark.parametrize("k", [None, 0, 2, -1, -7, 9])
@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 4)])
def test_trilu(dtype, upper, k, shape):
    x = sample(np.random.default_rng(30), shape, dtype)
    one("Trilu", {"x": x, "k": None if k is None else np.array(k, np.int64)}, dtype, upper=upper)


# -- DepthToSpace, SpaceToDepth, Compress, ReverseSequence, Unique ------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.bool_, np.float16, np.uint8])
@pytest.mark.parametrize("mode, blocksize", [("DCR", 2), ("CRD", 2), ("DCR", 3), (None, 1)])
def test_depth_to_space(dtype, mode, blocksize):
    x = sample(np.random.default_rng(31), (2, 2 * blocksize * blocksize, 3, 2), dtype)
    one("DepthToSpace", {"x": x}, dtype, opset=13, blocksize=blocksize, **({} if mode is None else {"mode": mode}))


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.bool_, np.float16])
@pytest.mark.parametrize("opset, mode", [(13, None), (28, "DCR"), (28, "CRD")])
@pytest.mark.parametrize("blocksize", [2, 3])
def test_space_to_depth(dtype, opset, mode, blocksize):
    x = sample(np.random.default_rng(32), (2, 3, 2 * blocksize, 3 * blocksize), dtype)
    one("SpaceToDepth", {"x": x}, dtype, opset=opset, blocksize=blocksize, **({} if mode is None else {"mode": mode}))


@pytest.mark.parametrize("dtype", ALL)
@pytest.mark.parametrize("axis, length", [(None, 24), (None, 5), (0, 2), (1, 3), (-1, 4), (2, 1)])
def test_compress(dtype, axis, length):
    rng = np.random.default_rng(33)
    x = sample(rng, (2, 3, 4), dtype)
    condition = rng.random(length) < 0.6
    one("Compress", {"x": x, "c": condition}, dtype, **({} if axis is None else {"axis": axis}))


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.bool_, np.float16])
@pytest.mark.parametrize("time_axis, batch_axis", [(0, 1), (1, 0)])
@pytest.mark.parametrize("rank", [2, 3])
def test_reverse_sequence(dtype, time_axis, batch_axis, rank):
    rng = np.random.default_rng(34)
    shape = [0, 0] + [3] * (rank - 2)
    shape[time_axis], shape[batch_axis] = 5, 4
    lengths = rng.integers(0, 6, 4).astype(np.int64)
    lengths[0] = 5
    one("ReverseSequence", {"x": sample(rng, shape, dtype), "l": lengths}, dtype, time_axis=time_axis,
        batch_axis=batch_axis)


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.int8, np.float64])  # ONNX Runtime's Unique types
@pytest.mark.parametrize("sorted_", [1, 0])
@pytest.mark.parametrize("axis", [None, 0, 1, -1])
def test_unique(dtype, sorted_, axis):
    rng = np.random.default_rng(35)
    x = rng.integers(0, 3, (6, 4)).astype(dtype)
    x[3] = x[1]  # repeated rows
    x[:, 2] = x[:, 0]  # and columns
    attrs = {"sorted": sorted_} | ({} if axis is None else {"axis": axis})
    one("Unique", {"x": x}, [dtype, np.int64, np.int64, np.int64], outputs=4, **attrs)


# -- run-time shapes from other nodes, folding, refusals ----------------------------------------

def test_run_time_shape_chain():
    """A shape computed at run time (Shape -> Slice -> Concat -> Reshape, Expand, Tile, Range)."""
    rng = np.random.default_rng(36)
    x = sample(rng, (2, 3, 4), np.float32)
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Slice", ["s", "one", "three"], ["tail"]),
        helper.make_node("Concat", ["minus", "tail"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["r"]),
        helper.make_node("Expand", ["r", "big"], ["e"]),
        helper.make_node("Tile", ["e", "reps"], ["t"]),
        helper.make_node("Size", ["t"], ["n"]),
        helper.make_node("Range", ["zero", "n", "step"], ["seq"]),
    ]
    check(nodes, {"x": x}, {"t": np.float32, "seq": np.int64},
          initializers={"one": i64(1), "three": i64(3), "minus": i64(-1), "big": i64(2, 1, 3, 4), "reps": i64(1, 2, 1, 1),
                        "zero": np.array(0, np.int64), "step": np.array(5, np.int64)})


def load(op, inputs: dict, opset=21, **attrs):
    model = graph_model([helper.make_node(op, list(inputs), ["y"], **attrs)], inputs, {"y": np.float32}, opset=opset)
    return typed(model), inputs


@pytest.mark.parametrize("op, inputs, attrs, error", [
    ("Gather", {"x": np.zeros((3, 2), np.float32), "i": i64(3)}, {}, InputError),
    ("Gather", {"x": np.zeros((3, 2), np.float32), "i": i64(-4)}, {}, InputError),
    ("GatherElements", {"x": np.zeros((3, 2), np.float32), "i": np.array([[0, 2]], np.int64)}, {"axis": 1}, InputError),
    ("GatherND", {"x": np.zeros((3, 2), np.float32), "i": np.array([[0, 2]], np.int64)}, {}, InputError),
    ("ScatterND", {"x": np.zeros((3, 2), np.float32), "i": np.array([[3]], np.int64), "u": np.zeros((1, 2), np.float32)},
     {}, InputError),
    ("Reshape", {"x": np.zeros((3, 2), np.float32), "s": i64(4, -1)}, {}, InputError),
    ("Expand", {"x": np.zeros((3, 2), np.float32), "s": i64(4, 2)}, {}, InputError),
    ("Tile", {"x": np.zeros((3, 2), np.float32), "r": i64(-1, 2)}, {}, InputError),
    ("Pad", {"x": np.zeros((3, 2), np.float32), "p": i64(0, 3, 0, 0)}, {"mode": "reflect"}, UnsupportedOptionError),
    ("Squeeze", {"x": np.zeros((3, 2), np.float32), "a": i64(0)}, {}, InputError),
    ("Slice", {"x": np.zeros((3, 2), np.float32), "s": i64(0), "e": i64(2), "a": i64(0), "t": i64(0)}, {}, InputError),
])
def test_refused_values(op, inputs, attrs, error):
    """Out-of-range indices and impossible sizes in the data are refused, never wrapped."""
    model, feeds = load(op, inputs, **attrs)
    with pytest.raises(error, match=op):
        model.predict(feeds)


def test_folded_out_of_range_index_is_a_format_error():
    model = graph_model([helper.make_node("Gather", ["x", "i"], ["y"])], {}, {"y": np.float32},
                        initializers={"x": np.zeros((3, 2), np.float32), "i": i64(5)})
    with pytest.raises(ModelFormatError, match="Gather"):
        typed(model)


def test_budget_admits_value_sized_outputs():
    """Expand / Tile / Range / OneHot / Pad sizes come from values: checked before allocating."""
    from npinfer.errors import ResourceLimitError

    cases = [("Expand", {"x": np.zeros((1,), np.float32), "s": i64(1 << 20, 1 << 20)}, {}),
             ("Tile", {"x": np.zeros((2,), np.float32), "r": i64(1 << 40)}, {}),
             ("Pad", {"x": np.zeros((2,), np.float32), "p": i64(0, 1 << 40)}, {}),
             ("Range", {"s": np.array(0, np.float32), "l": np.array(1e15, np.float32), "d": np.array(1, np.float32)}, {}),
             ("OneHot", {"i": i64(1, 2), "d": np.array(1 << 40, np.int64), "v": np.array([0, 1], np.float32)}, {})]
    for op, inputs, attrs in cases:
        model, feeds = load(op, inputs, **attrs)
        with pytest.raises(ResourceLimitError, match=op):
            model.predict(feeds)


@pytest.mark.parametrize("op, inputs, opset, attrs", [
    ("Range", {"s": np.array(0, np.float16), "l": np.array(3, np.float16), "d": np.array(1, np.float16)}, 21, {}),
    ("Range", {"s": np.array(0, np.uint8), "l": np.array(3, np.uint8), "d": np.array(1, np.uint8)}, 21, {}),
    ("Transpose", {"x": np.zeros((3, 2), np.float32)}, 21, {"perm": [1, 0], "bogus": 1}),
    ("ScatterElements", {"x": np.zeros((3,), np.bool_), "i": i64(0), "u": np.ones((1,), np.bool_)}, 18, {"reduction": "add"}),
])
def test_refused_options(op, inputs, opset, attrs):
    """A type ONNX does not define for the op, an unknown attribute, a reduction on bool."""
    with pytest.raises(UnsupportedOptionError, match=op):
        model, feeds = load(op, inputs, opset=opset, **attrs)
        model.predict(feeds)


def test_npinfer_load_runs_integer_shape_graphs():
    """npinfer.load takes the tensor tier for graphs the layer tier refuses (an int64 Gather)."""
    import tempfile
    from pathlib import Path

    x = np.arange(12, dtype=np.int64).reshape(3, 4)
    model = graph_model([helper.make_node("Gather", ["x", "i"], ["y"], axis=1)], {"x": x, "i": i64(-1, 0)}, {"y": np.int64})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.onnx"
        path.write_bytes(model.SerializeToString())
        got = npinfer.load(path).predict({"x": x, "i": i64(-1, 0)})
    assert_same(got, expected_outputs(model, {"x": x, "i": i64(-1, 0)})[0])
