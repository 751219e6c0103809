"""Keras activations (names, serialized functions, activation layers) -> canonical activations."""

from __future__ import annotations

from typing import Any

from ..errors import UnsupportedOptionError
from ..layers import activations
from ..layers.activations import KERAS2_HARD_SIGMOID_SLOPE, KERAS3_HARD_SIGMOID_SLOPE

ACTIVATION_ALIASES = {"swish": "silu", "hard_swish": "hard_silu"}


def keras_activation(value: Any, ctx, where: str) -> dict:
    """Canonical activation for a Keras activation value (name, serialized function, or layer)."""
    if value is None:
        return activations.canonical("linear")
    if isinstance(value, dict):
        class_name = value.get("class_name")
        config = value.get("config")
        if class_name in ACTIVATION_OBJECTS and isinstance(config, dict):
            return ACTIVATION_OBJECTS[class_name](config, ctx)["activation"]
        registered = value.get("registered_name")
        module = str(value.get("module") or "")
        if class_name == "function" and isinstance(config, str) and registered in (None, "function", config) \
                and (module == "" or module.startswith(("keras.activations", "keras.src.activations"))):
            value = config
        else:
            label = config if isinstance(config, str) else class_name
            raise UnsupportedOptionError(
                f"{where}: activation {label!r} is a custom function ({module or 'unknown module'}); "
                f"supported activations: {', '.join(activations.supported_activations())}"
            )
    if not isinstance(value, str):
        raise UnsupportedOptionError(f"{where}: activation {value!r} is not an activation name")
    name = ACTIVATION_ALIASES.get(value, value)
    slope = KERAS2_HARD_SIGMOID_SLOPE if ctx.major < 3 else KERAS3_HARD_SIGMOID_SLOPE
    if name == "hard_sigmoid":
        return activations.canonical({"name": name, "slope": slope})
    if name == "hard_silu" and ctx.major < 3:
        raise UnsupportedOptionError(f"{where}: activation 'hard_silu' is not a Keras 2 activation")
    try:
        return activations.canonical(name)
    except UnsupportedOptionError as err:
        raise UnsupportedOptionError(f"{where}: {err}") from None


def _number(config: dict, key: str, default: float) -> float:
    value = config.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UnsupportedOptionError(f"{key}={value!r} must be a number")
    return float(value)


def _relu(config, ctx):
    return {"activation": activations.canonical({
        "name": "relu",
        "negative_slope": _number(config, "negative_slope", 0.0),
        "max_value": _number(config, "max_value", None),
        "threshold": _number(config, "threshold", 0.0),
    })}


def _leaky_relu(config, ctx):
    slope = config["negative_slope"] if "negative_slope" in config else config.get("alpha", 0.3)
    return {"activation": activations.canonical({"name": "leaky_relu", "negative_slope": _number({"s": slope}, "s", 0.3)})}


def _elu(config, ctx):
    return {"activation": activations.canonical({"name": "elu", "alpha": _number(config, "alpha", 1.0)})}


def _thresholded_relu(config, ctx):  # tf.keras: x * (x > theta)
    return {"activation": activations.canonical({"name": "relu", "threshold": _number(config, "theta", 1.0)})}


def _softmax(config, ctx):
    return {"activation": activations.canonical({"name": "softmax", "axis": config.get("axis", -1)})}


ACTIVATION_LAYERS = {"ReLU": _relu, "LeakyReLU": _leaky_relu, "ELU": _elu, "ThresholdedReLU": _thresholded_relu}
ACTIVATION_OBJECTS = {**ACTIVATION_LAYERS, "Softmax": _softmax}  # an activation given as a layer object
