"""Keras model configs (Sequential and Functional, Keras 2 and Keras 3 spellings) -> ModelSpec.

Shared by the `.keras`, `.h5` and in-memory importers; each supplies the weights through a
`WeightSource`. Nested models (a Sequential or Functional model used as a layer) are
flattened into the outer graph: their layers are named "<model>/<layer>" and get one call
per call of the nested model. Config dicts come from untrusted files: every access is
checked and a malformed config raises ModelFormatError, never KeyError or TypeError.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from ..errors import ModelFormatError, UnsupportedLayerError, UnsupportedOptionError
from ..layers import LAYERS, unsupported_layer
from ..limits import Limits, current
from ..spec import Call, LayerSpec, ModelSpec, as_ref
from .keras_layers import (
    OPERATION_MODULES,
    OPERATION_RULES,
    KerasContext,
    KerasLayerRule,
    check_dtype_policy,
    check_layer_class,
    layer_class,
    normalization_statistics,
    registered_key,
    rule_for,
    translate_layer,
    translate_operation,
)

MODEL_CLASSES = ("Sequential", "Functional", "Model")
FUNCTIONAL_CLASSES = ("Functional", "Model")
IGNORED_CALL_ARGUMENTS = {"training"}
RECURRENT_CLASSES = ("SimpleRNN", "LSTM", "GRU", "RNN", "Bidirectional", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D")
NORMALIZATION_UNUSED_WEIGHTS = ("count",)


class WeightSource(Protocol):
    def layer_weights(self, entry: dict, position: int, count: int) -> list[tuple[str | None, np.ndarray]]:
        """The saved weights of one layer entry, in Keras's order, with their saved names where known.

        `position` is the entry's index in `model.layers` (`.keras` files address layers by
        position and class, not name); `count` is how many weights npinfer expects."""

    def nested(self, entry: dict, position: int) -> "WeightSource":
        """The weight source of a nested model's own layers."""


def parse_model(config: Any, ctx: KerasContext, weights: WeightSource, source: dict, limits: Limits | None = None) -> ModelSpec:
    """Build a ModelSpec from a Keras model config (the JSON of `config.json` or `model_config`)."""
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise ModelFormatError("the model config has no class_name; this is not a Keras model config")
    if config["class_name"] not in MODEL_CLASSES:
        raise UnsupportedLayerError(
            f"the model is a {config['class_name']} ({config.get('module') or 'custom class'}); npinfer reads Sequential "
            "and Functional models (subclassed models have no config describing their computation)"
        )
    graph = _Graph(ctx)
    name, inputs, outputs = graph.add_model(config, weights, prefix="")
    layers = [graph.layers[n] for n in graph.order]
    if len(layers) > current(limits).max_layers:
        raise ModelFormatError(f"the model has {len(layers):,} layers, over the limit of {current(limits).max_layers:,}")
    for layer in layers:
        layer.inbound = [Call([graph.resolve(r) for r in c.inputs],
                              {k: [graph.resolve(r) for r in refs] for k, refs in c.tensor_kwargs.items()}, c.options)
                         for c in layer.inbound]
    return ModelSpec(name, layers, [graph.resolve(r) for r in inputs], [graph.resolve(r) for r in outputs], source)


class _Graph:
    """Collects layers (flattening nested models) and aliases from nested-model outputs to inner tensors."""

    def __init__(self, ctx: KerasContext):
        self.ctx = ctx
        self.layers: dict[str, LayerSpec] = {}
        self.order: list[str] = []
        self.aliases: dict[tuple, tuple] = {}

    def resolve(self, ref: tuple) -> tuple:
        seen = 0
        while ref in self.aliases:
            ref = self.aliases[ref]
            seen += 1
            if seen > 10_000:
                raise ModelFormatError("nested model references form a loop")
        return ref

    def add(self, spec: LayerSpec) -> None:
        if spec.name in self.layers:
            raise ModelFormatError(f"two layers are named '{spec.name}'")
        self.layers[spec.name] = spec
        self.order.append(spec.name)

    # -- models -----------------------------------------------------------------------------

    def add_model(self, config: dict, weights: WeightSource, prefix: str):
        """Add a Sequential or Functional model's layers; return (name, input refs, output refs)."""
        body = config.get("config")
        if config["class_name"] == "Sequential":
            return self._add_sequential(body, config, weights, prefix)
        if not isinstance(body, dict):
            raise ModelFormatError("the Functional model config is not an object")
        entries = _get(body, "layers", list, "Functional config")
        for position, entry in enumerate(entries):
            name = prefix + _layer_name(entry)
            if layer_class(entry) == "InputLayer":
                self.add(_input_layer(entry, name))
                continue
            _check_supported(entry, name)  # before reading its calls: an unknown layer's may be in any form
            nodes = _get(entry, "inbound_nodes", list, f"layer '{name}'")
            calls = [_prefixed(_parse_node(node, name, layer_class(entry)), prefix) for node in nodes]
            self._add_entry(entry, position, calls, weights, prefix)
        functional = {_layer_name(e) for e in entries if layer_class(e) in FUNCTIONAL_CLASSES}
        inputs = [self._model_ref(r, prefix, functional) for r in _refs(body.get("input_layers"), "input_layers")]
        outputs = [self._model_ref(r, prefix, functional) for r in _refs(body.get("output_layers"), "output_layers")]
        return str(body.get("name", "functional")), inputs, outputs

    def _model_ref(self, ref: tuple, prefix: str, functional: set) -> tuple:
        """A ref of input_layers / output_layers. Keras 3 numbers a nested Functional model's calls
        there from 1 (as tf.keras does everywhere: its node 0 links the model's own inputs to its
        outputs), but from 0 in the arguments of calls; npinfer numbers them as the calls do."""
        if self.ctx.major >= 3 and ref[0] in functional:
            if ref[1] < 1:
                raise ModelFormatError(f"the model's outputs refer to call {ref[1]} of nested model '{prefix + ref[0]}'; "
                                       "Keras numbers a nested Functional model's calls there from 1")
            ref = (ref[0], ref[1] - 1, ref[2])
        return _prefix_ref(ref, prefix)

    def _add_sequential(self, body, top, weights, prefix):
        if isinstance(body, list):  # Keras <= 2.2.4 wrote the layer list directly
            body = {"name": "sequential", "layers": body}
        entries = _get(body, "layers", list, "Sequential config")
        if not entries:
            raise ModelFormatError("the Sequential model has no layers")
        if layer_class(entries[0]) == "InputLayer":
            first = _input_layer(entries[0], prefix + _layer_name(entries[0]))
            entries = entries[1:]
        else:
            shape = _sequential_input_shape(entries, body, top)
            first = LayerSpec(f"{prefix}{_layer_name(entries[0])}_input", "InputLayer", {"shape": shape, "dtype": "float32"})
        self.add(first)
        previous = (first.name, 0, 0)
        for position, entry in enumerate(entries):
            previous = self._add_entry(entry, position, [Call([previous])], weights, prefix)[0]
        return str(body.get("name", "sequential")), [(first.name, 0, 0)], [previous]

    # -- layers ------------------------------------------------------------------------------

    def _add_entry(self, entry: dict, position: int, calls: list[Call], weights: WeightSource, prefix: str) -> list[tuple]:
        """Add one layer entry (or a nested model) with its calls; return its first call's output refs."""
        name = prefix + _layer_name(entry)
        if layer_class(entry) in MODEL_CLASSES:
            return self._add_nested(entry, position, calls, weights, name)
        check_layer_class(entry, name)
        class_name = registered_key(entry) or layer_class(entry)
        keras_config = _get(entry, "config", dict, f"layer '{name}'")
        if _is_operation(entry, keras_config):
            spec = LayerSpec(name, f"ops.{class_name}", translate_operation(class_name, name, keras_config), {}, calls)
        else:
            spec = self._layer(entry, name, class_name, keras_config, position, weights)
            spec.inbound = calls
        self.add(spec)
        return [(name, 0, 0)]

    def _layer(self, entry, name, class_name, keras_config, position, weights) -> LayerSpec:
        config = translate_layer(class_name, name, keras_config, self.ctx)
        expected = LAYERS[class_name].weight_names(config)
        rule = rule_for(class_name) or KerasLayerRule()
        if class_name == "Normalization":
            statistics = normalization_statistics(keras_config)
            if statistics is not None:
                return LayerSpec(name, class_name, {**config, "adapted": False}, dict(zip(expected, statistics)))
        saved = weights.layer_weights(entry, position, len(expected))
        if class_name == "Normalization" and len(saved) == len(expected) + len(NORMALIZATION_UNUSED_WEIGHTS):
            saved = saved[: len(expected)]  # the adapt() sample count is not needed to predict
        if len(saved) != len(expected):
            raise ModelFormatError(
                f"layer '{name}' ({class_name}) has {len(saved)} saved weight(s), expected {len(expected)} ({', '.join(expected) or 'none'})"
            )
        named = {}
        for key, (saved_name, array) in zip(expected, saved):
            accepted = {key.split("/")[-1], rule.aliases.get(key, key)}
            if saved_name is not None and saved_name.split("/")[-1].split(":")[0] not in accepted:
                raise ModelFormatError(f"layer '{name}' ({class_name}): saved weight '{saved_name}' is where '{key}' belongs")
            named[key] = array
        return LayerSpec(name, class_name, config, named)

    def _add_nested(self, entry, position, calls, weights, name) -> list[tuple]:
        """Flatten a nested model: its layers get one call per call of the model."""
        inner_weights = weights.nested(entry, position)
        start = len(self.order)
        inner_name, inner_inputs, inner_outputs = self.add_model(entry, inner_weights, prefix=f"{name}/")
        inner_names = self.order[start:]
        inner_layers = {n: self.layers[n] for n in inner_names}
        if not calls:
            raise ModelFormatError(f"nested model '{name}' is never called")
        template = {n: list(spec.inbound) for n, spec in inner_layers.items()}
        counts = {n: max(len(c), 1) for n, c in template.items()}
        offset = self._node_offset(entry)
        for j, call in enumerate(calls):
            if len(call.inputs) != len(inner_inputs):
                raise ModelFormatError(f"nested model '{name}' takes {len(inner_inputs)} inputs, is called with {len(call.inputs)}")
            feeds = dict(zip(inner_inputs, call.inputs))

            def remap(ref, j=j, feeds=feeds):
                ref = self.resolve(ref)  # an output of a model nested in this one: that call's inner tensor
                if ref in feeds:
                    return feeds[ref]
                return (ref[0], j * counts.get(ref[0], 1) + ref[1], ref[2]) if ref[0] in inner_layers else ref

            for n, spec in inner_layers.items():
                if spec.class_name == "InputLayer":
                    continue
                mine = [Call([remap(r) for r in c.inputs], {k: [remap(r) for r in refs] for k, refs in c.tensor_kwargs.items()},
                             c.options) for c in template[n]]
                spec.inbound = (spec.inbound if j else []) + mine
            for t, out in enumerate(inner_outputs):
                self.aliases[(name, j + offset, t)] = remap(out)
        for n in inner_names:  # the nested model's inputs are replaced by the outer tensors
            if inner_layers[n].class_name == "InputLayer":
                self.order.remove(n)
                del self.layers[n]
        return [self.aliases[(name, offset, 0)]]

    def _node_offset(self, entry) -> int:
        """tf.keras counts a nested model's own call on its InputLayer as node 0 and leaves that
        node out of the config, so the outer graph's first call is node 1 (Keras 3: node 0)."""
        if self.ctx.major >= 3:
            return 0
        if layer_class(entry) != "Sequential":
            return 1  # a Functional model always starts from InputLayers
        body = entry.get("config") if isinstance(entry.get("config"), dict) else {}
        layers = body.get("layers") if isinstance(body.get("layers"), list) else []
        return 1 if layers and isinstance(layers[0], dict) and layers[0].get("class_name") == "InputLayer" else 0


# -- helpers ------------------------------------------------------------------------------


def _check_supported(entry: dict, name: str) -> None:
    """Refuse a custom or unsupported layer class by name."""
    check_layer_class(entry, name)
    class_name = layer_class(entry)
    config = entry.get("config") if isinstance(entry.get("config"), dict) else {}
    if class_name not in MODEL_CLASSES and not _is_operation(entry, config) and rule_for(class_name) is None \
            and not registered_key(entry):
        raise unsupported_layer(name, class_name)


def _is_operation(entry: dict, keras_config: dict) -> bool:
    """A Keras 3 operation node (mask computations). `.keras` files name the ops module; legacy
    `.h5` files drop modules, but an operation's config has no `trainable` as a layer's has."""
    module = str(entry.get("module") or "")
    if module.startswith(OPERATION_MODULES):
        return True
    return not module and layer_class(entry) in OPERATION_RULES and "trainable" not in keras_config


def _sequential_input_shape(entries, body, top) -> list:
    first = _get(entries[0], "config", dict, "first layer")
    for key in ("batch_shape", "batch_input_shape"):
        if isinstance(first.get(key), list):
            return first[key]
    if isinstance(first.get("input_shape"), list):
        return [None] + first["input_shape"]
    if isinstance(first.get("input_dim"), int):  # Keras 1/2 shorthand
        if layer_class(entries[0]) in ("SimpleRNN", "LSTM", "GRU"):
            return [None, first.get("input_length"), first["input_dim"]]
        return [None, first["input_dim"]]
    build = top.get("build_config") if isinstance(top.get("build_config"), dict) else {}
    for holder in (body.get("build_input_shape"), build.get("input_shape")):
        if isinstance(holder, list):
            return holder
    raise ModelFormatError("the Sequential model records no input shape (was it built before saving?)")


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


def _prefix_ref(ref: tuple, prefix: str) -> tuple:
    return (prefix + ref[0], ref[1], ref[2])


def _prefixed(call: Call, prefix: str) -> Call:
    if not prefix:
        return call
    return Call([_prefix_ref(r, prefix) for r in call.inputs],
                {k: [_prefix_ref(r, prefix) for r in refs] for k, refs in call.tensor_kwargs.items()}, call.options)


def _parse_node(node, layer: str, class_name: str) -> Call:
    """One call of a layer -> Call(input refs, tensor kwargs, options)."""
    if isinstance(node, dict):  # Keras 3: {"args": [...], "kwargs": {...}}
        inputs: list[tuple] = []
        scalars: list = []
        _collect_tensors(node.get("args", []), inputs, layer, scalars)
        kwargs = node.get("kwargs") or {}
        if not isinstance(kwargs, dict):
            raise ModelFormatError(f"layer '{layer}': call kwargs are not an object")
        call = _split_kwargs(kwargs, layer, Call(inputs))
        if scalars:
            call.options["scalars"] = scalars
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
    if class_name == "MultiHeadAttention":  # query, value[, key]: by position, whatever the spelling
        kwargs = dict(call.tensor_kwargs)
        inputs = list(call.inputs)
        for key in ("query", "value", "key"):
            if key in kwargs:
                inputs += kwargs.pop(key)
        call = Call(inputs, kwargs, call.options)
    return call


def _split_kwargs(kwargs: dict, layer: str, call: Call) -> Call:
    """Keyword arguments of a call: tensors go to tensor_kwargs, plain values to options."""
    tensor_kwargs = dict(call.tensor_kwargs)
    options = dict(call.options)
    for key, value in kwargs.items():
        if value is None or key in IGNORED_CALL_ARGUMENTS:
            continue
        if _holds_tensors(value):
            refs: list[tuple] = []
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


def _collect_tensors(value, refs, layer, scalars: list | None = None) -> None:
    if isinstance(value, list):
        for item in value:
            _collect_tensors(item, refs, layer, scalars)
    elif isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        history = (value.get("config") or {}).get("keras_history") if isinstance(value.get("config"), dict) else None
        refs.append(_ref(history, f"layer '{layer}'"))
    elif scalars is not None and isinstance(value, (int, float, bool)):
        scalars.append(value)  # e.g. the 0 of NotEqual(x, 0); only operations accept them
    else:
        raise UnsupportedOptionError(f"layer '{layer}' is called with a non-tensor argument {value!r}, which npinfer does not support")


def _input_layer(entry, name: str) -> LayerSpec:
    config = _get(entry, "config", dict, "InputLayer")
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
        dtype = (dtype.get("config") or {}).get("name", "float32") if isinstance(dtype.get("config"), dict) else "float32"
    return LayerSpec(name, "InputLayer", {"shape": shape, "dtype": str(dtype)})


def _layer_name(entry) -> str:
    layer_class(entry)
    config = entry.get("config")
    name = entry.get("name") or (config.get("name") if isinstance(config, dict) else None)
    if not isinstance(name, str) or not name:
        raise ModelFormatError(f"a {entry.get('class_name')} layer has no name")
    return name


def _get(holder, key, kind, where):
    if not isinstance(holder, dict) or not isinstance(holder.get(key), kind):
        raise ModelFormatError(f"{where}: '{key}' is missing or not a {kind.__name__}")
    return holder[key]
