"""Keras layer configs -> npinfer canonical layer configs.

Every key of a Keras layer config is either used (an option npinfer implements), ignored
(it only matters in training: initializers, regularizers, dropout rates...), or refused by
name. Keras 2 vs Keras 3 differences (hard_sigmoid, option names, old defaults) are
resolved here so that layers see one meaning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import UnsupportedOptionError
from ..layers import activations
from ..layers.activations import KERAS2_HARD_SIGMOID_SLOPE, KERAS3_HARD_SIGMOID_SLOPE

TRAINING_ONLY = frozenset({
    "kernel_initializer", "bias_initializer", "recurrent_initializer",
    "kernel_regularizer", "bias_regularizer", "recurrent_regularizer", "activity_regularizer",
    "kernel_constraint", "bias_constraint", "recurrent_constraint",
})
# Where the first layer of a Sequential model carries the input shape.
INPUT_SHAPE_KEYS = frozenset({"batch_input_shape", "batch_shape", "input_dim", "input_length", "batch_size", "input_shape"})
ALWAYS_IGNORED = frozenset({"name", "trainable", "dtype"}) | INPUT_SHAPE_KEYS
# Keys accepted only at one value; any other value is refused by name.
MUST_BE = {"stateful": False, "time_major": False, "lora_rank": None, "quantization_config": None,
           "sparse": False, "ragged": False}
RNN_TRAINING_ONLY = TRAINING_ONLY | {"dropout", "recurrent_dropout", "seed", "unroll", "implementation",
                                     "use_cudnn", "unit_forget_bias",
                                     # masks cannot occur in npinfer 0.1 (no mask-producing layer loads)
                                     "zero_output_for_mask"}
ACTIVATION_ALIASES = {"swish": "silu", "hard_swish": "hard_silu"}


@dataclass(frozen=True)
class KerasContext:
    """What the importer knows about the file: the Keras version that wrote it."""

    keras_version: str = "3"

    @property
    def major(self) -> int:
        try:
            return int(str(self.keras_version).split(".")[0])
        except ValueError:
            return 3

    @property
    def before_2_3(self) -> bool:
        """Standalone Keras < 2.3 had other recurrent defaults (hard_sigmoid, GRU reset_after=False)."""
        parts = str(self.keras_version).split(".")
        try:
            return int(parts[0]) == 2 and int(parts[1]) < 3
        except (ValueError, IndexError):
            return False


@dataclass(frozen=True)
class KerasLayerRule:
    """How one Keras class maps: options kept, keys ignored, activation keys, or a converter."""

    options: tuple = ()
    ignored: frozenset = frozenset()
    activation_keys: tuple = ()
    convert: Callable[[dict, KerasContext], dict] | None = None
    defaults: Callable[[KerasContext], dict] = field(default=lambda ctx: {})


def keras_activation(value: Any, ctx: KerasContext, where: str) -> dict:
    """Canonical activation for a Keras activation value (name, serialized function, or layer)."""
    if value is None:
        return activations.canonical("linear")
    if isinstance(value, dict):
        class_name = value.get("class_name")
        config = value.get("config")
        if class_name in ACTIVATION_LAYERS and isinstance(config, dict):
            return ACTIVATION_LAYERS[class_name](config, ctx)["activation"]
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


def _softmax(config, ctx):
    return {"activation": activations.canonical({"name": "softmax", "axis": config.get("axis", -1)})}


ACTIVATION_LAYERS = {"ReLU": _relu, "LeakyReLU": _leaky_relu, "ELU": _elu, "Softmax": _softmax}


def _recurrent_defaults(ctx: KerasContext) -> dict:
    if ctx.before_2_3:
        return {"recurrent_activation": "hard_sigmoid", "reset_after": False}
    return {"recurrent_activation": "sigmoid", "reset_after": True}


_RNN = ("units", "activation", "use_bias", "return_sequences", "return_state", "go_backwards")
_DROPOUT_KEYS = frozenset({"rate", "noise_shape", "seed", "stddev"})

RULES: dict[str, KerasLayerRule] = {
    "InputLayer": KerasLayerRule(),  # handled by the config parser (shape and dtype)
    "Dense": KerasLayerRule(("units", "activation", "use_bias"), TRAINING_ONLY | {"lora_alpha"}, ("activation",)),
    "Activation": KerasLayerRule(("activation",), activation_keys=("activation",)),
    "ReLU": KerasLayerRule(ignored=frozenset({"max_value", "negative_slope", "threshold"}), convert=_relu),
    "LeakyReLU": KerasLayerRule(ignored=frozenset({"negative_slope", "alpha"}), convert=_leaky_relu),
    "ELU": KerasLayerRule(ignored=frozenset({"alpha"}), convert=_elu),
    "Softmax": KerasLayerRule(ignored=frozenset({"axis"}), convert=_softmax),
    "Dropout": KerasLayerRule(ignored=_DROPOUT_KEYS),
    "SpatialDropout1D": KerasLayerRule(ignored=_DROPOUT_KEYS),
    "GaussianNoise": KerasLayerRule(ignored=_DROPOUT_KEYS),
    "GaussianDropout": KerasLayerRule(ignored=_DROPOUT_KEYS),
    "AlphaDropout": KerasLayerRule(ignored=_DROPOUT_KEYS),
    "Flatten": KerasLayerRule(("data_format",)),
    "Reshape": KerasLayerRule(("target_shape",)),
    "Concatenate": KerasLayerRule(("axis",)),
    "Add": KerasLayerRule(),
    "SimpleRNN": KerasLayerRule(_RNN, RNN_TRAINING_ONLY, ("activation",)),
    "LSTM": KerasLayerRule(_RNN + ("recurrent_activation",), RNN_TRAINING_ONLY,
                           ("activation", "recurrent_activation"), defaults=_recurrent_defaults),
    "GRU": KerasLayerRule(_RNN + ("recurrent_activation", "reset_after"), RNN_TRAINING_ONLY,
                          ("activation", "recurrent_activation"), defaults=_recurrent_defaults),
}


def check_dtype_policy(value: Any, where: str) -> None:
    """Accept float32/float64 layers; refuse mixed or low precision by name."""
    name = value
    if isinstance(value, dict):
        name = (value.get("config") or {}).get("name") if isinstance(value.get("config"), dict) else value.get("config")
    if name in (None, "float32", "float64"):
        return
    raise UnsupportedOptionError(
        f"{where}: dtype policy {name!r} is not supported; npinfer computes in float32 or float64 (supported: float32, float64)"
    )


def translate_layer(class_name: str, name: str, keras_config: dict, ctx: KerasContext) -> dict:
    """Return the canonical npinfer config for one Keras layer config (refusing what is unknown)."""
    from ..layers import LAYERS, unsupported_layer  # the registry decides what is supported

    where = f"layer '{name}' ({class_name})"
    rule = RULES.get(class_name)
    if rule is None or class_name not in LAYERS:
        raise unsupported_layer(name, class_name)
    check_dtype_policy(keras_config.get("dtype"), where)
    for key, value in keras_config.items():
        if key in rule.options or key in rule.ignored or key in ALWAYS_IGNORED:
            continue
        if key in MUST_BE:
            if value != MUST_BE[key] and not (value is None and MUST_BE[key] is False):
                raise UnsupportedOptionError(
                    f"{where}: {key}={value!r} is not supported"
                    + ("; stateful models arrive in a later npinfer release" if key == "stateful" else "")
                )
            continue
        raise UnsupportedOptionError(f"{where}: option {key}={value!r} is not known to npinfer, so it is refused rather than guessed")
    if rule.convert is not None:
        try:
            return rule.convert(keras_config, ctx)
        except UnsupportedOptionError as err:
            raise UnsupportedOptionError(f"{where}: {err}") from None
    config = {**rule.defaults(ctx), **{k: keras_config[k] for k in rule.options if k in keras_config}}
    config = {k: v for k, v in config.items() if k in rule.options}
    for key in rule.activation_keys:
        if key in config:
            config[key] = keras_activation(config[key], ctx, where)
    return config
