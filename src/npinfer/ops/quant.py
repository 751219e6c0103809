"""ONNX quantization operators (tensor tier): QuantizeLinear, DequantizeLinear,
DynamicQuantizeLinear, QLinearMatMul, QLinearConv, MatMulInteger and ConvInteger.

    quantize:    y = saturate(round_half_even(x / scale) + zero_point)     (NaN saturates low, as ONNX Runtime)
    dequantize:  y = (x - zero_point) * scale                               (computed in float32)
    integer ops: y = sum (a - a_zero_point) * (b - b_zero_point)            (exact, int32 result; wraps as an
                                                                             int32 accumulator would)
    QLinear ops: y = saturate(round_half_even(float32(acc) * a_scale * b_scale / y_scale) + y_zero_point)

Scales and zero points are per tensor (a scalar), per axis (1-D along `axis`) or blocked (`block_size`,
opset 21). Integer sums are exact: they run in float32 or float64 only where a bound on their terms
proves every partial sum an integer the type holds exactly (so BLAS may add in any order), in int64
otherwise. The convolutions are the layer tier's (layers/conv.py), on the zero-point-shifted input, with
Conv's geometry (ops/nn.py: auto_pad, pads, strides, dilations).
float8, int4/uint4, int2/uint2 and float4 types are refused by name: npinfer does not compute them.
"""

from __future__ import annotations

import numpy as np

from ..layers.conv import channels_first, channels_last, conv_bounded, pad_spatial
from .nn import CONV_ATTRIBUTES, kernel_shape, per_axis, window_geometry
from .registry import Call, operator
from .values import ONNX_NAMES, numpy_dtype, type_name

F16, F32, F64 = np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)
I8, U8, I16, U16, I32 = (np.dtype(t) for t in (np.int8, np.uint8, np.int16, np.uint16, np.int32))
EIGHT_BIT = (I8, U8)
UNCOMPUTED = {17, 18, 19, 20, 21, 22, 23, 24, 25, 26}  # float8 / uint4 / int4 / float4 / float8e8m0 / (u)int2 codes


def _names(dtypes) -> str:
    return ", ".join(type_name(d) for d in dtypes)


def check_type(call: Call, value: np.ndarray, allowed, what: str) -> np.dtype:
    """value's dtype, refused by name when ONNX does not define `what` of that type at this opset."""
    if value.dtype not in allowed:
        raise call.refuse(f"{what} of type {type_name(value.dtype)} is not computed (ONNX opset {call.opset}: {_names(allowed)})")
    return value.dtype


def since(call: Call, version: int) -> None:
    if call.opset < version:
        raise call.malformed(f"does not exist before opset {version}")


def type_attribute(call: Call, name: str, allowed):
    """The dtype named by the type-code attribute `name` (None when absent or 0); float8 / 4-bit /
    2-bit codes are refused by name."""
    code = int(call.attr(name, 0))
    if not code:
        return None
    if code in UNCOMPUTED:
        raise call.refuse(f"{name}={ONNX_NAMES.get(code, code)}: npinfer does not compute float8, 4-bit or 2-bit types")
    dtype = numpy_dtype(code, f"{call.label}: its {name}")
    if dtype not in allowed:
        raise call.refuse(f"{name}={type_name(dtype)} is not computed (ONNX opset {call.opset}: {_names(allowed)})")
    return dtype


# -- granularity: how a scale / zero point spreads over x ------------------------------------

def spread(call: Call, param: np.ndarray, shape: tuple, axis: int, block_size: int, what: str) -> np.ndarray:
    """`param` (a scale or zero point) made to broadcast against x of `shape`: a scalar (or one
    element) per tensor; a 1-D array of shape[axis] per axis; with block_size > 0, an array of x's
    rank whose `axis` has ceil(shape[axis] / block_size) blocks, each repeated block_size times."""
    if param.size == 1 and param.ndim <= 1:
        return param.reshape(())
    rank = len(shape)
    if not -rank <= axis < rank:
        raise call.malformed(f"has axis={axis}, outside [-{rank}, {rank - 1}] for an input of rank {rank}")
    axis %= rank
    if block_size <= 0:
        if param.ndim != 1 or param.shape[0] != shape[axis]:
            raise call.malformed(f"has a {what} of shape {list(param.shape)}: per axis it needs [{shape[axis]}] "
                                 f"(input {list(shape)}, axis {axis})")
        return param.reshape((1,) * axis + (-1,) + (1,) * (rank - axis - 1))  # (1, ..., D_axis, ..., 1)
    blocks = -(-shape[axis] // block_size)
    expected = shape[:axis] + (blocks,) + shape[axis + 1:]
    if param.shape != expected:
        raise call.malformed(f"has a {what} of shape {list(param.shape)}: blocks of {block_size} along axis {axis} "
                             f"of {list(shape)} need {list(expected)}")
    call.admit(shape, param.dtype, f"the blocked {what}")
    return np.repeat(param, block_size, axis=axis)[(slice(None),) * axis + (slice(0, shape[axis]),)]  # x's shape


def granularity(call: Call, x: np.ndarray, scale: np.ndarray, zero_point, per_axis: bool = True):
    """(scale, zero point or None) spread over x by the node's axis / block_size (opset rules)."""
    if zero_point is not None and zero_point.shape != scale.shape and not (zero_point.size == scale.size == 1):
        raise call.malformed(f"has a zero point of shape {list(zero_point.shape)} and a scale of shape "
                             f"{list(scale.shape)}; ONNX gives them one shape")
    if call.opset < 13 or not per_axis:
        if scale.size != 1:
            raise call.malformed(f"has a scale of shape {list(scale.shape)}; it must be a scalar at opset {call.opset}")
        return scale.reshape(()), None if zero_point is None else zero_point.reshape(())
    axis = int(call.attr("axis", 1))
    block_size = int(call.attr("block_size", 0)) if call.opset >= 21 else 0
    if block_size < 0:
        raise call.malformed(f"has block_size={block_size}; it must be positive")
    spread_scale = spread(call, scale, x.shape, axis, block_size, "scale")
    spread_zero = None if zero_point is None else spread(call, zero_point, x.shape, axis, block_size, "zero point")
    return spread_scale, spread_zero


# -- the shared arithmetic ---------------------------------------------------------------------

def saturate(values: np.ndarray, zero_point, dtype: np.dtype) -> np.ndarray:
    """round_half_even(values) + zero_point, saturated to dtype's range (NaN gives the lowest value,
    as ONNX Runtime does). `values` float16/32/64; the sum is formed in float32 or wider, exact for
    every value that can land in range."""
    work = np.promote_types(values.dtype, F32)
    q = np.rint(values.astype(work, copy=False))
    if zero_point is not None:
        q = q + zero_point.astype(work)
    info = np.iinfo(dtype)
    q = np.clip(q, info.min, info.max)
    q[np.isnan(q)] = info.min
    return q.astype(dtype)


def quantize(x: np.ndarray, scale, zero_point, dtype: np.dtype, precision: np.dtype) -> np.ndarray:
    """saturate(round(x / scale) + zero_point) to dtype, the division done in `precision`."""
    quotient = np.divide(x.astype(precision, copy=False), np.asarray(scale).astype(precision))
    return saturate(np.asarray(quotient), zero_point, dtype)


def exact_dtype(terms: int, largest: int) -> np.dtype:
    """The fastest dtype in which a sum of `terms` integer products, each at most `largest` in
    magnitude, is exact whatever the order of addition: float32 below 2**24, float64 below 2**53."""
    bound = terms * largest
    return F32 if bound < 2 ** 24 else F64 if bound < 2 ** 53 else np.dtype(np.int64)


def magnitude(dtype: np.dtype) -> int:
    """The largest |x - zero_point| for x and zero_point of integer dtype."""
    info = np.iinfo(dtype)
    return int(info.max) - int(info.min)


def shifted(x: np.ndarray, zero_point, work: np.dtype) -> np.ndarray:
    """x - zero_point in `work` (exact: both are 8-bit integers)."""
    y = x.astype(work)
    if zero_point is not None:
        y -= np.asarray(zero_point).astype(work)
    return y


def to_int32(total: np.ndarray) -> np.ndarray:
    """An exact integer sum (float or int64) as the int32 an int32 accumulator would hold (mod 2**32)."""
    return total.astype(np.int64).astype(np.int32)


def requantize(call: Call, acc: np.ndarray, multiplier: np.ndarray, zero_point: np.ndarray) -> np.ndarray:
    """saturate(round(float32(acc) * multiplier) + zero_point) in zero_point's type."""
    dtype = check_type(call, zero_point, EIGHT_BIT, "y_zero_point")
    return saturate(acc.astype(F32) * multiplier.astype(F32), zero_point, dtype)


def scale_product(call: Call, allowed, *scales: np.ndarray) -> np.ndarray:
    """first * second / third in float32 (as ONNX Runtime: float16 scales are widened first)."""
    for s in scales:
        check_type(call, s, allowed, "a scale")
    a, b, y = (s.astype(F32) for s in scales)
    return (a * b) / y


# -- QuantizeLinear / DequantizeLinear / DynamicQuantizeLinear --------------------------------

def quantized_types(call: Call) -> tuple:
    return (I8, U8, I16, U16) if call.opset >= 21 else EIGHT_BIT


@operator("QuantizeLinear", attributes=("axis", "saturate", "block_size", "output_dtype", "precision"))
def quantize_linear(call: Call, x, y_scale, y_zero_point=None):
    """y = saturate(round(x / y_scale) + y_zero_point); the type is y_zero_point's, else output_dtype, else uint8."""
    since(call, 10)
    floats = (F32, F16) if call.opset >= 19 else (F32,)
    check_type(call, x, floats + (I32,), "x")
    check_type(call, y_scale, floats, "y_scale")
    if 19 <= call.opset < 23 and x.dtype != y_scale.dtype:  # one type T1 for both (an int32 x cannot meet it)
        raise call.malformed(f"mixes x of type {type_name(x.dtype)} with y_scale of type {type_name(y_scale.dtype)}")
    dtype = type_attribute(call, "output_dtype", quantized_types(call)) if call.opset >= 21 else None
    if y_zero_point is not None:
        check_type(call, y_zero_point, quantized_types(call), "y_zero_point")
        if dtype is not None and dtype != y_zero_point.dtype:
            raise call.malformed(f"has output_dtype={type_name(dtype)} but a y_zero_point of type {type_name(y_zero_point.dtype)}")
        dtype = y_zero_point.dtype
    dtype = dtype or U8
    scale, zero_point = granularity(call, x, y_scale, y_zero_point)
    precision = type_attribute(call, "precision", (F32, F16)) if call.opset >= 23 else None
    if precision is None:
        # opset 23 divides in y_scale's type; before, ONNX Runtime divides float16 in float32; an int32 x
        # is divided in float64 (exact conversion, as the reference evaluator)
        precision = y_scale.dtype if call.opset >= 23 and x.dtype != I32 else F64 if x.dtype == I32 else F32
    return quantize(x, scale, zero_point, dtype, precision)


@operator("DequantizeLinear", attributes=("axis", "block_size", "output_dtype"))
def dequantize_linear(call: Call, x, x_scale, x_zero_point=None):
    """y = (x - x_zero_point) * x_scale in float32, given x_scale's type (or output_dtype, opset 23)."""
    since(call, 10)
    allowed = quantized_types(call) + (I32,)
    check_type(call, x, allowed, "x")
    check_type(call, x_scale, (F32, F16) if call.opset >= 19 else (F32,), "x_scale")
    if x_zero_point is not None and x_zero_point.dtype != x.dtype:
        raise call.malformed(f"has x of type {type_name(x.dtype)} and x_zero_point of type {type_name(x_zero_point.dtype)}")
    dtype = (type_attribute(call, "output_dtype", (F32, F16)) if call.opset >= 23 else None) or x_scale.dtype
    scale, zero_point = granularity(call, x, x_scale, x_zero_point)
    difference = x.astype(np.int64)
    if zero_point is not None:
        difference = difference - zero_point.astype(np.int64)
    return np.asarray(difference.astype(F32) * scale.astype(F32)).astype(dtype)


@operator("DynamicQuantizeLinear")
def dynamic_quantize_linear(call: Call, x):
    """(y uint8, y_scale, y_zero_point): the range [min(x, 0), max(x, 0)] spread over 0..255."""
    since(call, 11)
    check_type(call, x, (F32,), "x")
    low = min(np.float32(x.min()), np.float32(0)) if x.size else np.float32(0)
    high = max(np.float32(x.max()), np.float32(0)) if x.size else np.float32(0)
    scale = np.float32(1) if high == low else np.float32(high - low) / np.float32(255)
    zero_point = np.rint(np.clip(np.float32(0) - low / scale, np.float32(0), np.float32(255))).astype(U8)
    return quantize(x, scale, np.asarray(zero_point), U8, F32), np.asarray(scale, F32), np.asarray(zero_point)


# -- MatMulInteger / QLinearMatMul ---------------------------------------------------------------

def matrix_param(call: Call, param, matrix: np.ndarray, rows: bool, what: str):
    """A zero point or scale of `matrix` shaped to broadcast against it: a scalar per tensor, per row
    of a (a 1-D [M] for a 2-D a, or [..., M, 1]) or per column of b ([N], or [..., 1, N])."""
    if param is None or (param.size == 1 and param.ndim <= 1):
        return None if param is None else param.reshape(())
    if rows and matrix.ndim == 2 and param.shape == (matrix.shape[0],):
        return param.reshape(-1, 1)  # (M, 1)
    if not rows and matrix.ndim >= 2 and param.shape == (matrix.shape[-1],):
        return param  # (N,)
    want = list(matrix.shape[:-1]) + [1] if rows else list(matrix.shape[:-2]) + [1, matrix.shape[-1]]
    if param.ndim != matrix.ndim or any(p not in (1, w) for p, w in zip(param.shape, want)):
        raise call.malformed(f"has a {what} of shape {list(param.shape)} for a matrix of shape {list(matrix.shape)} "
                             f"(a scalar, or per {'row' if rows else 'column'}: {want})")
    return param


def integer_matmul(call: Call, a, b, a_zero_point, b_zero_point) -> np.ndarray:
    """(a - a_zero_point) @ (b - b_zero_point), exact, as int32 (numpy.matmul shapes)."""
    check_type(call, a, EIGHT_BIT, "A")
    check_type(call, b, EIGHT_BIT, "B")
    for zero, of in ((a_zero_point, a), (b_zero_point, b)):
        if zero is not None and zero.dtype != of.dtype:
            raise call.malformed(f"has a zero point of type {type_name(zero.dtype)} for a matrix of type {type_name(of.dtype)}")
    if a.ndim == 0 or b.ndim == 0 or a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
        raise call.malformed(f"cannot multiply shapes {list(a.shape)} and {list(b.shape)}")
    a_zero = matrix_param(call, a_zero_point, a, True, "a_zero_point")
    b_zero = matrix_param(call, b_zero_point, b, False, "b_zero_point")
    rows = a.shape[:-1] if a.ndim > 1 else ()
    columns = b.shape[-1:] if b.ndim > 1 else ()
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    call.admit(batch + rows[-1:] + columns, np.float64, "the product")
    work = exact_dtype(a.shape[-1], magnitude(a.dtype) * magnitude(b.dtype))
    return to_int32(np.matmul(shifted(a, a_zero, work), shifted(b, b_zero, work)))  # (..., M, N)


@operator("MatMulInteger")
def matmul_integer(call: Call, a, b, a_zero_point=None, b_zero_point=None):
    since(call, 10)
    return integer_matmul(call, a, b, a_zero_point, b_zero_point)


@operator("QLinearMatMul")
def qlinear_matmul(call: Call, a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point):
    """requantize((a - a_zero) @ (b - b_zero)) with a_scale * b_scale / y_scale, to y_zero_point's type."""
    since(call, 10)
    if a_zero_point is None or b_zero_point is None or y_zero_point is None:
        raise call.malformed("needs its three zero points")
    acc = integer_matmul(call, a, b, a_zero_point, b_zero_point)  # (..., M, N) int32
    if y_scale.size != 1 or y_zero_point.size != 1:
        raise call.malformed("has a y_scale or y_zero_point of more than one element (ONNX: per tensor)")
    multiplier = scale_product(call, (F32, F16) if call.opset >= 21 else (F32,), matrix_param(call, a_scale, a, True, "a_scale"),
                               matrix_param(call, b_scale, b, False, "b_scale"), y_scale.reshape(()))
    return requantize(call, acc, multiplier, y_zero_point.reshape(()))


# -- ConvInteger / QLinearConv -------------------------------------------------------------------

def integer_conv(call: Call, x, w, x_zero_point, w_zero_point) -> np.ndarray:
    """The convolution of (x - x_zero_point) with (w - w_zero_point), exact, as int32:
    x (batch, channels, *spatial), w (filters, channels / group, *kernel) -> (batch, filters, *out)."""
    check_type(call, x, EIGHT_BIT, "x")
    check_type(call, w, EIGHT_BIT, "w")
    if x.ndim < 3 or w.ndim != x.ndim:
        raise call.malformed(f"needs x (batch, channels, *spatial) and w of its rank, got {list(x.shape)} and {list(w.shape)}")
    n, group = x.ndim - 2, int(call.attr("group", 1))
    filters, per_group, kernel = w.shape[0], w.shape[1], kernel_shape(call, w, n)
    if group < 1 or per_group * group != x.shape[1] or filters % group:
        raise call.malformed(f"has group={group} for {x.shape[1]} channels and weights {list(w.shape)}")
    strides, dilations = per_axis(call, "strides", n), per_axis(call, "dilations", n)
    if x_zero_point is not None and x_zero_point.size != 1:
        raise call.malformed(f"has an x_zero_point of shape {list(x_zero_point.shape)} (ONNX: per tensor)")
    if w_zero_point is not None and w_zero_point.size not in (1, filters):
        raise call.malformed(f"has a w_zero_point of shape {list(w_zero_point.shape)} (a scalar or one per filter)")
    for zero, of, name in ((x_zero_point, x, "x"), (w_zero_point, w, "w")):
        if zero is not None and zero.dtype != of.dtype:
            raise call.malformed(f"has {name}_zero_point of type {type_name(zero.dtype)} for {name} of type {type_name(of.dtype)}")
    out, pads = window_geometry(call, x.shape[2:], kernel, strides, dilations)  # nn.py's: the Conv geometry
    padded = [s + b + a for s, (b, a) in zip(x.shape[2:], pads)]
    call.admit((x.shape[0], filters, *out), np.float64, "the convolution")
    call.admit((x.shape[0], *padded, x.shape[1]), np.float64, "the padded input")
    work = exact_dtype(per_group * int(np.prod(kernel)), magnitude(x.dtype) * magnitude(w.dtype))
    w_zero = None if w_zero_point is None else w_zero_point.reshape((-1,) + (1,) * (w.ndim - 1))  # (filters or 1, 1, ...)
    kernel_last = np.transpose(shifted(w, w_zero, work), tuple(range(2, w.ndim)) + (1, 0))  # (*kernel, channels / group, filters)
    x_last = channels_last(shifted(x, x_zero_point, work))  # (batch, *spatial, channels), zero padding below
    y = conv_bounded(pad_spatial(np.ascontiguousarray(x_last), pads), np.ascontiguousarray(kernel_last), None,
                     strides, "valid", dilations, group, None)  # (batch, *out, filters)
    return to_int32(channels_first(y))  # (batch, filters, *out)


@operator("ConvInteger", attributes=CONV_ATTRIBUTES)
def conv_integer(call: Call, x, w, x_zero_point=None, w_zero_point=None):
    since(call, 10)
    return integer_conv(call, x, w, x_zero_point, w_zero_point)


@operator("QLinearConv", attributes=CONV_ATTRIBUTES)
def qlinear_conv(call: Call, x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale, y_zero_point, bias=None):
    """requantize(conv(x - x_zero, w - w_zero) + bias) with x_scale * w_scale / y_scale per filter."""
    since(call, 10)
    if x_zero_point is None or w_zero_point is None or y_zero_point is None:
        raise call.malformed("needs its three zero points")
    acc = integer_conv(call, x, w, x_zero_point, w_zero_point)  # (batch, filters, *out) int32
    spatial = (1,) * (x.ndim - 2)
    if bias is not None:
        check_type(call, bias, (I32,), "B")
        if bias.shape != (w.shape[0],):
            raise call.malformed(f"has a bias of shape {list(bias.shape)} for {w.shape[0]} filters")
        acc = acc + bias.reshape((-1,) + spatial)  # int32, wrapping as the accumulator does
    for s, name in ((x_scale, "x_scale"), (y_scale, "y_scale"), (y_zero_point, "y_zero_point")):
        if s.size != 1:
            raise call.malformed(f"has a {name} of shape {list(s.shape)} (ONNX: per tensor)")
    if w_scale.size not in (1, w.shape[0]):
        raise call.malformed(f"has a w_scale of shape {list(w_scale.shape)} (a scalar or one per filter)")
    multiplier = scale_product(call, (F32,), x_scale.reshape(()), w_scale.reshape((-1,) + spatial), y_scale.reshape(()))
    return requantize(call, acc, multiplier, y_zero_point.reshape(()))
