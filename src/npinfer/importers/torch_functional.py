"""torch.nn.functional calls in a traced forward -> the layers their module forms make: each
converter binds F's arguments by name and calls the same torch_modules function as the module
(F.conv2d and nn.Conv2d both reach `conv_layer`, F.relu and nn.ReLU both `activation`).

Weights (F.conv2d's weight, F.batch_norm's running_mean, ...) must be module parameters or
buffers (read in forward with get_attr); a weight computed in forward is refused by name.
Converters take (converter, node, args, kwargs) as torch_graph.FUNCTIONS does; the converter
gives `tensor`, `constant`, `shape_of` and the Builder `b`.
"""

from __future__ import annotations

from ..errors import UnsupportedOptionError
from . import torch_modules as tm
from .toolkit.activations import TORCH_FUNCTIONS, torch_activation

IGNORED = ("inplace", "_stacklevel")  # no effect on the values


def bind(function: str, args: list, kwargs: dict, parameters: dict) -> dict:
    """F.<function>'s arguments after the input, by name, with `parameters`' defaults filled
    in; an argument it does not name is refused."""
    names = list(parameters)
    if len(args) - 1 > len(names):
        raise UnsupportedOptionError(f"F.{function} with {len(args)} positional arguments is not supported; "
                                     f"it takes the input and {', '.join(names) or 'nothing else'}")
    bound = {**parameters, **dict(zip(names, args[1:]))}
    for key, value in kwargs.items():
        if key in IGNORED:
            continue
        if key not in parameters:
            raise UnsupportedOptionError(f"F.{function}: the argument {key!r} is not supported; supported: "
                                         f"{', '.join(names) or 'none'}")
        bound[key] = value
    return bound


def _layer(function: str, parameters: dict, make):
    """A converter: binds the arguments, then `make(c, node, x, bound)` adds the layers."""
    def convert(c, node, args, kwargs):
        bound = bind(function, args, kwargs, parameters)
        return make(c, node, c.tensor(args[0], f"the input of F.{function}"), bound)
    return convert


def _linear(c, node, x, p):
    return tm.linear_layer(c.b, x, c.constant(p["weight"], "F.linear weight"), c.constant(p["bias"], "F.linear bias", True))


def _embedding(c, node, x, p):
    return tm.embedding_layer(c.b, x, c.constant(p["weight"], "F.embedding weight"), p["max_norm"], "F.embedding")


def _conv(n: int):
    def make(c, node, x, p):
        weight = c.constant(p["weight"], f"F.conv{n}d weight")
        return tm.conv_layer(c.b, x, weight, c.constant(p["bias"], f"F.conv{n}d bias", True), p["stride"], p["padding"],
                             p["dilation"], p["groups"], f"F.conv{n}d")
    return make


def _conv_transpose(n: int):
    def make(c, node, x, p):
        weight = c.constant(p["weight"], f"F.conv_transpose{n}d weight")
        return tm.conv_transpose_layer(c.b, x, weight, c.constant(p["bias"], f"F.conv_transpose{n}d bias", True), p["stride"],
                                       p["padding"], p["output_padding"], p["groups"], p["dilation"], f"F.conv_transpose{n}d")
    return make


def _pool(kind: str, n: int):
    name = f"{'max' if kind == 'Max' else 'avg'}_pool{n}d"

    def make(c, node, x, p):
        return tm.pool_layer(c.b, x, kind, n, where=f"F.{name}", **p)
    return make


def _adaptive(kind: str, n: int):
    name = f"adaptive_{'max' if kind == 'Max' else 'avg'}_pool{n}d"

    def make(c, node, x, p):
        if p.get("return_indices"):
            raise tm._refuse(f"F.{name}", "return_indices", True, "False")
        shape, varied = c.shape_of(node.args[0])
        return tm.adaptive_pool_layer(c.b, x, kind, n, p["output_size"], shape, varied, f"F.{name}")
    return make


def _batch_norm(c, node, x, p):
    if p["training"]:
        raise tm._refuse("F.batch_norm", "training", True, "False (training=True normalizes with the batch's own statistics)")
    mean = c.constant(p["running_mean"], "F.batch_norm running_mean")
    variance = c.constant(p["running_var"], "F.batch_norm running_var")
    return tm.batch_norm_layer(c.b, x, mean, variance, c.constant(p["weight"], "F.batch_norm weight", True),
                               c.constant(p["bias"], "F.batch_norm bias", True), p["eps"])


def _layer_norm(c, node, x, p):
    shape = p["normalized_shape"]
    axes = len(shape) if isinstance(shape, (tuple, list)) else 1
    return tm.layer_norm_layer(c.b, x, axes, c.constant(p["weight"], "F.layer_norm weight", True),
                               c.constant(p["bias"], "F.layer_norm bias", True), p["eps"])


def _dropout(function: str):
    def make(c, node, x, p):
        if p["training"]:
            raise tm._refuse(f"F.{function}", "training", True, "False: F.dropout drops at random unless told "
                             "training=False (pass training=self.training)")
        return x
    return make


def _activation(function: str):
    def make(c, node, x, p):
        return c.b.add(None, "Activation", {"activation": torch_activation(function, p, f"F.{function}")}, [x])[0]
    return make


_CONV = {"weight": None, "bias": None, "stride": 1, "padding": 0, "dilation": 1, "groups": 1}
_CONV_TRANSPOSE = {"weight": None, "bias": None, "stride": 1, "padding": 0, "output_padding": 0, "groups": 1, "dilation": 1}
_MAX_POOL = {"kernel_size": None, "stride": None, "padding": 0, "dilation": 1, "ceil_mode": False, "return_indices": False}
_AVG_POOL = {"kernel_size": None, "stride": None, "padding": 0, "ceil_mode": False, "count_include_pad": True}
_DROPOUT = {"p": 0.5, "training": True}

FUNCTIONS = {
    "linear": _layer("linear", {"weight": None, "bias": None}, _linear),
    "embedding": _layer("embedding", {"weight": None, "padding_idx": None, "max_norm": None, "norm_type": 2.0,
                                      "scale_grad_by_freq": False, "sparse": False}, _embedding),
    **{f"conv{n}d": _layer(f"conv{n}d", _CONV, _conv(n)) for n in (1, 2, 3)},
    **{f"conv_transpose{n}d": _layer(f"conv_transpose{n}d", _CONV_TRANSPOSE, _conv_transpose(n)) for n in (1, 2, 3)},
    **{f"max_pool{n}d": _layer(f"max_pool{n}d", _MAX_POOL, _pool("Max", n)) for n in (1, 2, 3)},
    "avg_pool1d": _layer("avg_pool1d", _AVG_POOL, _pool("Average", 1)),
    **{f"avg_pool{n}d": _layer(f"avg_pool{n}d", {**_AVG_POOL, "divisor_override": None}, _pool("Average", n)) for n in (2, 3)},
    **{f"adaptive_avg_pool{n}d": _layer(f"adaptive_avg_pool{n}d", {"output_size": None}, _adaptive("Average", n))
       for n in (1, 2, 3)},
    **{f"adaptive_max_pool{n}d": _layer(f"adaptive_max_pool{n}d", {"output_size": None, "return_indices": False},
                                        _adaptive("Max", n)) for n in (1, 2, 3)},
    "batch_norm": _layer("batch_norm", {"running_mean": None, "running_var": None, "weight": None, "bias": None,
                                        "training": False, "momentum": 0.1, "eps": 1e-5}, _batch_norm),
    "layer_norm": _layer("layer_norm", {"normalized_shape": None, "weight": None, "bias": None, "eps": 1e-5}, _layer_norm),
    **{name: _layer(name, _DROPOUT, _dropout(name))
       for name in ("dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout")},
    **{name: _layer(name, defaults, _activation(name)) for name, defaults in TORCH_FUNCTIONS.items()},
}
