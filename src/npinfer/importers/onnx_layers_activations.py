"""ONNX activation operators (Relu, Tanh, Sigmoid, LeakyRelu, Elu, Selu, Softplus, Softsign,
HardSigmoid, HardSwish, Gelu) -> Activation layers (their table: toolkit/activations.py);
Softmax / LogSoftmax -> tensor.Softmax.
"""

from __future__ import annotations

from typing import Any

from .toolkit import activations


def _activation(op_type):
    def convert(c, args, attrs):
        spec = activations.onnx_operator(c, op_type, attrs)
        return [c.one("Activation", {"activation": spec}, [c.tensor(args[0])])]
    return convert


def _softmax(log):
    def convert(c, args, attrs):
        x = c.tensor(args[0])
        rank = len(x.shape)
        if c.opset < 13:  # the input is seen as 2-D: everything from `axis` on is one row
            axis = attrs.get("axis", 1) % rank
            axes: Any = list(range(axis, rank))
        else:
            axes = attrs.get("axis", -1)
        return [c.one("tensor.Softmax", {"axis": axes, "log": log}, [x])]
    return convert


OPERATORS = {
    **{op_type: _activation(op_type) for op_type in activations.ONNX_OPERATORS},
    "Softmax": _softmax(False), "LogSoftmax": _softmax(True),
}
