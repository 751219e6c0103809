"""ONNX arithmetic (Add, Sub, Mul, Div, Pow, Max, Min, the unary functions, Clip), reductions
(Reduce*, ArgMax / ArgMin) and matrix products (MatMul, Gemm -> Dense).
"""

from __future__ import annotations

import numpy as np

from ..layers.tensor_ops import _REDUCE, arg_reduce
from .onnx_layers_shape import axes_input
from .toolkit import emit
from .toolkit.values import Sizes, Tensor, all_constant, as_sizes, fold

_NUMPY_BINARY = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Pow": np.power, "Max": np.maximum, "Min": np.minimum}
_BINARY_OPS = {"Add": "add", "Sub": "sub", "Mul": "mul", "Div": "div", "Pow": "pow", "Max": "maximum", "Min": "minimum"}


def _divide(a, b):
    from ..ops.elementwise import divide

    return divide(a, b)  # integers truncate toward zero (ONNX Div)


def _binary(op_type):
    def convert(c, args, attrs):
        if len(args) != 2 and op_type not in ("Max", "Min"):
            raise c.refuse(f"{len(args)} inputs")
        if op_type in ("Max", "Min") and len(args) != 2:
            raise c.refuse("Max / Min of more than two inputs is not supported")
        if all_constant(args):
            function = _divide if op_type == "Div" else _NUMPY_BINARY[op_type]
            result = fold(c, function, args, op_type)
            both_sizes = any(isinstance(a, Sizes) for a in args)
            return [as_sizes(result) if both_sizes and as_sizes(result) is not None else result]
        a, b = args
        if isinstance(a, Sizes) or isinstance(b, Sizes):
            raise c.refuse("arithmetic on run-time sizes is not supported")
        if op_type == "Pow" and isinstance(b, Tensor) and b.ref in c.integers and not (isinstance(a, Tensor) and a.ref in c.integers):
            b = c.one("tensor.Cast", {"to": "float"}, [b], base="exponent")  # ONNX: a float base's type decides
        swap = not isinstance(a, Tensor)
        tensor, other = (b, a) if swap else (a, b)
        other = other if isinstance(other, Tensor) else np.asarray(other, np.float32)  # a constant: the layer's operand
        return [emit.binary(c, _BINARY_OPS[op_type], tensor, other, swap)]
    return convert


_UNARY = {"Neg": "neg", "Exp": "exp", "Log": "log", "Sqrt": "sqrt", "Abs": "abs", "Reciprocal": "reciprocal",
          "Sin": "sin", "Cos": "cos", "Erf": "erf"}


def _unary(op_type):
    def convert(c, args, attrs):
        if isinstance(args[0], np.ndarray):
            from ..layers.tensor_ops import _UNARY as functions

            return [functions[_UNARY[op_type]](args[0])]
        return [c.one("tensor.Unary", {"op": _UNARY[op_type]}, [c.tensor(args[0])])]
    return convert


def op_clip(c, args, attrs):
    x = c.tensor(args[0])
    low = attrs.get("min") if "min" in attrs else (float(c.constant(args[1], "min")) if len(args) > 1 and args[1] is not None else None)
    high = attrs.get("max") if "max" in attrs else (float(c.constant(args[2], "max")) if len(args) > 2 and args[2] is not None else None)
    if low is not None:
        x = c.one("tensor.Binary", {"op": "maximum", "scalar": float(low)}, [x], base="min")
    if high is not None:
        x = c.one("tensor.Binary", {"op": "minimum", "scalar": float(high)}, [x], base="max")
    return [x]


def _reduce(op):
    def convert(c, args, attrs):
        x = args[0]
        axes = axes_input(c, args, attrs, 1)
        keepdims = bool(attrs.get("keepdims", 1))
        if axes is None and attrs.get("noop_with_empty_axes", 0):
            return [x]
        if isinstance(x, np.ndarray):
            return [np.asarray(_REDUCE[op](x, axis=tuple(axes) if axes is not None else None, keepdims=keepdims))]
        return [c.one("tensor.Reduce", {"op": op, "axes": axes, "keepdims": keepdims}, [c.tensor(x)])]
    return convert


def _arg_reduce(op):
    def convert(c, args, attrs):
        x = args[0]
        config = {"op": op, "axis": int(attrs.get("axis", 0)), "keepdims": bool(attrs.get("keepdims", 1)),
                  "last": bool(attrs.get("select_last_index", 0))}
        if isinstance(x, np.ndarray):
            return [arg_reduce(x, config["op"], config["axis"], config["keepdims"], config["last"])]
        return [c.one("tensor.ArgReduce", config, [c.tensor(x)])]
    return convert


def op_matmul(c, args, attrs):
    a, b = args
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        if a.ndim >= 1 and b.ndim >= 1:
            rows = a.shape[:-1] if a.ndim > 1 else ()
            c.admit(np.broadcast_shapes(a.shape[:-2], b.shape[:-2]) + rows + b.shape[-1:] * (b.ndim > 1), np.result_type(a, b))
        return [np.matmul(a, b)]
    return [emit.matmul(c, c.tensor(a), b if isinstance(b, np.ndarray) else c.tensor(b))]


def op_gemm(c, args, attrs):
    a, b = args[0], args[1]
    bias = args[2] if len(args) > 2 else None
    alpha, beta = float(attrs.get("alpha", 1.0)), float(attrs.get("beta", 1.0))
    x = c.tensor(a, "A of Gemm")
    if attrs.get("transA", 0):
        x = c.one("tensor.Transpose", {"perm": [1, 0]}, [x], base="a_t")
    if not isinstance(b, np.ndarray):
        raise c.refuse("B must be a constant (a weight)")
    kernel = b.T if attrs.get("transB", 0) else b  # (in, out)
    kernel = kernel * np.float32(alpha) if alpha != 1.0 else kernel
    if bias is not None:
        c_value = c.constant(bias, "C of Gemm") * np.float32(beta)
        if c_value.size not in (1, kernel.shape[1]) or c_value.ndim > 2 or (c_value.ndim == 2 and c_value.shape[0] != 1):
            raise c.refuse("C must broadcast along the rows (shape (N,), (1, N) or a scalar)")
        bias = np.broadcast_to(c_value.reshape(-1), (kernel.shape[1],)).copy()
    return [emit.dense(c, x, kernel, bias)]


OPERATORS = {
    **{name: _binary(name) for name in ("Add", "Sub", "Mul", "Div", "Pow", "Max", "Min")},
    **{name: _unary(name) for name in _UNARY}, "Clip": op_clip,
    "ReduceMean": _reduce("mean"), "ReduceSum": _reduce("sum"), "ReduceMax": _reduce("max"), "ReduceMin": _reduce("min"),
    "ReduceProd": _reduce("prod"), "ReduceSumSquare": _reduce("sum_square"), "ReduceL1": _reduce("l1"),
    "ReduceL2": _reduce("l2"), "ReduceLogSum": _reduce("log_sum"), "ReduceLogSumExp": _reduce("log_sum_exp"),
    "ArgMax": _arg_reduce("max"), "ArgMin": _arg_reduce("min"), "MatMul": op_matmul, "Gemm": op_gemm,
}
