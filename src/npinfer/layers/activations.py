"""Activation functions in NumPy, and the canonical description layers use to name them.

A canonical activation is a dict: ``{"name": "relu", "negative_slope": 0.0, ...}``, every
parameter spelled out. Framework spellings and version quirks (Keras 2 vs Keras 3
`hard_sigmoid`, `swish` vs `silu`) are resolved by the importers, never here.
Each function keeps the float dtype of its input.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from ..errors import UnsupportedOptionError
from .special import erf

Activation = Callable[[np.ndarray], np.ndarray]

KERAS3_HARD_SIGMOID_SLOPE = 1.0 / 6.0  # Keras 3: clip(x/6 + 0.5, 0, 1)
KERAS2_HARD_SIGMOID_SLOPE = 0.2  # Keras 2 / tf.keras: clip(0.2x + 0.5, 0, 1)
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def sigmoid(x):
    # One tanh call, no exp overflow: sigmoid(x) = 0.5 * tanh(x/2) + 0.5.
    y = np.tanh(x * 0.5)
    y *= 0.5
    y += 0.5
    return y


def relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    # Keras's ReLU.static_call, step for step (tf.keras's backend.relu is the same).
    if negative_slope != 0.0:
        if max_value is None and threshold == 0:
            return leaky_relu(x, negative_slope)
        negative_part = np.maximum(threshold - x, 0) if threshold != 0 else np.maximum(-x, 0)
    if threshold != 0:
        y = np.where(x > threshold, x, 0).astype(x.dtype, copy=False)
    else:
        y = np.maximum(x, 0)
    if max_value is not None:
        y = np.clip(y, 0, max_value).astype(x.dtype, copy=False)
    if negative_slope != 0.0:
        y = y - negative_slope * negative_part
    return y


def leaky_relu(x, negative_slope=0.2):
    # x where x >= 0, else slope * x (a maximum would be wrong for a slope above 1)
    return np.where(x >= 0, x, negative_slope * x)


def elu(x, alpha=1.0):
    return np.where(x >= 0, x, alpha * np.expm1(np.minimum(x, 0)))


def celu(x, alpha=1.0):
    return np.maximum(x, 0) + alpha * np.expm1(np.minimum(x, 0) / alpha)


def selu(x, alpha=_SELU_ALPHA, scale=_SELU_SCALE):
    return scale * elu(x, alpha)


def gelu(x, approximate=False):
    if approximate:
        inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * x * x * x)
        return 0.5 * x * (1.0 + np.tanh(inner))
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def hard_sigmoid(x, slope=KERAS3_HARD_SIGMOID_SLOPE, offset=0.5):
    return np.clip(x * slope + offset, 0.0, 1.0)


def hard_silu(x, slope=KERAS3_HARD_SIGMOID_SLOPE):
    return x * hard_sigmoid(x, slope)


def softplus(x):
    return np.logaddexp(x, np.zeros((), x.dtype))


def mish(x):
    return x * np.tanh(softplus(x))


def exponential(x):
    with np.errstate(over="ignore"):  # exp overflows to inf exactly as in Keras
        return np.exp(x)


def softmax(x, axis=-1):
    axis = _axes(axis)
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(x, axis=-1):
    axis = _axes(axis)
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def sparsemax(x, axis=-1):
    # As keras.src.backend.numpy.nn.sparsemax.
    ordered = -np.sort(-x, axis=axis)
    cumulative = np.cumsum(ordered, axis=axis)
    shape = [1] * x.ndim
    shape[axis] = -1
    rank = np.arange(1, x.shape[axis] + 1, dtype=x.dtype).reshape(shape)
    support = ordered - (cumulative - 1) / rank > 0
    k = np.sum(support, axis=axis, keepdims=True).astype(x.dtype)
    tau = (np.sum(np.where(support, cumulative, 0), axis=axis, keepdims=True) - 1) / k
    return np.maximum(x - tau, 0).astype(x.dtype, copy=False)


def glu(x, axis=-1):
    first, second = np.split(x, 2, axis=axis)
    return first * sigmoid(second)


def _axes(axis):
    return tuple(axis) if isinstance(axis, (list, tuple)) else axis


def linear(x):
    return x


def affine(x, alpha=1.0, beta=0.0):
    # ONNX's Affine (recurrent nodes' activations)
    return alpha * x + beta


def scaled_tanh(x, alpha=1.0, beta=1.0):
    # ONNX's ScaledTanh (recurrent nodes' activations)
    return alpha * np.tanh(beta * x)


def relu6(x):
    return np.clip(x, 0, 6)


def softsign(x):
    return x / (1 + np.abs(x))


def silu(x, alpha=1.0):
    # ONNX's Swish has a gate scale alpha: x * sigmoid(alpha * x)
    return x * sigmoid(x if alpha == 1.0 else alpha * x)


def hard_tanh(x):
    return np.clip(x, -1, 1)


def tanh_shrink(x):
    return x - np.tanh(x)


def log_sigmoid(x):
    return -softplus(-x)


def shrink(x, threshold=0.5, bias=0.0):
    # ONNX's Shrink: x - bias above threshold, x + bias below -threshold, 0 between
    return np.where(x > threshold, x - bias, np.where(x < -threshold, x + bias, 0))


def soft_shrink(x, threshold=0.5):
    return shrink(x, threshold, threshold)


def hard_shrink(x, threshold=0.5):
    return shrink(x, threshold, 0.0)


def sparse_plus(x):
    return np.where(x <= -1, 0, np.where(x < 1, 0.25 * (x + 1) ** 2, x))


def sparse_sigmoid(x):
    return np.where(x <= -1, 0, np.where(x >= 1, 1, 0.5 * (x + 1)))


def squareplus(x, b=4):
    return (x + np.sqrt(x * x + b)) / 2


# name -> (function, default parameters). The defaults are Keras 3's. Results are cast back to
# the input's dtype (np.where / np.clip with float scalars would promote).
FUNCTIONS: dict[str, tuple[Callable[..., np.ndarray], dict[str, Any]]] = {
    "linear": (linear, {}),
    "relu": (relu, {"negative_slope": 0.0, "max_value": None, "threshold": 0.0}),
    "relu6": (relu6, {}),
    "leaky_relu": (leaky_relu, {"negative_slope": 0.2}),
    "elu": (elu, {"alpha": 1.0}),
    "celu": (celu, {"alpha": 1.0}),
    "selu": (selu, {}),
    "gelu": (gelu, {"approximate": False}),
    "sigmoid": (sigmoid, {}),
    "hard_sigmoid": (hard_sigmoid, {"slope": KERAS3_HARD_SIGMOID_SLOPE, "offset": 0.5}),
    "hard_silu": (hard_silu, {"slope": KERAS3_HARD_SIGMOID_SLOPE}),
    "tanh": (np.tanh, {}),
    "softmax": (softmax, {"axis": -1}),
    "log_softmax": (log_softmax, {"axis": -1}),
    "softplus": (softplus, {}),
    "softsign": (softsign, {}),
    "silu": (silu, {}),
    "mish": (mish, {}),
    "exponential": (exponential, {}),
    "hard_tanh": (hard_tanh, {}),
    "tanh_shrink": (tanh_shrink, {}),
    "log_sigmoid": (log_sigmoid, {}),
    "soft_shrink": (soft_shrink, {"threshold": 0.5}),
    "hard_shrink": (hard_shrink, {"threshold": 0.5}),
    "sparse_plus": (sparse_plus, {}),
    "sparse_sigmoid": (sparse_sigmoid, {}),
    "squareplus": (squareplus, {"b": 4}),
    "sparsemax": (sparsemax, {"axis": -1}),
    "glu": (glu, {"axis": -1}),
    "affine": (affine, {"alpha": 1.0, "beta": 0.0}),
    "scaled_tanh": (scaled_tanh, {"alpha": 1.0, "beta": 1.0}),
}
# Activations whose output shape differs from the input's.
_HALVES_AXIS = {"glu"}


def supported_activations() -> list[str]:
    """Names of every activation npinfer implements."""
    return sorted(FUNCTIONS)


def canonical(spec: str | dict) -> dict:
    """Validate an activation description and return it with every parameter filled in."""
    try:  # a description is checked once (a graph may name the same activation 100,000 times)
        # with each value's type: True == 1 == 1.0 as keys, but a bool is no number here
        key = spec if isinstance(spec, str) else tuple(sorted((k, type(v).__name__, v) for k, v in spec.items()))
        held = _CANONICAL.get(key)
    except (TypeError, AttributeError):  # unhashable (an axis list) or not a description: checked each time
        return _canonical({"name": spec} if isinstance(spec, str) else spec)
    if held is None:
        held = _canonical({"name": spec} if isinstance(spec, str) else spec)  # raises: only valid ones are held
        if len(_CANONICAL) < 4096:
            _CANONICAL[key] = held
    return dict(held)


_CANONICAL: dict = {}  # name or sorted items -> the canonical description


def _canonical(spec) -> dict:
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
        raise UnsupportedOptionError(f"activation {spec!r} is not an activation npinfer understands")
    name = spec["name"]
    if name not in FUNCTIONS:
        raise UnsupportedOptionError(
            f"activation '{name}' is not supported; supported: {', '.join(supported_activations())}"
        )
    defaults = FUNCTIONS[name][1]
    unknown = set(spec) - {"name"} - set(defaults)
    if unknown:
        raise UnsupportedOptionError(
            f"activation '{name}' has unknown parameter(s) {sorted(unknown)}; it takes {sorted(defaults) or 'none'}"
        )
    full = {"name": name, **defaults, **{k: v for k, v in spec.items() if k != "name"}}
    for key, value in full.items():
        if key in ("name", "max_value", "approximate", "axis"):
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UnsupportedOptionError(f"activation '{name}': parameter {key}={value!r} must be a number")
    if full.get("max_value") is not None and not isinstance(full["max_value"], (int, float)):
        raise UnsupportedOptionError(f"activation '{name}': max_value={full['max_value']!r} must be a number or None")
    if "approximate" in full and not isinstance(full["approximate"], bool):
        raise UnsupportedOptionError(f"activation '{name}': approximate={full['approximate']!r} must be true or false")
    if "axis" in full:
        axis = full["axis"]
        axes = axis if isinstance(axis, list) else [axis]
        if not axes or not all(isinstance(a, int) and not isinstance(a, bool) for a in axes):
            raise UnsupportedOptionError(f"activation '{name}': axis={axis!r} must be an integer or a list of integers")
        if isinstance(axis, list) and name in ("sparsemax", "glu"):
            raise UnsupportedOptionError(f"activation '{name}': axis must be a single integer, got {axis!r}")
    return full


def get(spec: str | dict, clip: float | None = None) -> Activation:
    """Return a function x -> activation(x) (in x's dtype) for an activation description;
    with `clip`, of x clipped to [-clip, clip] first (ONNX's recurrent `clip`)."""
    full = canonical(spec)
    fn = FUNCTIONS[full["name"]][0]
    params = {k: v for k, v in full.items() if k != "name"}
    if not (full["name"] in ("linear", "tanh", "sigmoid") and not params):  # those keep the dtype: kept call-free
        fn = with_parameters(fn, **params)
    return fn if clip is None else clipped(fn, clip)


def with_parameters(function, **params):
    """x -> function(x, **params), cast back to x's float dtype (np.where and np.clip with
    float scalars would promote)."""
    def activation(x):
        return np.asarray(function(x, **params)).astype(x.dtype, copy=False)
    return activation


def clipped(function, bound):
    """x -> function(x clipped to [-bound, bound]): ONNX's `clip` of a recurrent gate's input."""
    def activation(x):
        return function(np.clip(x, -bound, bound))
    return activation


def output_shape(spec: dict, shape: tuple) -> tuple:
    """Shape of activation(x) for an input of `shape` (None marks an unknown size)."""
    full = canonical(spec)
    if full["name"] not in _HALVES_AXIS:
        return tuple(shape)
    axis = full["axis"] % len(shape)
    size = shape[axis]
    if size is not None and size % 2:
        raise UnsupportedOptionError(f"activation 'glu' needs an even size on axis {full['axis']}, got {size}")
    return tuple(s if i != axis or s is None else s // 2 for i, s in enumerate(shape))


def check_axes(spec: dict, rank: int, where: str) -> None:
    """Refuse a softmax-like axis outside an input of `rank` dimensions (batch included)."""
    full = canonical(spec)
    if "axis" not in full:
        return
    axes = full["axis"] if isinstance(full["axis"], list) else [full["axis"]]
    for a in axes:
        if not -rank <= a < rank:
            raise UnsupportedOptionError(f"{where}: activation '{full['name']}' axis {a} is outside a rank-{rank} input")
