"""Keras layer configs -> npinfer canonical layer configs.

Every key of a Keras layer config is either used (an option npinfer implements), ignored
(it only matters in training: initializers, regularizers, dropout rates...), required to
have one value, or refused by name. Keras 2 vs Keras 3 differences (hard_sigmoid, option
names, old defaults, mask rules of merge layers) are resolved here so that layers see one
meaning. Wrappers (Bidirectional, TimeDistributed, RNN cells) translate their inner layers.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..errors import ModelFormatError, UnsupportedLayerError, UnsupportedOptionError
from ..layers import CUSTOM, LAYERS, supported_layers, unsupported_layer
from ..layers.augmentation import AUGMENTATIONS
from .keras_activations import ACTIVATION_LAYERS, keras_activation

KERAS_MODULES = ("keras", "tf_keras", "tensorflow")  # where Keras's own classes live
OPERATION_MODULES = ("keras.src.ops", "keras.ops")
INIT_REG_CONSTRAINT = ("initializer", "regularizer", "constraint")
# Where the first layer of a Sequential model carries the input shape.
INPUT_SHAPE_KEYS = frozenset({"batch_input_shape", "batch_shape", "input_dim", "input_length", "batch_size", "input_shape"})
ALWAYS_IGNORED = frozenset({"name", "trainable", "dtype", "activity_regularizer", "seed"}) | INPUT_SHAPE_KEYS
# Keys accepted only at one value anywhere; any other value is refused by name.
MUST_BE = {"time_major": False, "lora_rank": None, "quantization_config": None, "sparse": False, "ragged": False}
RNN_IGNORED = frozenset({"dropout", "recurrent_dropout", "unroll", "implementation", "use_cudnn", "unit_forget_bias"})
DROPOUT_KEYS = frozenset({"rate", "noise_shape", "stddev", "data_format", "l1", "l2"})  # l1, l2: ActivityRegularization
# The random image augmentations' keys (layers/augmentation.py): all only matter in training.
AUGMENTATION_KEYS = frozenset({
    "factor", "value_range", "fill_mode", "fill_value", "interpolation", "height_factor", "width_factor", "mode",
    "rng_type", "data_format", "scale", "sigma", "kernel_size", "x_factor", "y_factor", "brightness_factor",
    "contrast_factor", "hue_factor", "saturation_factor", "addition_factor", "threshold_factor", "alpha", "all_ops",
    "chain_depth", "num_chains", "num_ops", "bounding_box_format",
})


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

    @property
    def semantics(self) -> str:
        """Where Keras 3 and Keras 2 compute differently (merge masks, epsilons), layers follow the file's."""
        return "keras3" if self.major >= 3 else "keras2"


@dataclass(frozen=True)
class KerasLayerRule:
    """How one Keras class maps to its canonical config.

    options: keys kept as they are; ignored: keys that only matter in training; must: keys
    that must have one value; activation_keys: keys holding activations; defaults(ctx):
    values for keys an old file leaves out; finish(config, keras_config, ctx): the last
    step, for derived options and inner layers; aliases: saved weight names other than the
    canonical ones; children: for `.keras` files, the order of sub-objects holding weights.
    """

    options: tuple = ()
    ignored: frozenset = frozenset()
    must: dict = field(default_factory=dict)
    activation_keys: tuple = ()
    defaults: Callable[[KerasContext], dict] = field(default=lambda ctx: {})
    finish: Callable[[dict, dict, KerasContext], dict] | None = None
    convert: Callable[[dict, KerasContext], dict] | None = None
    aliases: dict = field(default_factory=dict)
    children: tuple | None = None


def _recurrent_defaults(ctx: KerasContext) -> dict:
    if ctx.before_2_3:
        return {"recurrent_activation": "hard_sigmoid", "reset_after": False}
    return {"recurrent_activation": "sigmoid", "reset_after": True}


def _with_semantics(config, keras_config, ctx):
    return {**config, "semantics": ctx.semantics}


def _single_int(value):
    return value[0] if isinstance(value, list) and len(value) == 1 else value


def _conv_finish(config, keras_config, ctx):
    for key in ("kernel_size", "strides", "dilation_rate", "pool_size"):
        if key in config:
            config[key] = _single_int(config[key])
    return config


def _normalization_finish(config, keras_config, ctx):
    """Statistics given to the constructor live in the config; adapted ones are weights."""
    config = {**config, "semantics": ctx.semantics}
    axis = config.get("axis", -1)
    if isinstance(axis, list) and len(axis) == 1:
        config["axis"] = axis[0]
    return config


def _inner(description: Any, ctx: KerasContext, where: str) -> dict:
    """Translate a nested layer description {"class_name", "config"} to canonical form."""
    if not isinstance(description, dict) or not isinstance(description.get("class_name"), str) \
            or not isinstance(description.get("config"), dict):
        raise ModelFormatError(f"{where}: the wrapped layer is not described")
    class_name = description["class_name"]
    name = description["config"].get("name", class_name)
    check_layer_class(description, str(name))
    return {"class_name": class_name, "config": translate_layer(class_name, str(name), description["config"], ctx)}


def _bidirectional_finish(config, keras_config, ctx):
    where = f"layer '{keras_config.get('name')}' (Bidirectional)"
    forward = _inner(keras_config.get("layer"), ctx, where)
    if keras_config.get("backward_layer") is not None:
        backward = _inner(keras_config["backward_layer"], ctx, where)
    else:  # Keras builds the backward layer as a copy reading the other way
        backward = copy.deepcopy(forward)
        backward["config"]["go_backwards"] = not forward["config"].get("go_backwards", False)
    for part in (forward, backward):  # Bidirectional forces this on both (Keras 2 and 3)
        part["config"]["zero_output_for_mask"] = part["config"].get("return_sequences", False)
    return {"layer": forward, "backward_layer": backward, "merge_mode": keras_config.get("merge_mode", "concat")}


def _time_distributed_finish(config, keras_config, ctx):
    return {"layer": _inner(keras_config.get("layer"), ctx, f"layer '{keras_config.get('name')}' (TimeDistributed)")}


CELL_RULES_FOR = {"SimpleRNNCell": "SimpleRNN", "LSTMCell": "LSTM", "GRUCell": "GRU"}


def _cell(description: Any, ctx: KerasContext, where: str) -> dict:
    """A Keras cell description (a cell, StackedRNNCells, or a list of cells) -> canonical cell."""
    if isinstance(description, list):
        return {"class_name": "StackedRNNCells", "config": {"cells": [_cell(c, ctx, where) for c in description]}}
    if not isinstance(description, dict) or not isinstance(description.get("config"), dict):
        raise ModelFormatError(f"{where}: the RNN cell is not described")
    class_name = description.get("class_name")
    if class_name == "StackedRNNCells":
        cells = description["config"].get("cells")
        if not isinstance(cells, list) or not cells:
            raise ModelFormatError(f"{where}: StackedRNNCells has no cells")
        return {"class_name": "StackedRNNCells", "config": {"cells": [_cell(c, ctx, where) for c in cells]}}
    if class_name not in CELL_RULES_FOR:
        raise UnsupportedLayerError(f"{where}: cell {class_name} is not supported; supported cells: "
                                    f"{', '.join(sorted(CELL_RULES_FOR))}, StackedRNNCells")
    layer_rule = RULES[CELL_RULES_FOR[class_name]]
    cell_rule = KerasLayerRule(
        tuple(k for k in layer_rule.options if k not in ("return_sequences", "return_state", "go_backwards", "stateful", "zero_output_for_mask")),
        layer_rule.ignored, activation_keys=layer_rule.activation_keys, defaults=layer_rule.defaults)
    return {"class_name": class_name, "config": _apply(cell_rule, class_name, description["config"].get("name", class_name),
                                                         description["config"], ctx)}


def _rnn_finish(config, keras_config, ctx):
    return {**config, "cell": _cell(keras_config.get("cell"), ctx, f"layer '{keras_config.get('name')}' (RNN)")}


def _attention_finish(config, keras_config, ctx):
    if keras_config.get("causal"):  # tf.keras's deprecated constructor flag
        raise UnsupportedOptionError(f"layer '{keras_config.get('name')}': causal=True (deprecated) is not supported; "
                                     "use the call argument use_causal_mask")
    return config


def _mha_finish(config, keras_config, ctx):
    axes = keras_config.get("attention_axes")
    if axes not in (None, [1], 1, [-3]):
        raise UnsupportedOptionError(f"layer '{keras_config.get('name')}' (MultiHeadAttention): attention_axes={axes!r} "
                                     "is not supported; supported: None (the sequence axis)")
    return {**config, "semantics": ctx.semantics}


_RNN = ("units", "activation", "use_bias", "return_sequences", "return_state", "go_backwards", "stateful",
        "zero_output_for_mask")
_CONV = ("kernel_size", "strides", "padding", "data_format", "dilation_rate", "activation", "use_bias")
_POOL = ("pool_size", "strides", "padding", "data_format")
_NORM_IGNORED = frozenset({"momentum", "synchronized", "renorm_momentum", "renorm_clipping", "fused"})
_ONE_DIM = ("size",)

RULES: dict[str, KerasLayerRule] = {
    "InputLayer": KerasLayerRule(),  # handled by the config parser (shape and dtype)
    "Dense": KerasLayerRule(("units", "activation", "use_bias"), frozenset({"lora_alpha"}), activation_keys=("activation",)),
    "Activation": KerasLayerRule(("activation",), activation_keys=("activation",)),
    **{name: KerasLayerRule(ignored=frozenset({"max_value", "negative_slope", "threshold", "alpha", "axis", "theta"}),
                            convert=converter) for name, converter in ACTIVATION_LAYERS.items()},
    **{name: KerasLayerRule(ignored=DROPOUT_KEYS) for name in
       ("Dropout", "SpatialDropout1D", "SpatialDropout2D", "SpatialDropout3D", "GaussianNoise", "GaussianDropout",
        "AlphaDropout", "ActivityRegularization")},
    **{name: KerasLayerRule(ignored=AUGMENTATION_KEYS) for name in AUGMENTATIONS},
    "Flatten": KerasLayerRule(("data_format",)),
    "Softmax": KerasLayerRule(("axis",), finish=_with_semantics),
    "PReLU": KerasLayerRule(("shared_axes",)),
    "Identity": KerasLayerRule(),
    "Rescaling": KerasLayerRule(("scale", "offset"), finish=_with_semantics),
    "CategoryEncoding": KerasLayerRule(("num_tokens", "output_mode", "sparse")),
    "Discretization": KerasLayerRule(("bin_boundaries", "output_mode", "sparse"), frozenset({"num_bins", "epsilon"})),
    "IntegerLookup": KerasLayerRule(("vocabulary", "num_oov_indices", "mask_token", "oov_token", "invert", "output_mode", "sparse"),
                                    frozenset({"max_tokens", "vocabulary_dtype", "idf_weights", "vocabulary_size"}),
                                    must={"pad_to_max_tokens": False, "salt": None, "oov_method": "floormod"}),
    "CenterCrop": KerasLayerRule(("height", "width", "data_format")),
    "Resizing": KerasLayerRule(("height", "width", "interpolation", "crop_to_aspect_ratio", "pad_to_aspect_ratio", "fill_value",
                                "antialias", "data_format"), must={"fill_mode": "constant"}),
    "Reshape": KerasLayerRule(("target_shape",)),
    **{name: KerasLayerRule(finish=_with_semantics) for name in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum")},
    "Concatenate": KerasLayerRule(("axis",), finish=_with_semantics),
    "Dot": KerasLayerRule(("axes", "normalize"), finish=_with_semantics),
    "SimpleRNN": KerasLayerRule(_RNN, RNN_IGNORED, activation_keys=("activation",)),
    "LSTM": KerasLayerRule(_RNN + ("recurrent_activation",), RNN_IGNORED, activation_keys=("activation", "recurrent_activation"),
                           defaults=_recurrent_defaults),
    "GRU": KerasLayerRule(_RNN + ("recurrent_activation", "reset_after"), RNN_IGNORED,
                          activation_keys=("activation", "recurrent_activation"), defaults=_recurrent_defaults),
    **{f"ConvLSTM{n}D": KerasLayerRule(("filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate",
                                        "activation", "recurrent_activation", "use_bias", "return_sequences", "return_state",
                                        "go_backwards", "stateful", "zero_output_for_mask"), RNN_IGNORED | {"seed"},
                                       activation_keys=("activation", "recurrent_activation"), defaults=_recurrent_defaults,
                                       finish=_conv_finish) for n in (1, 2, 3)},
    "RNN": KerasLayerRule(("return_sequences", "return_state", "go_backwards", "stateful", "zero_output_for_mask"),
                          frozenset({"unroll", "cell"}), finish=_rnn_finish, children=("cell",)),
    "Bidirectional": KerasLayerRule(ignored=frozenset({"layer", "backward_layer", "merge_mode"}), finish=_bidirectional_finish,
                                    children=("forward_layer", "backward_layer")),
    "TimeDistributed": KerasLayerRule(ignored=frozenset({"layer"}), finish=_time_distributed_finish, children=("layer",)),
    "Embedding": KerasLayerRule(("input_dim", "output_dim", "mask_zero"), frozenset({"lora_alpha"})),
    "Masking": KerasLayerRule(("mask_value",)),
    **{f"Conv{n}D": KerasLayerRule(_CONV + ("filters", "groups"), frozenset(), activation_keys=("activation",),
                                   finish=_conv_finish) for n in (1, 2, 3)},
    **{f"Conv{n}DTranspose": KerasLayerRule(_CONV + ("filters", "output_padding"), must={"groups": 1},
                                            activation_keys=("activation",), finish=_conv_finish) for n in (1, 2, 3)},
    **{f"SeparableConv{n}D": KerasLayerRule(_CONV + ("filters", "depth_multiplier"), must={"groups": 1},
                                            activation_keys=("activation",), finish=_conv_finish) for n in (1, 2)},
    **{f"DepthwiseConv{n}D": KerasLayerRule(_CONV + ("depth_multiplier",), must={"groups": 1}, activation_keys=("activation",),
                                            finish=_conv_finish, aliases={"depthwise_kernel": "kernel"}) for n in (1, 2)},
    **{f"{kind}Pooling{n}D": KerasLayerRule(_POOL, finish=_conv_finish) for kind in ("Max", "Average") for n in (1, 2, 3)},
    **{f"Global{kind}Pooling{n}D": KerasLayerRule(("data_format", "keepdims")) for kind in ("Max", "Average") for n in (1, 2, 3)},
    "UpSampling1D": KerasLayerRule(("size",)),
    "UpSampling2D": KerasLayerRule(("size", "data_format", "interpolation")),
    "UpSampling3D": KerasLayerRule(("size", "data_format")),
    **{f"ZeroPadding{n}D": KerasLayerRule(("padding", "data_format")) for n in (1, 2, 3)},
    "Cropping1D": KerasLayerRule(("cropping",)),
    **{f"Cropping{n}D": KerasLayerRule(("cropping", "data_format")) for n in (2, 3)},
    "RepeatVector": KerasLayerRule(("n",)),
    "Permute": KerasLayerRule(("dims",)),
    "BatchNormalization": KerasLayerRule(("axis", "epsilon", "center", "scale"), _NORM_IGNORED,
                                         must={"renorm": False, "virtual_batch_size": None, "adjustment": None}),
    "LayerNormalization": KerasLayerRule(("axis", "epsilon", "center", "scale", "rms_scaling")),
    "GroupNormalization": KerasLayerRule(("groups", "axis", "epsilon", "center", "scale"), finish=_with_semantics),
    "UnitNormalization": KerasLayerRule(("axis",), finish=_with_semantics),
    "Normalization": KerasLayerRule(("axis", "invert"), frozenset({"mean", "variance"}), finish=_normalization_finish),
    "Attention": KerasLayerRule(("use_scale", "score_mode"), frozenset({"dropout", "causal"}), finish=_attention_finish),
    "AdditiveAttention": KerasLayerRule(("use_scale",), frozenset({"dropout", "causal"}), finish=_attention_finish),
    "MultiHeadAttention": KerasLayerRule(("num_heads", "key_dim", "value_dim", "use_bias", "output_shape"),
                                         frozenset({"dropout", "attention_axes", "query_shape", "key_shape", "value_shape"}),
                                         must={"use_gate": False, "sliding_window": None, "softmax_robust_masking": False},
                                         finish=_mha_finish,
                                         children=("_query_dense", "_key_dense", "_value_dense", "_output_dense")),
}
# Keras 3 writes the mask computations of functional models as operation nodes.
OPERATION_RULES = {
    "NotEqual": (), "LogicalOr": (), "LogicalAnd": (), "Any": ("axis", "keepdims"), "All": ("axis", "keepdims"),
    "ExpandDims": ("axis",), "ZerosLike": ("dtype",), "OnesLike": ("dtype",), "ConvertToTensor": ("dtype",),
    "Concatenate": ("axis",),
}


def rule_for(class_name: str) -> KerasLayerRule | None:
    """The translation rule of a Keras class (None if npinfer does not support it)."""
    return RULES.get(class_name)


def check_dtype_policy(value: Any, where: str) -> None:
    """Accept float32/float64 layers; refuse mixed or low precision by name."""
    name = value
    if isinstance(value, dict):
        name = (value.get("config") or {}).get("name") if isinstance(value.get("config"), dict) else value.get("config")
    if name in (None, "float32", "float64", "int32", "int64", "bool"):
        return
    raise UnsupportedOptionError(
        f"{where}: dtype policy {name!r} is not supported; npinfer computes in float32 or float64 (supported: float32, float64)"
    )


def _is_training_only(key: str) -> bool:
    return key.endswith(INIT_REG_CONSTRAINT)


def _apply(rule: KerasLayerRule, class_name: str, name: str, keras_config: dict, ctx: KerasContext) -> dict:
    where = f"layer '{name}' ({class_name})"
    check_dtype_policy(keras_config.get("dtype"), where)
    for key, value in keras_config.items():
        if key in rule.options or key in rule.ignored or key in ALWAYS_IGNORED or _is_training_only(key):
            continue
        expected = rule.must.get(key, MUST_BE.get(key, _NOT_SET))
        if expected is _NOT_SET:
            raise UnsupportedOptionError(f"{where}: option {key}={value!r} is not known to npinfer, so it is refused rather than guessed")
        if value != expected and not (value is None and expected is False):
            raise UnsupportedOptionError(f"{where}: {key}={value!r} is not supported (supported: {expected!r})")
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
    if rule.finish is not None:
        config = rule.finish(config, keras_config, ctx)
    return config


_NOT_SET = object()


def translate_layer(class_name: str, name: str, keras_config: dict, ctx: KerasContext) -> dict:
    """Return the canonical npinfer config for one Keras layer config (refusing what is unknown)."""
    if class_name in CUSTOM:  # registered by the user: its OPTIONS say which keys it reads
        check_dtype_policy(keras_config.get("dtype"), f"layer '{name}' ({class_name})")
        return {k: v for k, v in keras_config.items() if k in CUSTOM[class_name].OPTIONS}
    rule = RULES.get(class_name)
    if rule is None or class_name not in LAYERS:
        raise unsupported_layer(name, class_name)
    return _apply(rule, class_name, name, keras_config, ctx)


def translate_operation(class_name: str, name: str, keras_config: dict) -> dict:
    """Canonical config of a Keras operation node (mask computations); refuse other operations."""
    if class_name not in OPERATION_RULES:
        raise UnsupportedLayerError(
            f"layer '{name}' is the operation {class_name} applied directly in the model; npinfer runs layers, and of "
            f"operations only those Keras writes for masks; supported operations: {', '.join(sorted(OPERATION_RULES))}"
        )
    keys = OPERATION_RULES[class_name]
    unknown = {k for k, v in keras_config.items() if k not in keys and k != "name" and not (k in ("sparse", "ragged") and not v)}
    if unknown:
        raise UnsupportedOptionError(f"operation '{name}' ({class_name}): option(s) {sorted(unknown)} not supported")
    return {k: keras_config[k] for k in keys if k in keras_config}


def normalization_statistics(keras_config: dict) -> list[np.ndarray] | None:
    """Mean and variance given to a Normalization constructor (stored in its config), if any."""
    mean, variance = keras_config.get("mean"), keras_config.get("variance")
    if mean is None and variance is None:
        return None
    try:
        return [np.asarray(mean, dtype=np.float32), np.asarray(variance, dtype=np.float32)]
    except (TypeError, ValueError):
        raise ModelFormatError(f"layer '{keras_config.get('name')}': mean/variance are not numbers") from None


def layer_class(entry) -> str:
    """The class_name of a layer entry (ModelFormatError if it has none)."""
    if not isinstance(entry, dict) or not isinstance(entry.get("class_name"), str):
        raise ModelFormatError(f"layer entry {str(entry)[:80]!r} has no class_name")
    return entry["class_name"]


def registered_key(entry: dict) -> str | None:
    """The npinfer.register_layer key of a custom class in the file, if one was registered."""
    for key in (entry.get("registered_name"), entry.get("class_name")):
        if isinstance(key, str) and key in CUSTOM:
            return key
    return None


REGISTER_HINT = "write it as a NumPy layer and register it: npinfer.register_layer({key!r}, MyLayer) (README: Custom layers)"


def check_layer_class(entry: dict, name: str) -> None:
    """Refuse custom classes (a registered name or a foreign module) by name, unless registered."""
    class_name = layer_class(entry)
    module = str(entry.get("module") or "")
    registered = entry.get("registered_name")
    if module.startswith(OPERATION_MODULES) or registered_key(entry):
        return
    custom = ">" in class_name or (registered not in (None, class_name, "Functional", "Sequential"))  # "package>Class"
    if custom or (module and not module.startswith(KERAS_MODULES)):
        key = registered or class_name
        raise UnsupportedLayerError(
            f"layer '{name}' is the custom class {key} ({module or 'unknown module'}), which npinfer cannot run; "
            + REGISTER_HINT.format(key=key) + f"; supported layers: {', '.join(supported_layers())}"
        )
    if class_name == "Lambda":
        raise UnsupportedLayerError(
            f"layer '{name}' is a Lambda: it holds Python code, which npinfer never runs; "
            + REGISTER_HINT.format(key="Lambda") + f"; supported layers: {', '.join(supported_layers())}"
        )
