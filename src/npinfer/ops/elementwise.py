"""Elementwise arithmetic, comparison, logic, Where, Cast and the constant makers, with ONNX's
type rules: both operands of one type (refused otherwise, never promoted), integer Div
truncates toward zero, comparisons give bool, Cast rounds to the target type (float16 overflow
becomes inf), and a broadcast result is checked against the budget before it is made."""

from __future__ import annotations

import numpy as np

from .registry import Call, operator
from .values import FLOATS, INTEGERS, numpy_dtype, type_name


def broadcast(call: Call, *arrays: np.ndarray) -> tuple:
    """The broadcast shape of `arrays` (ONNX's multidirectional broadcasting, as NumPy's),
    admitted against the budget."""
    try:
        shape = np.broadcast_shapes(*(a.shape for a in arrays))
    except ValueError:
        raise call.malformed(f"cannot broadcast shapes {' and '.join(str(list(a.shape)) for a in arrays)}") from None
    return call.admit(shape, arrays[0].dtype)


def same_type(call: Call, arrays, allowed=None) -> np.dtype:
    """The one element type of `arrays` (ONNX gives each operand of these operators one type T),
    refused when they differ or when T is not among `allowed`."""
    dtypes = {a.dtype for a in arrays}
    if len(dtypes) != 1:
        raise call.malformed(f"mixes element types {', '.join(sorted(type_name(d) for d in dtypes))}; ONNX gives them one type")
    dtype = dtypes.pop()
    if allowed is not None and dtype not in allowed:
        raise call.refuse(f"is not defined for {type_name(dtype)} (ONNX: {', '.join(type_name(d) for d in allowed)})")
    return dtype


def integer_divide(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a / b for integers, truncated toward zero (C's and ONNX's rule; NumPy's // floors)."""
    if np.any(b == 0):
        raise ZeroDivisionError("integer division by zero")
    quotient = np.floor_divide(a, b)
    # floor and truncation differ where the signs differ and the division is inexact
    fix = (np.remainder(a, b) != 0) & ((a < 0) != (b < 0))
    return (quotient + fix.astype(quotient.dtype)).astype(np.result_type(a, b))


def divide(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """ONNX Div: integer operands truncate, floats divide."""
    if a.dtype.kind in "iu" and b.dtype.kind in "iu":
        return integer_divide(a, b)
    return np.divide(a, b)


def power(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """ONNX Pow: the result has the base's type (the exponent may be of another numeric type)."""
    if a.dtype.kind in "iu":
        if b.dtype.kind == "f":  # an integer base to a float power: computed in float64, truncated back
            return np.trunc(np.power(a.astype(np.float64), b.astype(np.float64))).astype(a.dtype)
        if np.any(b < 0):
            raise ValueError("an integer raised to a negative integer power")
        return np.power(a, b.astype(a.dtype))
    return np.power(a, b.astype(a.dtype))


_ARITHMETIC = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": divide}


def register_binary(table: dict, allowed=None, check=same_type) -> None:
    """Register each `name: numpy_function` of `table` as a broadcasting binary operator whose
    two operands share one type, checked by `check(call, arrays, allowed)`."""
    for name, function in table.items():
        _register_binary(name, function, allowed, check)


def _register_binary(name: str, function, allowed, check) -> None:
    @operator(name)
    def binary(call: Call, a, b):
        check(call, (a, b), allowed)
        broadcast(call, a, b)
        return np.asarray(function(a, b))


register_binary(_ARITHMETIC, FLOATS + INTEGERS)


@operator("Pow")
def pow_(call: Call, a, b):
    if a.dtype not in FLOATS + INTEGERS or b.dtype not in FLOATS + INTEGERS:
        raise call.refuse(f"is not defined for {type_name(a.dtype)} ** {type_name(b.dtype)}")
    broadcast(call, a, b)
    return np.asarray(power(a, b))


_COMPARISONS = {"Equal": np.equal, "Less": np.less, "Greater": np.greater, "LessOrEqual": np.less_equal,
                "GreaterOrEqual": np.greater_equal}


register_binary(_COMPARISONS)

_LOGICAL = {"And": np.logical_and, "Or": np.logical_or, "Xor": np.logical_xor}


register_binary(_LOGICAL, (np.dtype(bool),))


@operator("Not")
def not_(call: Call, x):
    same_type(call, (x,), (np.dtype(bool),))
    return np.logical_not(x)


@operator("Where")
def where(call: Call, condition, a, b):
    if condition.dtype != np.bool_:
        raise call.malformed(f"takes a bool condition, not {type_name(condition.dtype)}")
    same_type(call, (a, b))
    broadcast(call, condition, a, b)
    return np.asarray(np.where(condition, a, b))


@operator("Identity")
def identity(call: Call, x):
    return x


# -- Cast ----------------------------------------------------------------------------------

def cast(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """ONNX Cast of a tensor to `dtype`: floats to integers truncate toward zero, to bool is
    "not zero", floats round to the nearest of a narrower float (overflow to inf)."""
    if x.dtype == dtype:
        return x
    if dtype == np.bool_:
        return x != 0
    return np.asarray(x).astype(dtype)


@operator("Cast", attributes=("to", "saturate", "round_mode"))
def cast_(call: Call, x):
    dtype = numpy_dtype(int(call.attr("to")), f"{call.label}: its target type")
    if call.string("round_mode", "up") != "up":
        raise call.refuse("round_mode other than 'up' (it applies to float8 targets, which npinfer does not compute)")
    return cast(x, dtype)


@operator("CastLike", attributes=("saturate", "round_mode"))
def cast_like(call: Call, x, like):
    return cast(x, like.dtype)


# -- constants -----------------------------------------------------------------------------

@operator("Constant", attributes=("value", "value_float", "value_floats", "value_int", "value_ints", "sparse_value",
                                  "value_string", "value_strings"))
def constant(call: Call):
    present = [name for name in call.node.attributes]
    if len(present) != 1:
        raise call.malformed(f"must have exactly one value attribute, has {present}")
    name = present[0]
    value = call.attr(name)
    if name == "value":
        return np.asarray(value)
    if name == "value_float":
        return np.asarray(value, np.float32)
    if name == "value_floats":
        return np.asarray(value, np.float32).reshape(-1)
    if name == "value_int":
        return np.asarray(value, np.int64)
    if name == "value_ints":
        return np.asarray(value, np.int64).reshape(-1)
    raise call.refuse(f"'{name}' (strings and sparse tensors are not computed by npinfer)")


@operator("ConstantOfShape", attributes=("value",))
def constant_of_shape(call: Call, shape):
    if shape.dtype != np.int64:
        raise call.malformed(f"takes an int64 shape, not {type_name(shape.dtype)}")
    value = call.attr("value", np.zeros(1, np.float32))
    fill = np.asarray(value).reshape(-1)
    if fill.size != 1:
        raise call.malformed("has a 'value' of more than one element")
    dims = call.admit(shape.reshape(-1).tolist(), fill.dtype)
    return np.full(dims, fill[0], fill.dtype)
