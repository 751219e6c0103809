"""The tensor tier's quantization family (src/npinfer/ops/quant.py) against ONNX Runtime, strictly:
integer results exactly, float results (DequantizeLinear, DynamicQuantizeLinear's scale) to the last
bit. QuantizeLinear / DequantizeLinear over opsets 10, 13, 19, 21, 23 with per-tensor, per-axis and
blocked scales and int8 / uint8 / int16 / uint16 zero points; DynamicQuantizeLinear; MatMulInteger and
QLinearMatMul over their type combinations, batch shapes and per-row / per-column zero points;
ConvInteger and QLinearConv over pads, auto_pad, strides, dilations, groups, per-filter weights and
bias. onnx.reference decides only where ONNX Runtime has no kernel for a case. float8 / int4 types
are refused by name; malformed nodes give typed errors naming the node."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from ops_parity import assert_same, graph_model, run_onnxruntime, run_reference

import npinfer
from npinfer.errors import ModelFormatError

F16, F32 = np.dtype(np.float16), np.dtype(np.float32)
I8, U8, I16, U16, I32 = (np.dtype(t) for t in (np.int8, np.uint8, np.int16, np.uint16, np.int32))


def run_tensor_tier(model, feeds: dict) -> list:
    """npinfer's outputs on the tensor tier (TypedModel), in the graph's order."""
    from npinfer.importers.onnx_proto import read_model
    from npinfer.limits import current
    from npinfer.ops.model import TypedModel

    typed = TypedModel(read_model(model.SerializeToString(), current(None), "test.onnx"), "test.onnx")
    got = typed.predict(dict(feeds))
    return [got] if len(typed.output_names) == 1 else list(got)


def expected_outputs(model, feeds: dict) -> list:
    """ONNX Runtime's outputs; the reference evaluator's where ONNX Runtime has no kernel for the case."""
    try:
        return run_onnxruntime(model, feeds)
    except Exception as err:
        if "NOT_IMPLEMENTED" not in str(err) and "Could not find an implementation" not in str(err):
            raise
        return run_reference(model, feeds)


def check(op: str, inputs: dict, outputs: dict, opset: int, constants: dict | None = None, judge=expected_outputs,
          **attributes) -> list:
    """One `op` node whose inputs are `inputs` in order (a value: a graph input; None: the initializer of
    that name in `constants`, or left out when there is none), the same outputs as `judge` bit for bit."""
    constants = constants or {}
    names = list(inputs)
    while names and names[-1] not in constants and inputs[names[-1]] is None:
        names.pop()
    node_inputs = [n if (n in constants or inputs[n] is not None) else "" for n in names]
    feeds = {n: v for n, v in inputs.items() if v is not None and n not in constants}
    node = helper.make_node(op, node_inputs, list(outputs), **attributes)
    model = graph_model([node], inputs=feeds, outputs=outputs, opset=opset, initializers=constants)
    expected = judge(model, feeds)
    got = run_tensor_tier(model, feeds)
    assert_same(got, expected, rtol=0, atol=0)
    return got


def integers(rng, dtype, shape) -> np.ndarray:
    info = np.iinfo(dtype)
    return rng.integers(int(info.min), int(info.max) + 1, shape).astype(dtype)


def zero_points(rng, dtype, shape) -> np.ndarray:
    """Zero points away from the ends of the type's range (so quantized values land on both sides)."""
    info = np.iinfo(dtype)
    quarter = (int(info.max) - int(info.min)) // 4
    return rng.integers(int(info.min) + quarter, int(info.max) - quarter + 1, shape).astype(dtype)


# -- QuantizeLinear / DequantizeLinear --------------------------------------------------------

X_SHAPE = (2, 6, 4)
GRANULARITIES = {  # name -> (attributes, the scale's shape for X_SHAPE, first opset)
    "tensor": ({}, (), 10), "tensor-1d": ({}, (1,), 10), "axis1": ({"axis": 1}, (6,), 13),
    "axis-last": ({"axis": -1}, (4,), 13), "axis0": ({"axis": 0}, (2,), 13),
    "blocked": ({"axis": 1, "block_size": 2}, (2, 3, 4), 21), "blocked-ragged": ({"axis": 1, "block_size": 4}, (2, 2, 4), 21),
    "blocked-last": ({"axis": -1, "block_size": 3}, (2, 6, 2), 21),
}


def granular_grid():
    """(opset, granularity, scale type, the quantized types) each opset defines."""
    for opset in (10, 13, 19, 21, 23):
        floats = (F32, F16) if opset >= 19 else (F32,)
        quantized = (I8, U8, I16, U16) if opset >= 21 else (I8, U8)
        for granularity, (_, _, since) in GRANULARITIES.items():
            if since <= opset:
                for scale_type in floats:
                    yield opset, granularity, scale_type, quantized


def quant_cases(op: str) -> list:
    return [(opset, granularity, scale_type, zero) for opset, granularity, scale_type, quantized in granular_grid()
            for zero in quantized + (None,)]


QUANT_CASES = quant_cases("QuantizeLinear")


def quant_id(case) -> str:
    opset, granularity, scale_type, zero = case
    return f"op{opset}-{granularity}-{scale_type.name}-{'none' if zero is None else zero.name}"


@pytest.mark.parametrize("case", QUANT_CASES, ids=[quant_id(c) for c in QUANT_CASES])
def test_quantize_linear(case):
    opset, granularity, scale_type, zero = case
    attributes, scale_shape, _ = GRANULARITIES[granularity]
    rng = np.random.default_rng(opset)
    scale = rng.uniform(0.01, 0.2, scale_shape).astype(scale_type)
    reach = 300 if zero in (I16, U16) else 1.5 * 128  # past the 8-bit range: saturation on both sides
    x = (rng.uniform(-reach, reach, X_SHAPE) * float(scale.max())).astype(scale_type)
    x[0, 0, :4] = np.array([0.5, 1.5, -0.5, -2.5]) * float(scale.reshape(-1)[0])  # halves round to even
    inputs = {"x": x, "y_scale": None, "y_zero_point": None}
    constants = {"y_scale": scale}
    if zero is not None:
        constants["y_zero_point"] = zero_points(rng, zero, scale_shape)
    check("QuantizeLinear", inputs, {"y": zero or U8}, opset, constants, **attributes)


@pytest.mark.parametrize("output_dtype", [I8, U8, I16, U16])
def test_quantize_linear_output_dtype(output_dtype):
    """opset 21: with no zero point, output_dtype names the type."""
    rng = np.random.default_rng(1)
    x = rng.uniform(-500, 500, X_SHAPE).astype(np.float32)
    code = helper.np_dtype_to_tensor_dtype(output_dtype)
    check("QuantizeLinear", {"x": x, "y_scale": None}, {"y": output_dtype}, 21, {"y_scale": np.array(1.7, F32)},
          output_dtype=code)


def test_quantize_linear_opset23_mixed_types():
    """opset 23: x float16 with a float y_scale (T1 and T2 are separate types there)."""
    rng = np.random.default_rng(2)
    x = rng.uniform(-30, 30, X_SHAPE).astype(F16)
    check("QuantizeLinear", {"x": x, "y_scale": None, "y_zero_point": None}, {"y": I8}, 23,
          {"y_scale": np.array(0.13, F32), "y_zero_point": np.array(3, np.int8)})


PRECISIONS = [(x, scale, precision) for x in (F32, F16) for scale in (F32, F16) for precision in (None, F32, F16)]


@pytest.mark.parametrize("x_type,scale_type,precision", PRECISIONS,
                         ids=[f"{x.name}-{s.name}-{p.name if p else 'default'}" for x, s, p in PRECISIONS])
def test_quantize_linear_opset23_precision(x_type, scale_type, precision):
    """opset 23: x and y_scale of either float type; the division in `precision` (default: y_scale's type).
    Quotients up to 30,000, where float16 holds only even integers, tell the precisions apart."""
    rng = np.random.default_rng(13)
    scale = rng.uniform(0.05, 0.2, (6,)).astype(scale_type)
    x = (rng.uniform(-30000, 30000, X_SHAPE) * scale.reshape(1, -1, 1).astype(F32)).astype(x_type)
    attributes = {"axis": 1} | ({"precision": helper.np_dtype_to_tensor_dtype(precision)} if precision else {})
    check("QuantizeLinear", {"x": x, "y_scale": None, "y_zero_point": None}, {"y": I16}, 23,
          {"y_scale": scale, "y_zero_point": zero_points(rng, I16, (6,))}, **attributes)


SPECIAL = np.array([np.nan, np.inf, -np.inf, 1e30, -1e30, 0.5, 1.5, 2.5, -0.5, -1.5], F32)


@pytest.mark.parametrize("zero_type", [I8, U8, I16, U16])
@pytest.mark.parametrize("x_type", [F32, F16])
def test_quantize_linear_special_values(x_type, zero_type):
    """NaN gives the lowest value, infinities and overflows saturate, halves round to even."""
    with np.errstate(over="ignore"):
        x = SPECIAL.astype(x_type)
    check("QuantizeLinear", {"x": x, "y_scale": None, "y_zero_point": None}, {"y": zero_type}, 21,
          {"y_scale": np.array(1.0, x_type), "y_zero_point": zero_points(np.random.default_rng(14), zero_type, ())})


@pytest.mark.parametrize("opset", [10, 13, 23])
def test_quantize_linear_int32_input(opset):
    """An int32 x with a float y_scale: defined at opsets 10-18 and from 23 (19-22 give both one type T1)."""
    rng = np.random.default_rng(3)
    x = rng.integers(-1000, 1000, X_SHAPE).astype(np.int32)
    check("QuantizeLinear", {"x": x, "y_scale": None, "y_zero_point": None}, {"y": I8}, opset,
          {"y_scale": np.array(4.0, F32), "y_zero_point": np.array(-2, np.int8)})


def dequant_cases() -> list:
    cases = []
    for opset, granularity, scale_type, quantized in granular_grid():
        for x_type in quantized + (I32,):
            for with_zero in (True, False):
                if x_type == I32 and (with_zero or granularity != "tensor"):
                    continue  # ONNX: an int32 x has no zero point; ONNX Runtime: per tensor
                cases.append((opset, granularity, scale_type, x_type, with_zero))
    return cases


DEQUANT_CASES = dequant_cases()


@pytest.mark.parametrize("case", DEQUANT_CASES,
                         ids=[f"op{o}-{g}-{s.name}-{x.name}-{'zp' if z else 'nozp'}" for o, g, s, x, z in DEQUANT_CASES])
def test_dequantize_linear(case):
    opset, granularity, scale_type, x_type, with_zero = case
    attributes, scale_shape, _ = GRANULARITIES[granularity]
    rng = np.random.default_rng(opset + 1)
    x = integers(rng, x_type, X_SHAPE) if x_type != I32 else rng.integers(-10 ** 6, 10 ** 6, X_SHAPE).astype(np.int32)
    constants = {"x_scale": rng.uniform(0.01, 0.2, scale_shape).astype(scale_type)}
    if with_zero:
        constants["x_zero_point"] = zero_points(rng, x_type, scale_shape)
    check("DequantizeLinear", {"x": x, "x_scale": None, "x_zero_point": None}, {"y": scale_type}, opset, constants,
          **attributes)


@pytest.mark.parametrize("output_dtype", [F32, F16])
def test_dequantize_linear_output_dtype(output_dtype):
    """opset 23: output_dtype names the result's type (here other than x_scale's)."""
    rng = np.random.default_rng(4)
    scale_type = F16 if output_dtype == F32 else F32
    check("DequantizeLinear", {"x": integers(rng, I8, X_SHAPE), "x_scale": None, "x_zero_point": None},
          {"y": output_dtype}, 23, {"x_scale": np.array(0.37, scale_type), "x_zero_point": np.array(5, np.int8)},
          output_dtype=helper.np_dtype_to_tensor_dtype(output_dtype))


# -- DynamicQuantizeLinear -------------------------------------------------------------------

DYNAMIC = {"mixed": (-3.0, 5.0), "positive": (0.5, 4.0), "negative": (-6.0, -0.1), "narrow": (-0.01, 0.02)}


@pytest.mark.parametrize("values", list(DYNAMIC) + ["zeros"])
def test_dynamic_quantize_linear(values):
    rng = np.random.default_rng(5)
    x = np.zeros((3, 7), F32) if values == "zeros" else rng.uniform(*DYNAMIC[values], (3, 7)).astype(F32)
    check("DynamicQuantizeLinear", {"x": x}, {"y": U8, "y_scale": F32, "y_zero_point": U8}, 11)


# -- MatMulInteger / QLinearMatMul --------------------------------------------------------------

MATMUL_SHAPES = {"2d": ((4, 5), (5, 3)), "batch": ((2, 4, 5), (2, 5, 3)), "broadcast": ((2, 1, 4, 5), (3, 5, 3)),
                 "vector-a": ((5,), (5, 3)), "vector-b": ((2, 4, 5), (5,)), "b-2d": ((2, 4, 5), (5, 3))}
ZEROS = {"none": (None, None), "scalar": ((), ()), "per-row-and-column": ("rows", "columns")}
MATMUL_CASES = [(a, b, shapes, zeros) for a in (I8, U8) for b in (I8, U8) for shapes in MATMUL_SHAPES for zeros in ZEROS
                if not (zeros == "per-row-and-column" and shapes != "2d")]


def by_rows(model, feeds: dict) -> list:
    """ONNX Runtime's node row by row of a 2-D a, each row with its own (scalar) a_scale / a_zero_point: ONNX
    defines them per row, but ONNX Runtime takes only scalars and onnx.reference mis-broadcasts them."""
    node = model.graph.node[0]
    initial = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    a = feeds["a"]
    rows = []
    for i in range(a.shape[0]):
        row = {name: value[i] if name.startswith("a_") and value.ndim else value for name, value in initial.items()}
        model_row = graph_model([node], inputs={"a": a[i:i + 1], "b": feeds["b"]}, outputs={"y": node_type(model)},
                                opset=model.opset_import[0].version, initializers=row)
        rows.append(run_onnxruntime(model_row, {"a": a[i:i + 1], "b": feeds["b"]})[0])
    return [np.concatenate(rows, axis=0)]


def node_type(model) -> np.dtype:
    return helper.tensor_dtype_to_np_dtype(model.graph.output[0].type.tensor_type.elem_type)


def check_model(op: str, feeds: dict, constants: dict, **attributes) -> np.ndarray:
    """ONNX Runtime's one output of one `op` node over `feeds` then `constants` (initializers)."""
    node = helper.make_node(op, list(feeds) + list(constants), ["y"], **attributes)
    return run_onnxruntime(graph_model([node], inputs=feeds, outputs={"y": I32}, opset=10, initializers=constants),
                           feeds)[0]


@pytest.mark.parametrize("a_type,b_type,shapes,zeros", MATMUL_CASES,
                         ids=[f"{a.name}-{b.name}-{s}-{z}" for a, b, s, z in MATMUL_CASES])
def test_matmul_integer(a_type, b_type, shapes, zeros):
    rng = np.random.default_rng(6)
    a_shape, b_shape = MATMUL_SHAPES[shapes]
    a, b = integers(rng, a_type, a_shape), integers(rng, b_type, b_shape)
    a_zero_shape, b_zero_shape = ZEROS[zeros]
    constants = {}
    if a_zero_shape is not None:
        constants["a_zero_point"] = zero_points(rng, a_type, a_zero_shape if a_zero_shape != "rows" else (a_shape[0],))
        constants["b_zero_point"] = zero_points(rng, b_type, b_zero_shape if b_zero_shape != "columns" else (b_shape[-1],))
    judge = by_rows if zeros == "per-row-and-column" else expected_outputs
    check("MatMulInteger", {"a": a, "b": b, "a_zero_point": None, "b_zero_point": None}, {"y": I32}, 10, constants, judge)


def test_matmul_integer_zero_points_as_inputs():
    """Zero points fed at run time (not initializers), per column of b."""
    rng = np.random.default_rng(7)
    feeds = {"a": integers(rng, U8, (3, 6)), "b": integers(rng, I8, (6, 4)), "a_zero_point": np.array(128, np.uint8),
             "b_zero_point": zero_points(rng, I8, (4,))}
    check("MatMulInteger", feeds, {"y": I32}, 10)


# (a, b, y) types ONNX Runtime's QLinearMatMul / QLinearConv kernels run; onnx.reference decides the others. With
# float16 scales ONNX Runtime widens each scale to float32 (as npinfer); the reference evaluator rounds their
# product in float16 (1 apart on some values), so float16 scales are compared where ONNX Runtime runs them.
ONNXRUNTIME_QLINEAR = {(I8, I8, I8), (U8, I8, U8), (U8, U8, U8)}
@pytest.mark.parametrize("depth", [257, 3000])
def test_matmul_integer_long_sums(depth):
    """Sums past float32's exact integers (2**24) take the wider exact path."""
    rng = np.random.default_rng(15)
    check("MatMulInteger", {"a": integers(rng, I8, (3, depth)), "b": integers(rng, U8, (depth, 2)), "a_zero_point": None,
                            "b_zero_point": None}, {"y": I32}, 10, {"a_zero_point": np.array(127, np.int8),
                                                                    "b_zero_point": np.array(0, np.uint8)})


def test_matmul_integer_wraps_as_int32():
    """A sum past int32's range wraps as ONNX Runtime's int32 accumulator does (40,000 products of 255 * 255)."""
    a, b = np.full((1, 40000), -128, np.int8), np.full((40000, 2), -128, np.int8)
    check("MatMulInteger", {"a": a, "b": b, "a_zero_point": None, "b_zero_point": None}, {"y": I32}, 10,
          {"a_zero_point": np.array(127, np.int8), "b_zero_point": np.array(127, np.int8)})


QLINEAR_MATMUL_CASES = [(opset, a, b, y, scale, shapes, b_scales)
                        for opset in (10, 21) for a in (I8, U8) for b in (I8, U8) for y in (I8, U8)
                        for scale in ((F32, F16) if opset >= 21 else (F32,)) for shapes in ("2d", "batch", "b-2d")
                        for b_scales in ("tensor", "columns") if not (b_scales == "columns" and shapes == "batch")
                        if scale == F32 or (a, b, y) in ONNXRUNTIME_QLINEAR]


@pytest.mark.parametrize("opset,a_type,b_type,y_type,scale_type,shapes,b_scales", QLINEAR_MATMUL_CASES,
                         ids=[f"op{o}-{a.name}-{b.name}-{y.name}-{s.name}-{sh}-{bs}"
                              for o, a, b, y, s, sh, bs in QLINEAR_MATMUL_CASES])
def test_qlinear_matmul(opset, a_type, b_type, y_type, scale_type, shapes, b_scales):
    rng = np.random.default_rng(8)
    a_shape, b_shape = MATMUL_SHAPES[shapes]
    per_b = (b_shape[-1],) if b_scales == "columns" else ()
    constants = {"a_scale": np.array(rng.uniform(0.01, 0.05), scale_type), "a_zero_point": zero_points(rng, a_type, ()),
                 "b_scale": rng.uniform(0.01, 0.05, per_b).astype(scale_type), "b_zero_point": zero_points(rng, b_type, per_b),
                 "y_scale": np.array(rng.uniform(0.05, 0.3), scale_type), "y_zero_point": zero_points(rng, y_type, ())}
    inputs = {"a": integers(rng, a_type, a_shape), "a_scale": None, "a_zero_point": None,
              "b": integers(rng, b_type, b_shape), "b_scale": None, "b_zero_point": None, "y_scale": None,
              "y_zero_point": None}
    check("QLinearMatMul", inputs, {"y": y_type}, opset, constants)


@pytest.mark.parametrize("a_type,b_type,y_type", sorted(ONNXRUNTIME_QLINEAR, key=str))
def test_qlinear_matmul_per_row(a_type, b_type, y_type):
    """A per-row a_scale and a_zero_point with a per-column b_scale and b_zero_point."""
    rng = np.random.default_rng(16)
    constants = {"a_scale": rng.uniform(0.01, 0.05, (4,)).astype(F32), "a_zero_point": zero_points(rng, a_type, (4,)),
                 "b_scale": rng.uniform(0.01, 0.05, (3,)).astype(F32), "b_zero_point": zero_points(rng, b_type, (3,)),
                 "y_scale": np.array(0.1, F32), "y_zero_point": zero_points(rng, y_type, ())}
    inputs = {"a": integers(rng, a_type, (4, 5)), "a_scale": None, "a_zero_point": None, "b": integers(rng, b_type, (5, 3)),
              "b_scale": None, "b_zero_point": None, "y_scale": None, "y_zero_point": None}
    check("QLinearMatMul", inputs, {"y": y_type}, 10, constants, by_rows)


# -- ConvInteger / QLinearConv ------------------------------------------------------------------

CONVS = {  # name -> (x shape, w shape, attributes)
    "1d": ((2, 3, 11), (4, 3, 3), {}),
    "2d": ((1, 2, 7, 6), (3, 2, 3, 2), {}),
    "pads": ((1, 2, 6, 6), (3, 2, 3, 3), {"pads": [1, 2, 0, 1]}),
    "strides-dilations": ((1, 2, 9, 8), (2, 2, 2, 3), {"strides": [2, 1], "dilations": [2, 2]}),
    "same-upper": ((1, 3, 7, 6), (2, 3, 2, 3), {"auto_pad": "SAME_UPPER", "strides": [2, 2]}),
    "same-lower": ((1, 3, 7, 6), (2, 3, 2, 3), {"auto_pad": "SAME_LOWER", "strides": [2, 2]}),
    "valid": ((1, 3, 7, 6), (2, 3, 3, 3), {"auto_pad": "VALID"}),
    "groups": ((2, 4, 6, 5), (6, 2, 3, 3), {"group": 2, "pads": [1, 1, 1, 1]}),
    "depthwise": ((1, 3, 6, 6), (3, 1, 3, 3), {"group": 3, "kernel_shape": [3, 3]}),
    "3d": ((1, 2, 4, 5, 4), (2, 2, 2, 3, 2), {"pads": [0, 1, 1, 1, 0, 0], "strides": [1, 2, 1]}),
}
CONV_TYPES = [(U8, U8), (U8, I8), (I8, I8), (I8, U8)]
CONV_INTEGER_CASES = [(x, w, conv, zeros) for x, w in CONV_TYPES for conv in CONVS for zeros in ("none", "scalar", "filters")]


def by_filters(attributes: dict):
    """A judge: ONNX Runtime's ConvInteger filter by filter, each on its group's channels with its own (scalar)
    w_zero_point: ONNX defines a per-filter w_zero_point, but ONNX Runtime takes only a scalar one and
    onnx.reference mis-broadcasts it."""

    def judge(model, feeds: dict) -> list:
        initial = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
        x, w, w_zero = feeds["x"], feeds["w"], initial["w_zero_point"]
        group = attributes.get("group", 1)
        per_group, filters_per_group = w.shape[1], w.shape[0] // group
        single = {k: v for k, v in attributes.items() if k != "group"}
        outputs = []
        for f in range(w.shape[0]):
            g = f // filters_per_group
            channels = x[:, g * per_group:(g + 1) * per_group]
            outputs.append(check_model("ConvInteger", {"x": channels, "w": w[f:f + 1]},
                                       {"x_zero_point": initial["x_zero_point"], "w_zero_point": w_zero[f]}, **single))
        return [np.concatenate(outputs, axis=1)]

    return judge




@pytest.mark.parametrize("x_type,w_type,conv,zeros", CONV_INTEGER_CASES,
                         ids=[f"{x.name}-{w.name}-{c}-{z}" for x, w, c, z in CONV_INTEGER_CASES])
def test_conv_integer(x_type, w_type, conv, zeros):
    rng = np.random.default_rng(9)
    x_shape, w_shape, attributes = CONVS[conv]
    constants = {}
    if zeros != "none":
        constants["x_zero_point"] = zero_points(rng, x_type, ())
        constants["w_zero_point"] = zero_points(rng, w_type, () if zeros == "scalar" else (w_shape[0],))
    inputs = {"x": integers(rng, x_type, x_shape), "w": integers(rng, w_type, w_shape), "x_zero_point": None,
              "w_zero_point": None}
    judge = by_filters(attributes) if zeros == "filters" else expected_outputs
    check("ConvInteger", inputs, {"y": I32}, 10, constants, judge, **attributes)


QLINEAR_CONV_CASES = [(x, w, y, conv, per_filter, bias) for x, w in CONV_TYPES for y in (I8, U8) for conv in CONVS
                      for per_filter in (False, True) for bias in (False, True)
                      if ((per_filter, bias) in ((False, False), (True, True)) or conv == "2d")
                      and ((x, w, y) in ONNXRUNTIME_QLINEAR or len(CONVS[conv][0]) == 4)]  # onnx.reference's is 2-D


@pytest.mark.parametrize("x_type,w_type,y_type,conv,per_filter,bias", QLINEAR_CONV_CASES,
                         ids=[f"{x.name}-{w.name}-{y.name}-{c}-{'filters' if p else 'tensor'}-{'bias' if b else 'nobias'}"
                              for x, w, y, c, p, b in QLINEAR_CONV_CASES])
def test_qlinear_conv(x_type, w_type, y_type, conv, per_filter, bias):
    rng = np.random.default_rng(10)
    x_shape, w_shape, attributes = CONVS[conv]
    per = (w_shape[0],) if per_filter else ()
    constants = {"x_scale": np.array(rng.uniform(0.01, 0.05), F32), "x_zero_point": zero_points(rng, x_type, ()),
                 "w_scale": rng.uniform(0.005, 0.02, per).astype(F32),
                 "w_zero_point": zero_points(rng, w_type, per),
                 "y_scale": np.array(rng.uniform(0.05, 0.2), F32), "y_zero_point": zero_points(rng, y_type, ())}
    if bias:
        constants["B"] = rng.integers(-5000, 5000, (w_shape[0],)).astype(np.int32)
    inputs = {"x": integers(rng, x_type, x_shape), "x_scale": None, "x_zero_point": None, "w": integers(rng, w_type, w_shape),
              "w_scale": None, "w_zero_point": None, "y_scale": None, "y_zero_point": None, "B": None}
    check("QLinearConv", inputs, {"y": y_type}, 10, constants, **attributes)


# -- what is refused, and malformed nodes ------------------------------------------------------

def failure(op: str, feeds: dict, outputs: dict, opset: int, error, constants=None, **attributes) -> str:
    node = helper.make_node(op, list(feeds) + list(constants or {}), list(outputs), **attributes)
    model = graph_model([node], inputs=feeds, outputs=outputs, opset=opset, initializers=constants)
    with pytest.raises(error) as raised:
        run_tensor_tier(model, feeds)
    return str(raised.value)


X = np.random.default_rng(11).uniform(-3, 3, (2, 4)).astype(F32)


@pytest.mark.parametrize("code,name", [(TensorProto.FLOAT8E4M3FN, "float8e4m3fn"), (TensorProto.FLOAT8E5M2, "float8e5m2"),
                                       (TensorProto.INT4, "int4"), (TensorProto.UINT4, "uint4")])
def test_low_precision_output_dtype_refused(code, name):
    message = failure("QuantizeLinear", {"x": X}, {"y": U8}, 21, npinfer.UnsupportedOptionError,
                      {"y_scale": np.array(0.1, F32)}, output_dtype=code)
    assert "ONNX QuantizeLinear node" in message and "(opset 21)" in message and name in message


@pytest.mark.parametrize("code,name", [(TensorProto.FLOAT8E4M3FN, "float8e4m3fn"), (TensorProto.INT4, "int4")])
def test_low_precision_inputs_refused(code, name):
    """A float8 / int4 tensor entering the graph is refused by its type's name."""
    x = helper.make_tensor_value_info("x", code, [2, 4])
    node = helper.make_node("DequantizeLinear", ["x", "s"], ["y"])
    graph = helper.make_graph([node], "g", [x], [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [helper.make_tensor("s", TensorProto.FLOAT, [], [0.5])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)], ir_version=10)
    from npinfer.importers.onnx_proto import read_model
    from npinfer.limits import current
    from npinfer.ops.model import TypedModel

    with pytest.raises(npinfer.UnsupportedOptionError, match=name):
        TypedModel(read_model(model.SerializeToString(), current(None), "test.onnx"), "test.onnx")


INT = np.random.default_rng(12).integers(0, 255, (2, 4)).astype(np.uint8)
REFUSED = {  # name -> (op, opset, feeds, constants, outputs)
    "quantize-float16-before-19": ("QuantizeLinear", 13, {"x": X.astype(F16)}, {"y_scale": np.array(0.1, F16)}, U8),
    "int16-zero-point-before-21": ("QuantizeLinear", 19, {"x": X}, {"y_scale": np.array(0.1, F32),
                                                                      "y_zero_point": np.array(0, np.int16)}, I16),
    "dequantize-float16-scale-before-19": ("DequantizeLinear", 13, {"x": INT}, {"x_scale": np.array(0.1, F16)}, F16),
    "dynamic-float16": ("DynamicQuantizeLinear", 11, {"x": X.astype(F16)}, {}, U8),
    "matmul-int16": ("MatMulInteger", 10, {"a": INT.astype(np.int16), "b": INT.T.astype(np.int16)}, {}, I32),
    "conv-int16": ("ConvInteger", 10, {"x": INT.astype(np.int16).reshape(1, 1, 2, 4),
                                        "w": INT[:1, :2].astype(np.int16).reshape(1, 1, 1, 2)}, {}, I32),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_types_refused(case):
    op, opset, feeds, constants, out = REFUSED[case]
    outputs = {"y": out} if op != "DynamicQuantizeLinear" else {"y": U8, "s": F32, "z": U8}
    message = failure(op, feeds, outputs, opset, npinfer.UnsupportedOptionError, constants)
    assert f"ONNX {op} node" in message and f"(opset {opset})" in message


MALFORMED = {  # name -> (op, opset, feeds, constants, attributes)
    "scale-per-axis-wrong-length": ("QuantizeLinear", 13, {"x": X}, {"y_scale": np.ones(3, F32)}, {"axis": 1}),
    "scale-per-axis-before-13": ("QuantizeLinear", 10, {"x": X}, {"y_scale": np.ones(4, F32)}, {}),
    "axis-out-of-range": ("DequantizeLinear", 13, {"x": INT}, {"x_scale": np.ones(4, F32)}, {"axis": 2}),
    "blocked-scale-wrong-shape": ("DequantizeLinear", 21, {"x": INT}, {"x_scale": np.ones((2, 3), F32)},
                                  {"axis": 1, "block_size": 3}),
    "zero-point-type-differs": ("DequantizeLinear", 13, {"x": INT}, {"x_scale": np.array(0.1, F32),
                                                                      "x_zero_point": np.array(0, np.int8)}, {}),
    "quantize-x-scale-types-differ": ("QuantizeLinear", 19, {"x": X}, {"y_scale": np.array(0.1, F16)}, {}),
    "quantize-int32-x-opset19": ("QuantizeLinear", 19, {"x": INT.astype(np.int32)}, {"y_scale": np.array(0.1, F32)}, {}),
    "quantize-int32-x-opset21": ("QuantizeLinear", 21, {"x": INT.astype(np.int32)}, {"y_scale": np.array(0.1, F32)}, {}),
    "matmul-shapes": ("MatMulInteger", 10, {"a": INT, "b": INT}, {}, {}),
    "conv-group": ("ConvInteger", 10, {"x": INT.reshape(1, 2, 2, 2), "w": INT[:1, :2].reshape(1, 1, 1, 2)}, {},
                   {"group": 3}),
    "conv-kernel-shape": ("ConvInteger", 10, {"x": INT.reshape(1, 1, 2, 4), "w": INT[:1, :2].reshape(1, 1, 1, 2)}, {},
                          {"kernel_shape": [2, 2]}),
    "conv-auto-pad": ("ConvInteger", 10, {"x": INT.reshape(1, 1, 2, 4), "w": INT[:1, :2].reshape(1, 1, 1, 2)}, {},
                      {"auto_pad": "SAME"}),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed(case):
    op, opset, feeds, constants, attributes = MALFORMED[case]
    out = I32 if op in ("MatMulInteger", "ConvInteger") else F32 if op == "DequantizeLinear" else U8
    message = failure(op, feeds, {"y": out}, opset, ModelFormatError, constants, **attributes)
    assert f"ONNX {op} node" in message and f"(opset {opset})" in message
