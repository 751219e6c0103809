"""ONNX activation operators (Relu, Tanh, Sigmoid, LeakyRelu, Elu, Selu, Softplus, Softsign,
HardSigmoid, HardSwish, Gelu) -> Activation layers; Softmax / LogSoftmax -> tensor.Softmax.
"""

from __future__ import annotations

from typing import Any

from .toolkit.values import text


def _activation(name, params=None):
    def convert(c, args, attrs):
        spec = {"name": name, **(params(c, attrs) if params else {})}
        return [c.one("Activation", {"activation": spec}, [c.tensor(args[0])])]
    return convert


def _elu_params(c, attrs):
    return {"alpha": float(attrs.get("alpha", 1.0))}


def _leaky_params(c, attrs):
    return {"negative_slope": float(attrs.get("alpha", 0.01))}


def _hard_sigmoid_params(c, attrs):
    if abs(attrs.get("beta", 0.5) - 0.5) > 1e-7:
        raise c.refuse(f"beta={attrs['beta']} is not supported; supported: 0.5")
    return {"slope": float(attrs.get("alpha", 0.2))}


def _selu_params(c, attrs):
    if abs(attrs.get("alpha", 1.67326319217681884765625) - 1.6732632) > 1e-6 or abs(attrs.get("gamma", 1.05070102214813232421875) - 1.0507010) > 1e-6:
        raise c.refuse("alpha and gamma other than the defaults are not supported")
    return {}


def _gelu_params(c, attrs):
    approximate = text(attrs.get("approximate"), "none")
    if approximate not in ("none", "tanh"):
        raise c.refuse(f"approximate={approximate!r} is not supported")
    return {"approximate": approximate == "tanh"}


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
    "Relu": _activation("relu"), "Tanh": _activation("tanh"), "Sigmoid": _activation("sigmoid"),
    "LeakyRelu": _activation("leaky_relu", _leaky_params), "Elu": _activation("elu", _elu_params),
    "Selu": _activation("selu", _selu_params), "Softplus": _activation("softplus"), "Softsign": _activation("softsign"),
    "HardSigmoid": _activation("hard_sigmoid", _hard_sigmoid_params),
    "HardSwish": _activation("hard_silu", lambda c, a: {"slope": 1.0 / 6.0}), "Gelu": _activation("gelu", _gelu_params),
    "Softmax": _softmax(False), "LogSoftmax": _softmax(True),
}
