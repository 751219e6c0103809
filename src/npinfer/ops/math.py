"""ONNX operators: math family (tensor tier). See ops/registry.py for the operator contract.

Elementwise functions (Abs .. Atanh), activations (Relu .. SwiGLU; their math is the layer
tier's, layers/activations.py, shared), Clip, the variadic Max / Min / Sum / Mean, Mod, IsNaN /
IsInf, the bitwise operators and BitCast, and the signal windows. Each result keeps its input's
type (a float16 or float64 tensor is computed as float16 / float64, never as float32); a type an
operator does not define at the node's opset is refused by name.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ..layers import activations as act
from ..layers.activation_layers import prelu
from ..layers.special import erf
from .elementwise import broadcast, register_binary, same_type
from .registry import Call, operator
from .values import FLOATS, INTEGERS, NUMBERS, SIGNED, UNSIGNED, numpy_dtype, type_name

# the first opset of each operator that is newer than opset 1 (a node at an older opset is malformed)
_SINCE = {"Sign": 9, "Erf": 9, "Sin": 7, "Cos": 7, "Tan": 7, "Asin": 7, "Acos": 7, "Atan": 7, "Sinh": 9, "Cosh": 9,
          "Asinh": 9, "Acosh": 9, "Atanh": 9, "Round": 11, "IsNaN": 9, "IsInf": 10, "Mod": 10, "Shrink": 9,
          "ThresholdedRelu": 10, "Celu": 12, "HardSwish": 14, "Mish": 18, "Gelu": 20, "Swish": 24, "SwiGLU": 28,
          "BitShift": 11, "BitwiseAnd": 18, "BitwiseOr": 18, "BitwiseXor": 18, "BitwiseNot": 18, "BitCast": 26,
          "HannWindow": 17, "HammingWindow": 17, "BlackmanWindow": 17}
_INT_FROM = {"Relu": (14, SIGNED), "Clip": (12, INTEGERS), "Max": (12, INTEGERS), "Min": (12, INTEGERS),
             "PRelu": (9, tuple(np.dtype(t) for t in (np.int32, np.int64, np.uint32, np.uint64)))}


def check_type(call: Call, arrays, allowed) -> np.dtype:
    """The one type of `arrays`, refused unless `allowed` (and the operator exists at this opset)."""
    op = call.node.op_type
    if call.opset < _SINCE.get(op, 1):
        raise call.malformed(f"uses {op}, which ONNX defines from opset {_SINCE[op]}")
    return same_type(call, arrays, allowed)


def _param(call: Call, name: str, default: float) -> float:
    """A float attribute; an absent one is its ONNX default as the float32 an attribute holds."""
    value = call.attr(name, None)
    if value is None:
        return float(np.float32(default))
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise call.malformed(f"has attribute {name}={value!r}, which must be a number")
    return float(value)


# -- unary functions without attributes ---------------------------------------------------

def _float16_once(function):
    """`function` of a float16 tensor computed in float32 and rounded once to float16, as ONNX
    Runtime's float16 kernels do (rounding each step in float16 instead, and a float attribute
    to float16 first, was up to 8 ulps off ONNX Runtime); other types in their own type."""
    def run(x):
        if x.dtype == np.float16:
            return function(x.astype(np.float32)).astype(np.float16)
        return function(x)
    return run


_UNARY = {  # name -> (function, types)
    "Abs": (np.abs, NUMBERS), "Neg": (np.negative, FLOATS + SIGNED), "Sign": (np.sign, NUMBERS),
    "Reciprocal": (np.reciprocal, FLOATS), "Sqrt": (np.sqrt, FLOATS), "Exp": (np.exp, FLOATS),
    "Log": (np.log, FLOATS), "Floor": (np.floor, FLOATS), "Ceil": (np.ceil, FLOATS),
    "Round": (np.round, FLOATS),  # halves to even, as ONNX
    "Erf": (erf, FLOATS),
    "Sin": (np.sin, FLOATS), "Cos": (np.cos, FLOATS), "Tan": (np.tan, FLOATS), "Asin": (np.arcsin, FLOATS),
    "Acos": (np.arccos, FLOATS), "Atan": (np.arctan, FLOATS), "Sinh": (np.sinh, FLOATS), "Cosh": (np.cosh, FLOATS),
    "Asinh": (np.arcsinh, FLOATS), "Acosh": (np.arccosh, FLOATS), "Atanh": (np.arctanh, FLOATS),
    "Relu": (act.relu, FLOATS + SIGNED), "Sigmoid": (act.sigmoid, FLOATS), "Tanh": (np.tanh, FLOATS),
    "Softplus": (act.softplus, FLOATS), "Softsign": (act.softsign, FLOATS),
    "Mish": (act.mish, FLOATS),
    "HardSwish": (functools.partial(act.hard_silu, slope=1.0 / 6.0), FLOATS),
}


def _allowed(call: Call, types) -> tuple:
    """`types` less the integer ones an operator gained only at a later opset."""
    since, integers = _INT_FROM.get(call.node.op_type, (0, ()))
    return tuple(t for t in types if t not in integers) if call.opset < since else types


def _unary(name: str):
    function, types = _UNARY[name]
    once = _float16_once(function)

    @operator(name)
    def unary(call: Call, x):
        check_type(call, (x,), _allowed(call, types))
        return np.asarray(once(x)).astype(x.dtype, copy=False)

    return unary


for _name in _UNARY:
    _unary(_name)


# -- activations with attributes ----------------------------------------------------------

def _activation(name: str, attributes: tuple, make):
    """Register activation `name`: `make(call)` gives the function of x for the node's attributes."""
    @operator(name, attributes=attributes)
    def activation(call: Call, x):
        check_type(call, (x,), FLOATS if name != "Celu" or call.opset >= 28 else (np.dtype(np.float32),))
        return np.asarray(_float16_once(make(call))(x)).astype(x.dtype, copy=False)

    return activation


_activation("LeakyRelu", ("alpha",), lambda c: functools.partial(act.leaky_relu, negative_slope=_param(c, "alpha", 0.01)))
_activation("Elu", ("alpha",), lambda c: functools.partial(act.elu, alpha=_param(c, "alpha", 1.0)))
_activation("Celu", ("alpha",), lambda c: functools.partial(act.celu, alpha=_param(c, "alpha", 1.0)))
_activation("Selu", ("alpha", "gamma"), lambda c: functools.partial(
    act.selu, alpha=_param(c, "alpha", 1.67326319217681884765625), scale=_param(c, "gamma", 1.05070102214813232421875)))
_activation("HardSigmoid", ("alpha", "beta"), lambda c: functools.partial(
    act.hard_sigmoid, slope=_param(c, "alpha", 0.2), offset=_param(c, "beta", 0.5)))
_activation("ThresholdedRelu", ("alpha",), lambda c: functools.partial(act.relu, threshold=_param(c, "alpha", 1.0)))
_activation("Swish", ("alpha",), lambda c: functools.partial(act.silu, alpha=_param(c, "alpha", 1.0)))


def _gelu(call: Call):
    approximate = call.string("approximate", "none")
    if approximate not in ("none", "tanh"):
        raise call.malformed(f"has approximate='{approximate}'; ONNX defines 'none' and 'tanh'")
    return functools.partial(act.gelu, approximate=approximate == "tanh")


_activation("Gelu", ("approximate",), _gelu)


@operator("Shrink", attributes=("bias", "lambd"))
def shrink(call: Call, x):
    check_type(call, (x,), NUMBERS)
    lambd, bias = _param(call, "lambd", 0.5), _param(call, "bias", 0.0)
    if x.dtype.kind == "f":
        return np.asarray(_float16_once(functools.partial(act.shrink, threshold=lambd, bias=bias))(x)).astype(x.dtype, copy=False)
    # integers: compared and shifted in float64, the result truncated back to T (as ONNX Runtime)
    return np.asarray(act.shrink(x.astype(np.float64), lambd, bias)).astype(x.dtype)


@operator("PRelu")
def prelu_(call: Call, x, slope):
    check_type(call, (x, slope), _allowed(call, FLOATS + _INT_FROM["PRelu"][1]))
    if np.broadcast_shapes(x.shape, slope.shape) != x.shape:
        raise call.malformed(f"has a slope of shape {list(slope.shape)} that does not broadcast to X {list(x.shape)}")
    if x.dtype.kind == "u":  # nothing is negative
        return x
    return np.asarray(prelu(x, slope)).astype(x.dtype, copy=False)


@operator("SwiGLU", attributes=("alpha",))
def swiglu(call: Call, a, b):
    check_type(call, (a, b), FLOATS)
    if a.shape != b.shape:
        raise call.malformed(f"has inputs of shapes {list(a.shape)} and {list(b.shape)}; SwiGLU does not broadcast")
    alpha = _param(call, "alpha", 1.0)
    if a.dtype == np.float16:  # computed in float32, rounded once
        return (act.silu(a.astype(np.float32), alpha) * b.astype(np.float32)).astype(np.float16)
    return np.asarray(act.silu(a, alpha) * b).astype(a.dtype, copy=False)


# -- Clip ----------------------------------------------------------------------------------

def _bound(call: Call, value, dtype, what: str):
    """A Clip bound as a rank-0 array of `dtype` (None when absent)."""
    if value is None:
        return None
    if value.size != 1:
        raise call.malformed(f"has a {what} of shape {list(value.shape)}; ONNX takes a scalar")
    return value.reshape(())


@operator("Clip", attributes=("min", "max"))
def clip(call: Call, x, low=None, high=None):
    """Clip: before opset 11 the bounds are attributes, from 11 optional inputs; where min > max
    every value becomes max (np.minimum applied last)."""
    dtype = check_type(call, (x,), _allowed(call, NUMBERS))
    if call.opset < 11:
        if low is not None or high is not None:
            raise call.malformed("has bound inputs; before opset 11 Clip's bounds are the attributes min and max")
        low = np.asarray(_param(call, "min", 0.0), dtype) if call.has("min") else None
        high = np.asarray(_param(call, "max", 0.0), dtype) if call.has("max") else None
    elif call.has("min") or call.has("max"):
        raise call.malformed("has attributes min / max; from opset 11 Clip's bounds are inputs")
    low, high = _bound(call, low, dtype, "min"), _bound(call, high, dtype, "max")
    bounds = [b for b in (low, high) if b is not None]
    same_type(call, [x, *bounds])
    y = x if low is None else np.maximum(x, low)
    y = y if high is None else np.minimum(y, high)
    return np.asarray(y)


# -- variadic Max / Min / Sum / Mean -------------------------------------------------------

_VARIADIC = {"Max": (np.maximum, NUMBERS), "Min": (np.minimum, NUMBERS), "Sum": (np.add, FLOATS),
             "Mean": (np.add, FLOATS)}


def _variadic(name: str):
    function, types = _VARIADIC[name]

    @operator(name)
    def variadic(call: Call, *arrays):
        arrays = [a for a in arrays if a is not None]
        if not arrays:
            raise call.malformed("has no inputs; it takes one or more")
        check_type(call, arrays, _allowed(call, types))
        if call.opset < 8 and len({a.shape for a in arrays}) > 1:
            raise call.malformed("has inputs of different shapes; before opset 8 they do not broadcast")
        broadcast(call, *arrays)
        y = functools.reduce(function, arrays)  # left to right, as ONNX Runtime
        if name == "Mean":
            y = y / np.asarray(len(arrays), y.dtype)
        # a rank-0 reduction gives a NumPy scalar; one input is copied so the output never aliases it
        return np.array(y) if len(arrays) == 1 else np.asarray(y)

    return variadic


for _name in _VARIADIC:
    _variadic(_name)


# -- Mod -----------------------------------------------------------------------------------

@operator("Mod", attributes=("fmod",))
def mod(call: Call, a, b):
    """fmod=1: C's fmod (the sign of A); fmod=0: A - floor(A/B)*B (the sign of B), for floats
    only from opset 28. An integer divisor of zero is refused."""
    dtype = check_type(call, (a, b), NUMBERS)
    fmod = call.attr("fmod", 0)
    if fmod not in (0, 1):
        raise call.malformed(f"has fmod={fmod!r}; ONNX defines 0 and 1")
    if dtype.kind == "f" and fmod == 0 and call.opset < 28:
        raise call.malformed(f"takes {type_name(dtype)} with fmod=0; before opset 28 floats need fmod=1")
    broadcast(call, a, b)
    if dtype.kind in "iu" and np.any(b == 0):
        raise call.refuse("an integer divisor of zero (ONNX leaves the result undefined)")
    return np.asarray(np.fmod(a, b) if fmod else np.remainder(a, b))


# -- IsNaN / IsInf -------------------------------------------------------------------------

@operator("IsNaN")
def is_nan(call: Call, x):
    check_type(call, (x,), FLOATS)
    return np.isnan(x)


@operator("IsInf", attributes=("detect_negative", "detect_positive"))
def is_inf(call: Call, x):
    check_type(call, (x,), FLOATS if call.opset >= 20 else FLOATS[1:])
    negative, positive = call.attr("detect_negative", 1), call.attr("detect_positive", 1)
    found = np.isinf(x)
    if not negative:
        found &= x > 0
    if not positive:
        found &= x < 0
    return found


# -- bitwise -------------------------------------------------------------------------------

@operator("BitShift", attributes=("direction",))
def bit_shift(call: Call, x, shift):
    """X shifted by Y bits. From opset 28 signed types too: a right shift extends the sign, a
    left shift drops bits past the sign bit; a shift below 0 or of the width or more leaves only
    the sign extension (-1 for a negative X shifted right, else 0)."""
    dtype = check_type(call, (x, shift), INTEGERS if call.opset >= 28 else UNSIGNED)
    direction = call.string("direction")
    if direction not in ("LEFT", "RIGHT"):
        raise call.malformed(f"has direction='{direction}'; ONNX defines 'LEFT' and 'RIGHT'")
    broadcast(call, x, shift)
    bits = dtype.itemsize * 8
    inside = (shift >= 0) & (shift < bits)
    amount = np.where(inside, shift, 0).astype(dtype)
    if direction == "RIGHT":
        y = np.right_shift(x, amount)  # arithmetic for signed T
        outside = np.where(x < 0, np.asarray(-1, dtype), np.asarray(0, dtype)) if dtype.kind == "i" else np.zeros((), dtype)
    else:
        unsigned = np.dtype(f"u{dtype.itemsize}")  # bits past the top are dropped, the sign bit included
        y = np.left_shift(x.view(unsigned), amount.view(unsigned)).view(dtype)
        outside = np.zeros((), dtype)
    return np.asarray(np.where(inside, y, outside))


_BITWISE = {"BitwiseAnd": np.bitwise_and, "BitwiseOr": np.bitwise_or, "BitwiseXor": np.bitwise_xor}


register_binary(_BITWISE, INTEGERS, check_type)


@operator("BitwiseNot")
def bitwise_not(call: Call, x):
    check_type(call, (x,), INTEGERS)
    return np.invert(x)


@operator("BitCast", attributes=("to",))
def bit_cast(call: Call, x):
    """The same bytes read as type `to` (same width only; little endian, as NumPy here)."""
    check_type(call, (x,), None)
    dtype = numpy_dtype(int(call.attr("to")), f"{call.label}: its target type")
    if dtype.itemsize != x.dtype.itemsize:
        raise call.malformed(f"casts {type_name(x.dtype)} to {type_name(dtype)}; BitCast needs types of one width")
    data = np.array(x, order="C").view(np.dtype(f"<u{x.dtype.itemsize}").newbyteorder("="))
    if dtype == np.bool_:
        if np.any(data > 1):
            raise call.refuse("bytes other than 0 and 1 read as bool")
        return data != 0
    return data.view(dtype)


# -- signal windows ------------------------------------------------------------------------

_WINDOWS = {  # name -> cosine coefficients a_k of w[n] = sum_k (-1)^k a_k cos(2 pi k n / N)
    "HannWindow": (0.5, 0.5), "HammingWindow": (25.0 / 46.0, 21.0 / 46.0), "BlackmanWindow": (0.42, 0.5, 0.08)}


def _window(name: str):
    coefficients = _WINDOWS[name]

    @operator(name, attributes=("periodic", "output_datatype"), fold=True)
    def window(call: Call, size):
        check_type(call, (size,), (np.dtype(np.int32), np.dtype(np.int64)))
        if size.size != 1:
            raise call.malformed(f"has a size of shape {list(size.shape)}; ONNX takes a scalar")
        dtype = numpy_dtype(int(call.attr("output_datatype", 1)), f"{call.label}: its output_datatype")
        if dtype == np.bool_:
            raise call.malformed("has output_datatype bool, which ONNX does not define for windows")
        length = int(size.reshape(()))
        (length,) = call.admit((length,), dtype, "a window")
        periodic = call.attr("periodic", 1)
        if periodic not in (0, 1):
            raise call.malformed(f"has periodic={periodic!r}; ONNX defines 0 and 1")
        span = length if periodic else length - 1  # N: the period of the cosines
        n = np.arange(length, dtype=np.float64)  # (length,)
        w = np.zeros(length, np.float64)
        for k, a in enumerate(coefficients):  # a symmetric window of one sample is 0/0: NaN, as ONNX Runtime
            w += (-1) ** k * a * np.cos(2.0 * math.pi * k * n / span)
        if dtype.kind in "iu":  # truncated from float32, as ONNX Runtime: float64's 0.99999999999999989 for
            w = w.astype(np.float32)  # Blackman's exact 1 in the middle would truncate to 0
        return w.astype(dtype)

    return window


for _name in _WINDOWS:
    _window(_name)
