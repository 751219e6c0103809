"""Keras model configs (Sequential and Functional, Keras 2 and Keras 3 spellings) -> ModelSpec.

Shared by the `.keras`, `.h5` and in-memory importers; each supplies the weights through a
`WeightSource`. Config dicts come from untrusted files: every access is checked and a
malformed config raises ModelFormatError, never KeyError or TypeError.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from ..errors import ModelFormatError, UnsupportedLayerError, UnsupportedOptionError
from ..layers import LAYERS
from ..spec import Call, LayerSpec, ModelSpec, as_ref
from .keras_layers import KerasContext, check_dtype_policy, translate_layer

MODEL_CLASSES = ("Sequential", "Functional", "Model")
IGNORED_CALL_ARGUMENTS = {"training"}
KERAS_MODULES = ("keras", "tf_keras", "tensorflow")  # where Keras's own classes live


class WeightSource(Protocol):
    def layer_weights(self, name: str, class_name: str, position: int) -> list[tuple[str | None, np.ndarray]]:
        """Weights of one layer in Keras's saving order, with their saved names where known.

        `position` is the layer's index in `model.layers` (the `.keras` format addresses
        layers by position and class, not by name)."""


def parse_model(config: Any, ctx: KerasContext, weights: WeightSource, source: dict) -> ModelSpec:
    """Build a ModelSpec from a Keras model config (the JSON of `config.json` or `model_config`)."""
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise ModelFormatError("the model config has no class_name; this is not a Keras model config")
    class_name = config["class_name"]
    body = config.get("config")
    if class_name not in MODEL_CLASSES:
        raise UnsupportedLayerError(
            f"the model is a {class_name} ({config.get('module') or 'custom class'}); npinfer reads Sequential "
            "and Functional models (subclassed models have no config describing their computation)"
        )
    if class_name == "Sequential":
        return _parse_sequential(body, config, ctx, weights, source)
    return _parse_functional(body, ctx, weights, source)


# -- Sequential ---------------------------------------------------------------------------


def _parse_sequential(body, top, ctx, weights, source) -> ModelSpec:
    if isinstance(body, list):  # Keras <= 2.2.4 wrote the layer list directly
        body = {"name": "sequential", "layers": body}
    entries = _get(body, "layers", list, "Sequential config")
    if not entries:
        raise ModelFormatError("the Sequential model has no layers")
    name = str(body.get("name", "sequential"))
    layers: list[LayerSpec] = []
    if _class(entries[0]) == "InputLayer":
        first = _input_layer(entries[0])
        entries = entries[1:]
    else:
        shape = _sequential_input_shape(entries, body, top)
        first = LayerSpec(f"{_layer_name(entries[0])}_input", "InputLayer", {"shape": shape, "dtype": "float32"}, inbound=[])
    layers.append(first)
    previous = (first.name, 0, 0)
    for position, entry in enumerate(entries):
        spec = _layer(entry, position, ctx, weights)
        spec.inbound = [Call([previous])]
        layers.append(spec)
        previous = (spec.name, 0, 0)
    return ModelSpec(name, layers, [(first.name, 0, 0)], [previous], source)


def _sequential_input_shape(entries, body, top) -> list:
    first = _get(entries[0], "config", dict, "first layer")
    for key in ("batch_shape", "batch_input_shape"):
        if isinstance(first.get(key), list):
            return first[key]
    if isinstance(first.get("input_shape"), list):
        return [None] + first["input_shape"]
    if isinstance(first.get("input_dim"), int):  # Keras 1/2 shorthand
        if _class(entries[0]) in ("SimpleRNN", "LSTM", "GRU"):
            return [None, first.get("input_length"), first["input_dim"]]
        return [None, first["input_dim"]]
    for holder in (body.get("build_input_shape"), (top.get("build_config") or {}).get("input_shape") if isinstance(top.get("build_config"), dict) else None):
        if isinstance(holder, list):
            return holder
    raise ModelFormatError("the Sequential model records no input shape (was it built before saving?)")


# -- Functional ---------------------------------------------------------------------------


def _parse_functional(body, ctx, weights, source) -> ModelSpec:
    if not isinstance(body, dict):
        raise ModelFormatError("the Functional model config is not an object")
    entries = _get(body, "layers", list, "Functional config")
    layers = []
    for position, entry in enumerate(entries):
        if _class(entry) == "InputLayer":
            spec = _input_layer(entry)
        else:
            spec = _layer(entry, position, ctx, weights)
            nodes = _get(entry, "inbound_nodes", list, f"layer '{spec.name}'")
            spec.inbound = [_parse_node(node, spec.name, spec.class_name) for node in nodes]
        layers.append(spec)
    inputs = _refs(body.get("input_layers"), "input_layers")
    outputs = _refs(body.get("output_layers"), "output_layers")
    return ModelSpec(str(body.get("name", "functional")), layers, inputs, outputs, source)


def _refs(value, what) -> list[tuple]:
    """[name, node, tensor] or a list (or dict) of them -> list of refs."""
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list) and value and isinstance(value[0], str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise ModelFormatError(f"the model config has no {what}")
    return [_ref(v, what) for v in value]


def _ref(value, where) -> tuple:
    ref = as_ref(value)
    if ref is None:
        raise ModelFormatError(f"{where}: {value!r} is not a tensor reference [layer, node, tensor]")
    return ref


RECURRENT_CLASSES = ("SimpleRNN", "LSTM", "GRU", "RNN", "Bidirectional")


def _parse_node(node, layer: str, class_name: str) -> Call:
    """One call of a layer -> Call(input refs, tensor kwargs, options)."""
    if isinstance(node, dict):  # Keras 3: {"args": [...], "kwargs": {...}}
        inputs: list[tuple] = []
        _collect_tensors(node.get("args", []), inputs, layer)
        kwargs = node.get("kwargs") or {}
        if not isinstance(kwargs, dict):
            raise ModelFormatError(f"layer '{layer}': call kwargs are not an object")
        call = _split_kwargs(kwargs, layer, Call(inputs))
    elif isinstance(node, list):  # Keras 2: [[name, node, tensor, kwargs], ...]
        call = Call([_ref(item, f"layer '{layer}'") for item in node])
        for item in node:
            if len(item) > 3:
                if not isinstance(item[3], dict):
                    raise ModelFormatError(f"layer '{layer}': call kwargs are not an object")
                call = _split_kwargs(item[3], layer, call)
        if class_name in RECURRENT_CLASSES and len(call.inputs) > 1:  # Keras 2 lists initial states as inputs
            call = Call(call.inputs[:1], {"initial_state": call.inputs[1:], **call.tensor_kwargs}, call.options)
    else:
        raise ModelFormatError(f"layer '{layer}': inbound node {node!r} is not understood")
    if class_name == "MultiHeadAttention" and "value" in call.tensor_kwargs:  # Keras 2 passes value by keyword
        kwargs = dict(call.tensor_kwargs)
        call = Call(call.inputs + kwargs.pop("value"), kwargs, call.options)
    return call


def _split_kwargs(kwargs: dict, layer: str, call: Call) -> Call:
    """Keyword arguments of a call: tensors go to tensor_kwargs, plain values to options."""
    tensor_kwargs = dict(call.tensor_kwargs)
    options = dict(call.options)
    for key, value in kwargs.items():
        if value is None or key in IGNORED_CALL_ARGUMENTS:
            continue
        refs: list[tuple] = []
        if _holds_tensors(value):
            _collect_tensors(value, refs, layer)
            tensor_kwargs[key] = refs
        elif as_ref(value) is not None and len(value) in (3, 4):  # Keras 2 tensor reference
            tensor_kwargs[key] = [as_ref(value)]
        elif isinstance(value, list) and value and all(as_ref(v) is not None for v in value):
            tensor_kwargs[key] = [as_ref(v) for v in value]
        elif isinstance(value, (bool, int, float, str)):
            options[key] = value
        else:
            raise UnsupportedOptionError(f"layer '{layer}' is called with {key}={value!r}, which npinfer does not support")
    return Call(call.inputs, tensor_kwargs, options)


def _holds_tensors(value) -> bool:
    if isinstance(value, list):
        return any(_holds_tensors(v) for v in value)
    return isinstance(value, dict) and value.get("class_name") == "__keras_tensor__"


def _collect_tensors(value, refs, layer) -> None:
    if isinstance(value, list):
        for item in value:
            _collect_tensors(item, refs, layer)
    elif isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        history = (value.get("config") or {}).get("keras_history") if isinstance(value.get("config"), dict) else None
        refs.append(_ref(history, f"layer '{layer}'"))
    else:
        raise UnsupportedOptionError(f"layer '{layer}' is called with a non-tensor argument {value!r}, which npinfer does not support")


# -- layers -------------------------------------------------------------------------------


def _input_layer(entry) -> LayerSpec:
    config = _get(entry, "config", dict, "InputLayer")
    name = _layer_name(entry)
    shape = config.get("batch_shape", config.get("batch_input_shape"))
    if shape is None and isinstance(config.get("shape"), list):
        shape = [None] + config["shape"]
    if not isinstance(shape, list):
        raise ModelFormatError(f"input layer '{name}' has no shape")
    for key in ("sparse", "ragged"):
        if config.get(key):
            raise UnsupportedOptionError(f"input layer '{name}': {key} inputs are not supported")
    dtype = config.get("dtype", "float32")
    if isinstance(dtype, dict):
        check_dtype_policy(dtype, f"input layer '{name}'")
        dtype = "float32"
    return LayerSpec(name, "InputLayer", {"shape": shape, "dtype": str(dtype)}, inbound=[])


def _layer(entry, position: int, ctx: KerasContext, weights: WeightSource) -> LayerSpec:
    class_name = _class(entry)
    name = _layer_name(entry)
    module = str(entry.get("module") or "")
    registered = entry.get("registered_name")
    if class_name in MODEL_CLASSES:
        raise UnsupportedLayerError(f"layer '{name}' is a nested {class_name} model; nested models are not supported yet")
    if module.startswith(("keras.src.ops", "keras.ops")):
        raise UnsupportedLayerError(
            f"layer '{name}' is the operation {class_name} ({module}) applied directly in the model; "
            f"npinfer runs layers only; supported layers: {', '.join(sorted(LAYERS))}"
        )
    custom = ">" in class_name or (registered not in (None, class_name))  # "package>Class"
    if custom or (module and not module.startswith(KERAS_MODULES)):
        raise UnsupportedLayerError(
            f"layer '{name}' is the custom class {registered or class_name} ({module or 'unknown module'}), "
            f"which npinfer cannot run; supported layers: {', '.join(sorted(LAYERS))}"
        )
    keras_config = _get(entry, "config", dict, f"layer '{name}'")
    config = translate_layer(class_name, name, keras_config, ctx)
    expected = LAYERS[class_name].weight_names(config)
    saved = weights.layer_weights(name, class_name, position)
    if len(saved) != len(expected):
        raise ModelFormatError(
            f"layer '{name}' ({class_name}) has {len(saved)} saved weight(s), expected {len(expected)} ({', '.join(expected) or 'none'})"
        )
    named = {}
    for key, (saved_name, array) in zip(expected, saved):
        if saved_name is not None and saved_name.split("/")[-1].split(":")[0] != key:
            raise ModelFormatError(f"layer '{name}' ({class_name}): saved weight '{saved_name}' is where '{key}' belongs")
        named[key] = array
    return LayerSpec(name, class_name, config, named)


def _class(entry) -> str:
    if not isinstance(entry, dict) or not isinstance(entry.get("class_name"), str):
        raise ModelFormatError(f"layer entry {str(entry)[:80]!r} has no class_name")
    return entry["class_name"]


def _layer_name(entry) -> str:
    config = entry.get("config")
    name = entry.get("name") or (config.get("name") if isinstance(config, dict) else None)
    if not isinstance(name, str) or not name:
        raise ModelFormatError(f"a {entry.get('class_name')} layer has no name")
    return name


def _get(holder, key, kind, where):
    if not isinstance(holder, dict) or not isinstance(holder.get(key), kind):
        raise ModelFormatError(f"{where}: '{key}' is missing or not a {kind.__name__}")
    return holder[key]
