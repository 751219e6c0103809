"""The tensor tier's math family (src/npinfer/ops/math.py) against ONNX Runtime, strictly: each
operator on every type it defines (that ONNX Runtime runs), over its attributes and the opsets
where its meaning or types changed; onnx.reference where ONNX Runtime has no kernel. Graphs run
on the tensor tier itself (TypedModel), not through the layer tier that `npinfer.load` tries first."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper
from ops_parity import assert_same, graph_model, run_onnxruntime

import npinfer

F16, F32, F64 = np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)
FLOATS = (F16, F32, F64)
SIGNED = tuple(np.dtype(t) for t in (np.int8, np.int16, np.int32, np.int64))
UNSIGNED = tuple(np.dtype(t) for t in (np.uint8, np.uint16, np.uint32, np.uint64))
INTEGERS = SIGNED + UNSIGNED
TOLERANCE = {F16: (1e-3, 1e-4), F32: (1e-5, 1e-6), F64: (1e-10, 1e-12)}  # (rtol, atol): ~1 ulp of float16


def run_tensor_tier(model, feeds: dict) -> list:
    """npinfer's outputs on the tensor tier (TypedModel), in the graph's order."""
    from npinfer.importers.onnx_proto import read_model
    from npinfer.limits import current
    from npinfer.ops.model import TypedModel

    typed = TypedModel(read_model(model.SerializeToString(), current(None), "test.onnx"), "test.onnx")
    got = typed.predict(dict(feeds))
    return [got] if len(typed.output_names) == 1 else list(got)


def run_reference(model, feeds: dict) -> list:
    from onnx.reference import ReferenceEvaluator

    with np.errstate(all="ignore"):
        return list(ReferenceEvaluator(model).run(None, dict(feeds)))


# ONNX Runtime computes these double kernels in float32 inside (its Shrink, tanh Gelu and windows):
# compared to float32 precision there, and to float64 against torch in test_float64_precision
FLOAT32_INSIDE = {"Shrink", "Gelu", "HannWindow", "HammingWindow", "BlackmanWindow"}


def check(nodes, feeds: dict, out_dtype, opset: int, reference: str = "onnxruntime", expected=None) -> list:
    """Build the graph, run it on the tensor tier and on `reference` (or take `expected`), assert
    the same outputs."""
    outputs = {name: out_dtype for name in nodes[-1].output}
    model = graph_model(nodes, inputs=feeds, outputs=outputs, opset=opset)
    if np.dtype(out_dtype) == F64 and nodes[-1].op_type in FLOAT32_INSIDE:
        reference = "float32 inside"
    if reference in ("onnxruntime", "float32 inside"):
        try:
            expected = expected or run_onnxruntime(model, feeds)
        except Exception as err:  # ONNX Runtime has no kernel for this type: the reference evaluator decides
            if "Could not find an implementation" not in str(err):
                raise
    rtol, atol = TOLERANCE.get(np.dtype(out_dtype), (0, 0))
    if expected is None:
        expected = run_reference(model, feeds)
        if np.dtype(out_dtype) == F64:  # the evaluator keeps float attributes and constants float32
            reference = "float32 inside"
    if reference == "float32 inside":
        rtol, atol = 1e-6, 1e-7
    got = run_tensor_tier(model, feeds)
    assert_same(got, expected, rtol, atol)
    return got


def numbers(rng, dtype, shape=(3, 4), domain: str = "any") -> np.ndarray:
    """Random values of `dtype` in the operator's domain."""
    dtype = np.dtype(dtype)
    if dtype.kind in "iu":
        low, high = (0, 120) if dtype.kind == "u" else (-100, 100)
        if domain == "positive":
            low = 1
        return np.asarray(rng.integers(low, high, shape)).astype(dtype)
    sample = {"any": lambda: rng.standard_normal(shape) * 3, "positive": lambda: rng.uniform(0.1, 5, shape),
              "unit": lambda: rng.uniform(-0.99, 0.99, shape), "from1": lambda: rng.uniform(1.0, 5.0, shape)}[domain]
    return np.asarray(sample()).astype(dtype)


def refused(nodes, feeds: dict, out_dtype, opset: int, error=npinfer.UnsupportedOptionError) -> str:
    model = graph_model(nodes, inputs=feeds, outputs={n: out_dtype for n in nodes[-1].output}, opset=opset)
    with pytest.raises(error) as raised:
        run_tensor_tier(model, feeds)
    assert f"ONNX {nodes[-1].op_type} node" in str(raised.value)
    return str(raised.value)


# -- unary functions -----------------------------------------------------------------------

UNARY = {  # op -> (types, input domain, opset)
    "Abs": (FLOATS + INTEGERS, "any", 13), "Neg": (FLOATS + SIGNED, "any", 13), "Sign": (FLOATS + INTEGERS, "any", 13),
    "Reciprocal": (FLOATS, "positive", 13), "Sqrt": (FLOATS, "positive", 13), "Exp": (FLOATS, "any", 13),
    "Log": (FLOATS, "positive", 13), "Floor": (FLOATS, "any", 13), "Ceil": (FLOATS, "any", 13),
    "Round": (FLOATS, "any", 22), "Erf": (FLOATS, "any", 13),
    "Sin": (FLOATS, "any", 22), "Cos": (FLOATS, "any", 22), "Tan": (FLOATS, "unit", 22), "Asin": (FLOATS, "unit", 22),
    "Acos": (FLOATS, "unit", 22), "Atan": (FLOATS, "any", 22), "Sinh": (FLOATS, "unit", 22),
    "Cosh": (FLOATS, "unit", 22), "Asinh": (FLOATS, "any", 22), "Acosh": (FLOATS, "from1", 22),
    "Atanh": (FLOATS, "unit", 22),
    "Relu": (FLOATS + SIGNED, "any", 14), "Sigmoid": (FLOATS, "any", 13), "Tanh": (FLOATS, "any", 13),
    "Softplus": (FLOATS, "any", 22), "Softsign": (FLOATS, "any", 22), "Mish": (FLOATS, "any", 22),
    "HardSwish": (FLOATS, "any", 22),
}
UNARY_CASES = [(op, dtype) for op, (types, _, _) in UNARY.items() for dtype in types]


@pytest.mark.parametrize("op,dtype", UNARY_CASES, ids=[f"{op}-{np.dtype(t).name}" for op, t in UNARY_CASES])
def test_unary(op, dtype):
    types, domain, opset = UNARY[op]
    x = numbers(np.random.default_rng(0), dtype, (2, 3, 5), domain)
    if dtype.kind == "f" and op in ("Round", "Floor", "Ceil"):
        x[0, 0, :4] = [0.5, 1.5, -2.5, -0.5]  # halves round to even
    check([helper.make_node(op, ["x"], ["y"])], {"x": x}, dtype, opset)


@pytest.mark.parametrize("op", ["Abs", "Relu", "Sigmoid", "Exp", "Softplus", "Sqrt", "Log", "Floor", "Sign", "Tanh"])
def test_unary_special_values(op):
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e30, -1e30, -1.0], np.float32)
    check([helper.make_node(op, ["x"], ["y"])], {"x": x}, F32, UNARY[op][2])


def test_rank_zero():
    x = np.asarray(-1.5, np.float64)
    assert check([helper.make_node("Abs", ["x"], ["y"])], {"x": x}, F64, 13)[0].shape == ()


@pytest.mark.parametrize("op,dtype,opset", [("Neg", np.uint8, 13), ("Sqrt", np.int32, 13), ("Relu", np.int32, 13),
                                            ("Sigmoid", np.int64, 13), ("Abs", np.bool_, 13)])
def test_unary_refuses_a_type_the_op_does_not_define(op, dtype, opset):
    x = np.ones((2, 2), dtype)
    assert "is not defined for" in refused([helper.make_node(op, ["x"], ["y"])], {"x": x}, dtype, opset)


# -- activations with attributes -----------------------------------------------------------

ACTIVATIONS = [  # (op, attributes, opset)
    ("LeakyRelu", {}, 16), ("LeakyRelu", {"alpha": 0.3}, 16), ("LeakyRelu", {"alpha": 1.7}, 16),
    ("Elu", {}, 22), ("Elu", {"alpha": 0.4}, 22),
    ("Selu", {}, 22), ("Selu", {"alpha": 2.0, "gamma": 3.0}, 22),
    ("Celu", {}, 28), ("Celu", {"alpha": 2.5}, 28),
    ("HardSigmoid", {}, 22), ("HardSigmoid", {"alpha": 0.5, "beta": 0.6}, 22),
    ("ThresholdedRelu", {}, 22), ("ThresholdedRelu", {"alpha": -0.5}, 22), ("ThresholdedRelu", {"alpha": 2.1}, 22),
    ("Shrink", {}, 9), ("Shrink", {"lambd": 1.5}, 9), ("Shrink", {"lambd": 0.7, "bias": 0.7}, 9),
    ("Gelu", {}, 20), ("Gelu", {"approximate": "tanh"}, 20), ("Gelu", {"approximate": "none"}, 20),
    ("Swish", {}, 24), ("Swish", {"alpha": 1.702}, 24),
]
ACTIVATION_CASES = [(op, attrs, opset, t) for op, attrs, opset in ACTIVATIONS for t in FLOATS]


@pytest.mark.parametrize("op,attrs,opset,dtype", ACTIVATION_CASES,
                         ids=[f"{op}-{attrs}-{np.dtype(t).name}" for op, attrs, _, t in ACTIVATION_CASES])
def test_activation(op, attrs, opset, dtype):
    x = numbers(np.random.default_rng(1), dtype, (3, 7))
    reference = "reference" if op == "Celu" and dtype != F32 else "onnxruntime"
    check([helper.make_node(op, ["x"], ["y"], **attrs)], {"x": x}, dtype, opset, reference)


def test_celu_is_float_only_before_opset_28():
    x = np.ones((2, 2), np.float64)
    assert "is not defined for double" in refused([helper.make_node("Celu", ["x"], ["y"])], {"x": x}, F64, 12)
    check([helper.make_node("Celu", ["x"], ["y"], alpha=0.8)], {"x": x.astype(F32) - 2}, F32, 12)


@pytest.mark.parametrize("dtype", INTEGERS)
@pytest.mark.parametrize("attrs", [{}, {"lambd": 20.0}, {"lambd": 10.0, "bias": 3.0}])
def test_shrink_integers(dtype, attrs):
    x = numbers(np.random.default_rng(2), dtype, (4, 5))
    check([helper.make_node("Shrink", ["x"], ["y"], **attrs)], {"x": x}, dtype, 9)


def test_gelu_refuses_an_unknown_approximation():
    x = np.ones((2,), np.float32)
    refused([helper.make_node("Gelu", ["x"], ["y"], approximate="erf")], {"x": x}, F32, 20, npinfer.ModelFormatError)


def test_an_attribute_the_op_does_not_have_is_refused():
    x = np.ones((2,), np.float32)
    refused([helper.make_node("Relu", ["x"], ["y"], alpha=0.5)], {"x": x}, F32, 14, npinfer.NpinferError)


PRELU_TYPES = FLOATS + tuple(np.dtype(t) for t in (np.int32, np.int64, np.uint32, np.uint64))


@pytest.mark.parametrize("dtype", PRELU_TYPES)
@pytest.mark.parametrize("slope_shape", [(2, 3, 4), (4,), (3, 1), ()])
def test_prelu(dtype, slope_shape):
    rng = np.random.default_rng(3)
    x = numbers(rng, dtype, (2, 3, 4))
    slope = numbers(rng, dtype, slope_shape) if dtype.kind != "f" else rng.uniform(-1, 2, slope_shape).astype(dtype)
    check([helper.make_node("PRelu", ["x", "slope"], ["y"])], {"x": x, "slope": slope}, dtype, 16)


def test_prelu_integers_only_from_opset_9():
    x, slope = np.ones((2, 2), np.int32), np.ones((2,), np.int32)
    refused([helper.make_node("PRelu", ["x", "s"], ["y"])], {"x": x, "s": slope}, np.int32, 7)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("attrs", [{}, {"alpha": 1.702}])
def test_swiglu_against_the_reference(dtype, attrs):  # ONNX Runtime 1.32 has no SwiGLU
    rng = np.random.default_rng(4)
    a, b = numbers(rng, dtype, (3, 6)), numbers(rng, dtype, (3, 6))
    check([helper.make_node("SwiGLU", ["a", "b"], ["y"], **attrs)], {"a": a, "b": b}, dtype, 28, "reference")


# -- Clip ----------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", FLOATS + INTEGERS)
@pytest.mark.parametrize("bounds", [(-20, 30), (None, 10), (5, None), (None, None), (40, -40)])
def test_clip_inputs(dtype, bounds):
    rng = np.random.default_rng(5)
    x = numbers(rng, dtype, (3, 8))
    low, high = bounds
    if dtype.kind == "u":
        low, high = (None if low is None else abs(low)), (None if high is None else abs(high))
    feeds, names = {"x": x}, ["x"]
    for name, value in (("lo", low), ("hi", high)):
        if value is not None:
            feeds[name] = np.asarray(value, dtype)
        names.append(name if value is not None else "")
    while names[-1] == "":
        names.pop()
    check([helper.make_node("Clip", names, ["y"])], feeds, dtype, 13)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("attrs", [{"min": -1.5, "max": 0.7}, {"min": 0.2}, {"max": -0.1}, {}])
def test_clip_attributes_before_opset_11(dtype, attrs):
    x = numbers(np.random.default_rng(6), dtype, (4, 5))
    check([helper.make_node("Clip", ["x"], ["y"], **attrs)], {"x": x}, dtype, 7)


def test_clip_integers_only_from_opset_12():
    x, low = np.arange(6, dtype=np.int32), np.asarray(2, np.int32)
    refused([helper.make_node("Clip", ["x", "lo"], ["y"])], {"x": x, "lo": low}, np.int32, 11)


# -- variadic Max / Min / Sum / Mean -------------------------------------------------------

SHAPES = {1: [(3, 4)], 2: [(3, 4), (4,)], 3: [(2, 1, 4), (3, 1), ()]}
VARIADIC_CASES = [(op, t, n) for op, types in (("Max", FLOATS + INTEGERS), ("Min", FLOATS + INTEGERS),
                                               ("Sum", FLOATS), ("Mean", FLOATS)) for t in types for n in SHAPES]


@pytest.mark.parametrize("op,dtype,count", VARIADIC_CASES,
                         ids=[f"{op}-{np.dtype(t).name}-{n}" for op, t, n in VARIADIC_CASES])
def test_variadic(op, dtype, count):
    rng = np.random.default_rng(7)
    feeds = {f"x{i}": numbers(rng, dtype, shape) for i, shape in enumerate(SHAPES[count])}
    expected = None
    if op == "Mean" and dtype == F64:  # ONNX Runtime has no double Mean, the evaluator's does not broadcast 3
        summed = run_onnxruntime(graph_model([helper.make_node("Sum", list(feeds), ["y"])], feeds, {"y": F64}, 13), feeds)
        expected = [summed[0] / len(feeds)]
    check([helper.make_node(op, list(feeds), ["y"])], feeds, dtype, 13, expected=expected)


@pytest.mark.parametrize("op", ["Max", "Min", "Sum", "Mean"])
def test_variadic_opset_7_does_not_broadcast(op):
    feeds = {"a": np.ones((2, 3), np.float32), "b": np.ones((3,), np.float32)}
    refused([helper.make_node(op, ["a", "b"], ["y"])], feeds, F32, 7, npinfer.ModelFormatError)
    feeds["b"] = np.full((2, 3), 2.0, np.float32)
    check([helper.make_node(op, ["a", "b"], ["y"])], feeds, F32, 7)


def test_max_integers_only_from_opset_12():
    feeds = {"a": np.ones((2,), np.int32), "b": np.ones((2,), np.int32)}
    refused([helper.make_node("Max", ["a", "b"], ["y"])], feeds, np.int32, 11)


# -- Mod -----------------------------------------------------------------------------------

def _mod_operands(rng, dtype):
    a = numbers(rng, dtype, (4, 6))
    b = numbers(rng, dtype, (6,), "positive" if dtype.kind == "u" else "any")
    if dtype.kind == "i":
        b = np.where(b == 0, 7, b).astype(dtype)
    elif dtype.kind == "f":
        b = np.where(np.abs(b) < 0.1, 1.5, b).astype(dtype)
    return a, b


@pytest.mark.parametrize("dtype", INTEGERS + FLOATS)
@pytest.mark.parametrize("fmod", [0, 1])
def test_mod(dtype, fmod):
    a, b = _mod_operands(np.random.default_rng(8), dtype)
    opset = 28 if dtype.kind == "f" and fmod == 0 else 13  # floats with fmod=0: defined from opset 28
    check([helper.make_node("Mod", ["a", "b"], ["y"], fmod=fmod)], {"a": a, "b": b}, dtype, opset)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("fmod", [0, 1])
def test_mod_float_special_values(dtype, fmod):
    a = np.array([0.0, -0.0, 5.0, -5.0, np.inf, 3.0, -3.0, np.nan, 2.0], dtype)
    b = np.array([3.0, -3.0, np.inf, np.inf, 2.0, 0.0, -np.inf, 1.0, np.nan], dtype)
    check([helper.make_node("Mod", ["a", "b"], ["y"], fmod=fmod)], {"a": a, "b": b}, dtype, 28)


def test_mod_refuses_floats_with_fmod_0_before_opset_28_and_an_integer_zero_divisor():
    floats = {"a": np.ones((2,), np.float32), "b": np.ones((2,), np.float32)}
    refused([helper.make_node("Mod", ["a", "b"], ["y"])], floats, F32, 13, npinfer.ModelFormatError)
    ints = {"a": np.ones((2,), np.int32), "b": np.array([1, 0], np.int32)}
    assert "zero" in refused([helper.make_node("Mod", ["a", "b"], ["y"])], ints, np.int32, 13)


# -- IsNaN / IsInf -------------------------------------------------------------------------

SPECIALS = [0.0, -0.0, 1.0, -2.5, np.inf, -np.inf, np.nan, -np.nan, 6e4]


@pytest.mark.parametrize("dtype", FLOATS)
def test_isnan(dtype):
    x = np.array(SPECIALS, dtype).reshape(3, 3)
    check([helper.make_node("IsNaN", ["x"], ["y"])], {"x": x}, np.bool_, 20)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("attrs", [{}, {"detect_negative": 0}, {"detect_positive": 0},
                                   {"detect_negative": 0, "detect_positive": 0}])
def test_isinf(dtype, attrs):
    x = np.array(SPECIALS, dtype).reshape(3, 3)
    check([helper.make_node("IsInf", ["x"], ["y"], **attrs)], {"x": x}, np.bool_, 20)


def test_isinf_float16_only_from_opset_20():
    x = np.ones((2,), np.float16)
    refused([helper.make_node("IsInf", ["x"], ["y"])], {"x": x}, np.bool_, 10)


# -- bitwise -------------------------------------------------------------------------------

def _shift_operands(rng, dtype, wide: bool):
    x = rng.integers(np.iinfo(dtype).min, np.iinfo(dtype).max, (3, 5), dtype=dtype, endpoint=True)
    bits = dtype.itemsize * 8
    low = -3 if wide and dtype.kind == "i" else 0
    shift = rng.integers(low, bits + 3 if wide else bits, (5,)).astype(dtype)
    return x, shift


@pytest.mark.parametrize("dtype", UNSIGNED)
@pytest.mark.parametrize("direction", ["LEFT", "RIGHT"])
def test_bitshift_unsigned(dtype, direction):
    x, shift = _shift_operands(np.random.default_rng(9), dtype, wide=False)
    check([helper.make_node("BitShift", ["x", "s"], ["y"], direction=direction)], {"x": x, "s": shift}, dtype, 11)


@pytest.mark.parametrize("dtype", INTEGERS)
@pytest.mark.parametrize("direction", ["LEFT", "RIGHT"])
def test_bitshift_opset_28_with_signed_types_and_shifts_out_of_range(dtype, direction):
    x, shift = _shift_operands(np.random.default_rng(10), dtype, wide=True)
    check([helper.make_node("BitShift", ["x", "s"], ["y"], direction=direction)], {"x": x, "s": shift}, dtype, 28)


def test_bitshift_signed_only_from_opset_28():
    feeds = {"x": np.ones((2,), np.int8), "s": np.ones((2,), np.int8)}
    refused([helper.make_node("BitShift", ["x", "s"], ["y"], direction="LEFT")], feeds, np.int8, 11)


@pytest.mark.parametrize("dtype", INTEGERS)
@pytest.mark.parametrize("op", ["BitwiseAnd", "BitwiseOr", "BitwiseXor", "BitwiseNot"])
def test_bitwise(op, dtype):
    rng = np.random.default_rng(11)
    info = np.iinfo(dtype)
    feeds = {"a": rng.integers(info.min, info.max, (2, 3, 4), dtype=dtype, endpoint=True)}
    if op != "BitwiseNot":
        feeds["b"] = rng.integers(info.min, info.max, (3, 1), dtype=dtype, endpoint=True)
    check([helper.make_node(op, list(feeds), ["y"])], feeds, dtype, 18)


def test_bitwise_refuses_floats():
    feeds = {"a": np.ones((2,), np.float32), "b": np.ones((2,), np.float32)}
    refused([helper.make_node("BitwiseAnd", ["a", "b"], ["y"])], feeds, F32, 18)


BITCASTS = [(np.float32, TensorProto.INT32), (np.int32, TensorProto.FLOAT), (np.float64, TensorProto.UINT64),
            (np.int64, TensorProto.DOUBLE), (np.float16, TensorProto.INT16), (np.uint16, TensorProto.FLOAT16),
            (np.int8, TensorProto.UINT8), (np.uint32, TensorProto.INT32), (np.bool_, TensorProto.UINT8)]


@pytest.mark.parametrize("source,to", BITCASTS, ids=[f"{np.dtype(s).name}-{t}" for s, t in BITCASTS])
@pytest.mark.parametrize("shape", [(2, 3), ()])
def test_bitcast(source, to, shape):
    rng = np.random.default_rng(12)
    source = np.dtype(source)
    if source == np.bool_:
        x = rng.integers(0, 2, shape).astype(bool)
    elif source.kind == "f":
        x = (rng.standard_normal(shape) * 100).astype(source)
    else:
        x = rng.integers(np.iinfo(source).min, np.iinfo(source).max, shape, dtype=source, endpoint=True)
    out = helper.tensor_dtype_to_np_dtype(to)
    check([helper.make_node("BitCast", ["x"], ["y"], to=to)], {"x": np.asarray(x)}, out, 26)


def test_bitcast_refuses_types_of_different_widths_and_non_bool_bytes():
    x = np.ones((2,), np.float32)
    refused([helper.make_node("BitCast", ["x"], ["y"], to=TensorProto.INT64)], {"x": x}, np.int64, 26,
            npinfer.ModelFormatError)
    bytes_ = np.array([0, 1, 2], np.uint8)
    refused([helper.make_node("BitCast", ["x"], ["y"], to=TensorProto.BOOL)], {"x": bytes_}, np.bool_, 26)


# -- signal windows ------------------------------------------------------------------------

WINDOW_TYPES = [TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.INT32, TensorProto.UINT8]


@pytest.mark.parametrize("op", ["HannWindow", "HammingWindow", "BlackmanWindow"])
@pytest.mark.parametrize("periodic", [0, 1])
@pytest.mark.parametrize("output_datatype", WINDOW_TYPES)
@pytest.mark.parametrize("size_dtype", [np.int32, np.int64])
def test_window(op, periodic, output_datatype, size_dtype):
    size = np.asarray(10, size_dtype)
    out = helper.tensor_dtype_to_np_dtype(output_datatype)
    node = helper.make_node(op, ["n"], ["y"], periodic=periodic, output_datatype=output_datatype)
    check([node], {"n": size}, out, 17)


@pytest.mark.parametrize("length", [1, 2])
def test_short_windows(length):
    node = helper.make_node("HannWindow", ["n"], ["y"], periodic=0)
    check([node], {"n": np.asarray(length, np.int64)}, F32, 17)


# -- float64 precision where ONNX Runtime's double kernel is float32 inside or missing ------------

def _torch_cases():
    import torch
    import torch.nn.functional as F

    return {
        "Erf": ({}, torch.erf), "HardSwish": ({}, F.hardswish),
        "LeakyRelu": ({}, lambda t: F.leaky_relu(t, float(np.float32(0.01)))),
        "Gelu": ({}, F.gelu), "Gelu-tanh": ({"approximate": "tanh"}, lambda t: F.gelu(t, approximate="tanh")),
        "Shrink": ({"lambd": 0.5, "bias": 0.5}, lambda t: F.softshrink(t, 0.5)),
        "Shrink-hard": ({"lambd": 1.5}, lambda t: F.hardshrink(t, 1.5)),
    }


@pytest.mark.parametrize("case", ["Erf", "HardSwish", "LeakyRelu", "Gelu", "Gelu-tanh", "Shrink", "Shrink-hard"])
def test_float64_precision(case):
    import torch

    attrs, function = _torch_cases()[case]
    x = numbers(np.random.default_rng(13), F64, (4, 9))
    node = helper.make_node(case.split("-")[0], ["x"], ["y"], **attrs)
    model = graph_model([node], {"x": x}, {"y": F64}, {"Erf": 13, "HardSwish": 14, "LeakyRelu": 16}.get(case, 20))
    assert_same(run_tensor_tier(model, {"x": x}), [function(torch.from_numpy(x)).numpy()], 1e-12, 1e-14)


@pytest.mark.parametrize("op", ["HannWindow", "HammingWindow", "BlackmanWindow"])
@pytest.mark.parametrize("periodic", [0, 1])
def test_window_float64_precision(op, periodic):
    import torch

    make = {"HannWindow": torch.hann_window, "BlackmanWindow": torch.blackman_window,
            "HammingWindow": lambda n, **k: torch.hamming_window(n, alpha=25 / 46, beta=21 / 46, **k)}[op]
    node = helper.make_node(op, ["n"], ["y"], periodic=periodic, output_datatype=TensorProto.DOUBLE)
    feeds = {"n": np.asarray(12, np.int64)}
    got = run_tensor_tier(graph_model([node], feeds, {"y": F64}, 17), feeds)
    assert_same(got, [make(12, periodic=bool(periodic), dtype=torch.float64).numpy()], 1e-12, 1e-14)
