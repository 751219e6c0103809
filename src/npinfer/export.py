"""`npinfer export`: one self-contained Python file that predicts with NumPy alone.

The file holds only what the model uses: the layer functions (copied from export_lib.py),
the activation functions (copied from layers/activations.py), a `predict(x)` that calls them
in order with the weights by name, the weights themselves (compressed and base64-encoded, or
in a sidecar .npz), and a command line reading .npy or .csv. It never imports npinfer.
"""

from __future__ import annotations

import base64
import collections
import inspect
import io
import os
import re
import textwrap
import zlib


import numpy as np

from . import export_lib
from .atomic import atomic_write
from .errors import UnsupportedLayerError
from .graph import Node
from .layers import activations
from .layers.activations import HELPERS, canonical
from .layers.base import Layer
from .layers.special import _erf_series, _erfc_fraction, erf
from .layers.tensor_ops import TENSOR_OPS
from .spec import Call

OPERATIONS = ("NotEqual", "LogicalOr", "LogicalAnd", "Any", "All", "ExpandDims", "ZerosLike", "OnesLike", "ConvertToTensor",
              "Concatenate")  # the Keras 3 op nodes that compute masks (layers/ops.py)
EXPORTABLE = (
    "InputLayer", "Dense", "Activation", "ReLU", "LeakyReLU", "ELU", "Softmax", "Dropout", "SpatialDropout1D",
    "GaussianNoise", "GaussianDropout", "AlphaDropout", "Flatten", "Reshape", "Add", "Subtract", "Multiply", "Average",
    "Maximum", "Minimum", "Concatenate", "RepeatVector", "SimpleRNN", "LSTM", "GRU", "Bidirectional", "TimeDistributed",
    "Embedding", "Conv1D", "MaxPooling1D", "AveragePooling1D", "GlobalMaxPooling1D", "GlobalAveragePooling1D",
    "BatchNormalization", "LayerNormalization", "Normalization", "DepthwiseConv1D", "SeparableConv1D", "Dot",
    "UnitNormalization", "UpSampling1D", "ZeroPadding1D", "Cropping1D", "Permute", "RNN", "Attention", "AdditiveAttention",
    "MultiHeadAttention", "Masking", *(f"ops.{name}" for name in OPERATIONS), *TENSOR_OPS,
)
RECURRENT = ("SimpleRNN", "LSTM", "GRU", "RNN")
ATTENTION = ("Attention", "AdditiveAttention", "MultiHeadAttention")
ATTENTION_OPTIONS = ("use_causal_mask", "return_attention_scores")  # the call options export reproduces
MERGES = ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum")
# Masks flow as npinfer's graph propagates them (graph.py): _output_masks follows each layer's
# compute_masks. Of the exported layers only the recurrent ones, Bidirectional, the merges,
# the attention layers and GlobalAveragePooling1D read masks in their call; the rest compute
# the same with or without one.
STEP_FUNCTIONS = {"SimpleRNNCell": "simple_rnn_step", "LSTMCell": "lstm_step", "GRUCell": "gru_step"}


class _Writer:
    """Collects the pieces of the script while walking the model's graph."""

    def __init__(self, model):
        self.model = model
        self.names: dict[tuple, str] = {}
        self.lines: list[str] = []
        self.functions: list[str] = []  # export_lib functions used, in order
        self.activations: dict[str, str] = {}  # canonical JSON -> function name
        self.helpers: list[str] = []
        self.used: set[str] = set()  # variable names given out
        self.masks: dict[tuple, str] = {}  # tensor ref -> the variable holding its (batch, time) boolean mask
        self.op_outputs: set[tuple] = set()  # tensors made by Keras 3 op nodes (booleans, mostly)
        self.custom: dict[str, str] = {}  # registered custom layers' EXPORT_FUNCTION: name -> source
        self.integers: set[tuple] = set()  # tensors holding integers (integer inputs, tensor.* ops passing them on)

    def use(self, name: str) -> str:
        if name not in self.functions:
            self.functions.append(name)
        return name

    def activation(self, spec) -> str:
        full = canonical(spec)
        key = repr(sorted(full.items()))
        if key not in self.activations:
            name = f"act_{full['name']}_{len(self.activations)}"
            params = ", ".join(f"{k}={v!r}" for k, v in full.items() if k != "name")
            function = "np.tanh" if full["name"] == "tanh" else full["name"]
            if full["name"] != "tanh":
                self._helper(full["name"])
            call = f"{function}(x{', ' + params if params else ''})"
            self.activations[key] = (name, f"def {name}(x):\n    return np.asarray({call}).astype(x.dtype, copy=False)\n")
        return self.activations[key][0]

    def _helper(self, name: str) -> None:
        for dependency in HELPERS.get(name, []):
            self._helper(dependency)
        if name == "gelu":
            for fn in ("_erf_series", "_erfc_fraction", "erf"):
                if fn not in self.helpers:
                    self.helpers.append(fn)
        if name not in self.helpers:
            self.helpers.append(name)

    def tensor(self, ref) -> str:
        return self.names[tuple(ref)]

    def read(self, ref, layer) -> str:
        """The variable of tensor `ref` as `layer` reads it: integers cast to the model's float
        type for layers that do not take integers (as npinfer's graph casts them)."""
        name = self.tensor(ref)
        if tuple(ref) in self.integers and not layer.ACCEPTS_INTEGERS:
            return f"{name}.astype(np.{self.model.dtype.name})"
        return name

    def mask_variable(self, tensor: str) -> str:
        """A fresh variable name for the mask of the tensor variable `tensor` (v_x -> m_x)."""
        name = "m_" + tensor[2:]
        while name in self.used:
            name += "_"
        self.used.add(name)
        return name

    def define(self, layer, index: int, count: int) -> list[str]:
        base = "".join(ch if ch.isalnum() else "_" for ch in layer.name).strip("_") or "t"
        names = [f"{base}_{index}_{i}" if count > 1 or index else base for i in range(count)]
        for i, name in enumerate(names):
            while f"v_{name}" in self.used:  # two layer names that read alike (such as "a/b" and "a_b")
                name += "_"
            names[i] = name
            self.used.add(f"v_{name}")
            self.names[(layer.name, index, i)] = f"v_{name}"
        return [f"v_{n}" for n in names]


def _weight(layer, key: str) -> str:
    full = f"{layer.name}/{key}"
    return f"W[{full!r}]" if key in layer.weights else "None"


def _cell_step(writer: _Writer, layer, cell, prefix: str) -> tuple[str, list[int]]:
    """Code making the step function of `cell` (weights under `prefix`/), and its state sizes."""
    if hasattr(cell, "cells"):  # StackedRNNCells: weights under cells/<i>/
        parts = [_cell_step(writer, layer, c, f"{prefix}/cells/{i}") for i, c in enumerate(cell.cells)]
        counts = [len(sizes) for _, sizes in parts]
        steps = ", ".join(step for step, _ in parts)
        return f"{writer.use('stacked_step')}([{steps}], {counts})", [s for _, sizes in parts for s in sizes]
    kind = type(cell).__name__
    if kind not in STEP_FUNCTIONS:
        raise _refuse(layer, f"the cell {kind} is not exported")
    config = cell.config
    step = writer.use(STEP_FUNCTIONS[kind])
    kernel, recurrent = f"W[{prefix + '/kernel'!r}]", f"W[{prefix + '/recurrent_kernel'!r}]"
    if config["use_bias"]:
        bias = f"W[{prefix + '/bias'!r}]"
    else:
        shape = tuple(cell.bias_shape())
        bias = f"np.zeros({shape}, np.float32)"
    args = [kernel, recurrent, bias, writer.activation(config["activation"])]
    if kind != "SimpleRNNCell":
        args.append(writer.activation(config["recurrent_activation"]))
    if kind == "GRUCell":
        args.append(f"reset_after={config['reset_after']}")
    if getattr(cell, "projection", None):  # PyTorch's proj_size
        args.append(f"projection=W[{prefix + '/projection_kernel'!r}]")
    return f"{step}({', '.join(args)})", list(cell.state_sizes)


def _recurrent(writer: _Writer, layer, source: str, prefix: str = "", initial: list[str] | None = None,
               mask: str | None = None) -> tuple[str, list[int]]:
    """Code running one recurrent layer on `source` from the `initial` state tensors (zeros if
    None) under `mask` (a variable, or None): an expression for (sequence-or-last output,
    final states), and the state sizes."""
    config = layer.config
    step, sizes = _cell_step(writer, layer, layer.cell, prefix or layer.name)
    writer.use("rnn")
    if initial is None:
        states = f"{writer.use('zeros_states')}({source}, {sizes})"
    else:
        if len(initial) != len(sizes):
            raise _refuse(layer, f"{len(initial)} initial states given for {len(sizes)} states")
        states = "[" + ", ".join(initial) + "]"
    masked = f", mask={mask}, zero_output_for_mask={config['zero_output_for_mask']}" if mask else ""
    call = (f"rnn({source}, {step}, {states}, "
            f"go_backwards={config['go_backwards']}, return_sequences={config['return_sequences']}{masked})")
    return call, sizes


def _refuse(layer, why: str) -> UnsupportedLayerError:
    return UnsupportedLayerError(
        f"layer '{layer.name}' ({layer.class_name}) cannot be exported: {why}; export supports: {', '.join(EXPORTABLE)} "
        "(stateful layers are not exported)"
    )


def _custom_names() -> set[str]:
    from .layers import CUSTOM

    return set(CUSTOM)


def _custom_code(writer: _Writer, layer, function, ins: list[str], outs: list[str], masks: list) -> None:
    """A registered custom layer whose class names a plain NumPy function `EXPORT_FUNCTION(inputs,
    weights, config) -> list of outputs`: its source is copied into the script and called."""
    if any(m is not None for m in masks):
        raise _refuse(layer, "a mask reaches it (custom layers are exported without masks)")
    if not inspect.isfunction(function):
        raise _refuse(layer, "its EXPORT_FUNCTION is not a plain function")
    name = function.__name__
    if name in writer.custom and writer.custom[name] != _source(function):
        raise _refuse(layer, f"two different EXPORT_FUNCTIONs are named {name!r}")
    if name in export_lib.__dict__ or name in activations.__dict__ or name in ("predict", "main", "load_weights"):
        raise _refuse(layer, f"its EXPORT_FUNCTION's name {name!r} is taken in the script; rename it")
    writer.custom[name] = _source(function)
    weights = "{" + ", ".join(f"{key!r}: {_weight(layer, key)}" for key in layer.weights) + "}"
    writer.lines.append(f"    {', '.join(outs)}, = {name}([{', '.join(ins)}], {weights}, {dict(layer.config)!r})")


def _input_masks(writer: _Writer, node, outs: list[str]) -> list:
    """The masks the layer's call sees, as npinfer's graph gives them: an explicit mask argument
    (Keras 3 records them) if any, else the masks of its input tensors; a variable or None each."""
    layer, call = node.layer, node.call
    if "mask" not in call.tensor_kwargs:
        return [writer.masks.get(tuple(r)) for r in call.inputs]
    given = call.tensor_kwargs["mask"]
    if len(given) != len(call.inputs):
        raise _refuse(layer, f"its mask argument has {len(given)} masks for {len(call.inputs)} inputs")
    masks = []
    for ref in given:
        name = writer.mask_variable(outs[0] + "_arg")
        writer.lines.append(f"    {name} = {writer.tensor(ref)}.astype(bool)")
        masks.append(name)
    return masks


def _output_masks(writer: _Writer, node, ins: list[str], outs: list[str], masks: list) -> list:
    """The mask of each output (a variable or None), following the layer's compute_masks."""
    layer, kind, config = node.layer, node.layer.class_name, node.layer.config
    first = masks[0] if masks else None
    present = [m for m in masks if m is not None]
    count = len(outs)
    if kind in ("Masking", "Embedding"):
        return [writer.masks.get((layer.name, node.index, 0))]  # made with the layer's code
    if kind in RECURRENT:
        return [first if config["return_sequences"] else None] + [None] * (count - 1)
    if kind == "Bidirectional":
        merged = 2 if config["merge_mode"] is None else 1
        return [first if layer.return_sequences else None] * merged + [None] * (count - merged)
    if kind in ATTENTION:
        return [first] + [None] * (count - 1)
    if kind in MERGES:
        if not present or (config["semantics"] == "keras3" and len(present) != len(masks)):
            return [None]
        name = writer.mask_variable(outs[0])
        reduce = "np.logical_or" if config["semantics"] == "keras3" else "np.logical_and"
        writer.lines.append(f"    {name} = {reduce}.reduce([{', '.join(present)}])")
        return [name]
    if kind == "Concatenate":
        if not present:
            return [None]
        name = writer.mask_variable(outs[0])
        writer.lines.append(f"    {name} = {writer.use('concatenate_mask')}([{', '.join(ins)}], [{', '.join(map(str, masks))}], "
                            f"{layer.axis}, {config['semantics']!r})")
        return [name]
    if type(layer).compute_masks is not Layer.compute_masks:
        if present:
            raise _refuse(layer, "its output mask is not exported")
        return [None] * count
    return [first if layer.MASKING == "propagate" else None] * count


def _layer_code(writer: _Writer, node, track_masks: bool = True) -> None:
    layer, call = node.layer, node.call
    config = layer.config
    if layer.class_name == "InputLayer":
        if config.get("batch_axis", 0) not in (0, 1):
            raise _refuse(layer, "the model file does not say which axis is the batch (batch_axis None)")
        return
    outs = writer.define(layer, node.index, len(layer.output_shapes))
    ins = [writer.read(r, layer) for r in call.inputs]
    custom = getattr(type(layer), "EXPORT_FUNCTION", None)  # a registered custom layer's plain NumPy function
    if layer.class_name not in EXPORTABLE and custom is None:
        why = ("it is a registered custom layer without an EXPORT_FUNCTION (README: Custom layers)"
               if layer.class_name in _custom_names() else "it is not in the exported set yet")
        raise _refuse(layer, why)
    read = list(call.inputs) + [r for k, refs in call.tensor_kwargs.items() if k != "mask" for r in refs]
    if not layer.ACCEPTS_INTEGERS and any(tuple(r) in writer.op_outputs for r in read):
        raise _refuse(layer, "it reads the result of a Keras operation node (npinfer would cast it to floats)")
    initial = [writer.read(r, layer) for r in call.tensor_kwargs.get("initial_state", [])] or None
    allowed = {"initial_state", "mask"} if layer.class_name in RECURRENT + ("Bidirectional",) else {"mask"}
    options = ATTENTION_OPTIONS if layer.class_name in ATTENTION else ("scalars",) if layer.class_name.startswith("ops.") else ()
    extra = sorted(set(call.tensor_kwargs) - allowed) + sorted(k for k, v in node.options.items() if v and k not in options)
    if extra:  # such as MultiHeadAttention's attention_mask, value_mask or key_mask tensors
        raise _refuse(layer, f"it is called with extra arguments ({', '.join(extra)})")
    if config.get("stateful"):
        raise _refuse(layer, "it is stateful")
    a = ins[0]
    kind = layer.class_name
    lines = writer.lines
    lines.append(f"    # {layer.name} ({kind}) -> {', '.join(str(s) for s in layer.output_shapes)}")
    masks = _input_masks(writer, node, outs) if track_masks else []
    first = masks[0] if masks else None  # what ctx.mask(0) gives the layer
    if custom is not None and kind not in EXPORTABLE:
        _custom_code(writer, layer, custom, ins, outs, masks)
        return
    if kind == "Dense":
        lines.append(f"    {outs[0]} = {writer.use('dense')}({a}, {_weight(layer, 'kernel')}, {_weight(layer, 'bias')}, "
                     f"{writer.activation(config['activation'])})")
    elif kind in ("Activation", "ReLU", "LeakyReLU", "ELU", "Softmax"):
        lines.append(f"    {outs[0]} = {writer.activation(config['activation'])}({a})")
    elif kind in ("Dropout", "SpatialDropout1D", "GaussianNoise", "GaussianDropout", "AlphaDropout"):
        lines.append(f"    {outs[0]} = {a}  # identity at inference")
    elif kind == "Flatten":
        moved = f"np.moveaxis({a}, 1, -1)" if config["data_format"] == "channels_first" and len(layer.input_shapes[0]) > 2 else a
        lines.append(f"    {outs[0]} = {moved}.reshape({a}.shape[0], -1)")
    elif kind == "Reshape":
        lines.append(f"    {outs[0]} = {a}.reshape(({a}.shape[0], {', '.join(map(str, config['target_shape']))}))")
    elif kind in MERGES and kind in ("Multiply", "Maximum", "Minimum") and config["semantics"] == "keras3" and \
            any(m is not None for m in masks):  # Keras 3 keeps masked values out of these
        listed = f"[{', '.join(ins)}], [{', '.join(map(str, masks))}]"
        if kind == "Multiply":
            expression = f"{writer.use('masked_multiply')}({listed})"
        else:
            expression = f"{writer.use('masked_extreme')}({listed}, np.{kind.lower()})"
        lines.append(f"    {outs[0]} = {expression}")
    elif kind in MERGES:
        joined = {"Add": " + ", "Subtract": " - ", "Multiply": " * ", "Average": " + "}.get(kind)
        if joined:
            expression = joined.join(ins)
            expression = f"({expression}) / {len(ins)}" if kind == "Average" else expression
        else:
            function = "np.maximum" if kind == "Maximum" else "np.minimum"
            expression = ins[0]
            for other in ins[1:]:
                expression = f"{function}({expression}, {other})"
        lines.append(f"    {outs[0]} = {expression}")
    elif kind == "Concatenate":
        lines.append(f"    {outs[0]} = np.concatenate([{', '.join(ins)}], axis={layer.axis})")
    elif kind == "RepeatVector":
        lines.append(f"    {outs[0]} = np.repeat({a}[:, None, :], {config['n']}, axis=1)")
    elif kind in RECURRENT:
        run, sizes = _recurrent(writer, layer, a, initial=initial, mask=first)
        states = outs[1:] if config["return_state"] else ["_"]
        lines.append(f"    {outs[0]}, {'[' + ', '.join(states) + ']' if config['return_state'] else '_'} = {run}")
    elif kind == "Bidirectional":
        forward, backward = layer.forward, layer.backward
        half = None if initial is None else len(initial) // 2  # forward states first, then backward ones
        run_f, sizes_f = _recurrent(writer, forward, a, f"{layer.name}/forward", None if initial is None else initial[:half], first)
        run_b, sizes_b = _recurrent(writer, backward, a, f"{layer.name}/backward", None if initial is None else initial[half:], first)
        keep = layer.return_state
        lines.append(f"    forward, {'forward_states' if keep else '_'} = {run_f}")
        lines.append(f"    backward, {'backward_states' if keep else '_'} = {run_b}")
        if layer.return_sequences:
            lines.append("    backward = backward[:, ::-1]  # back to forward time order")
        mode = config["merge_mode"]
        merged = ["forward", "backward"] if mode is None else [f"{writer.use('merge')}([forward, backward], {mode!r})"]
        if len(outs) == 1:
            lines.append(f"    {outs[0]} = {merged[0]}")
        else:
            states = ["*forward_states", "*backward_states"] if keep else []
            lines.append(f"    {', '.join(outs)} = [{', '.join(merged + states)}]")
    elif kind == "TimeDistributed":
        inner = layer.inner  # built for (batch * time, ...) inputs, weights under <name>/layer/
        flat_ref, flat = (f"{layer.name}/flat", node.index, 0), f"{outs[0]}_flat"
        while flat in writer.used:
            flat += "_"
        writer.used.add(flat)
        writer.names[flat_ref] = flat
        lines.append(f"    {flat} = {a}.reshape((-1,) + {a}.shape[2:])  # (batch * time, ...)")
        _layer_code(writer, Node(inner, node.index, Call([flat_ref]), {}), track_masks=False)  # no masks inside
        y = writer.tensor((inner.name, node.index, 0))
        lines.append(f"    {outs[0]} = {y}.reshape({a}.shape[:2] + {y}.shape[1:])  # (batch, time, ...)")
    elif kind == "Embedding":
        if config["mask_zero"] and track_masks and writer.model._graph.may_mask:
            mask = writer.mask_variable(outs[0])
            lines.append(f"    {mask} = {a} != 0  # mask_zero: id 0 is padding")
            writer.masks[(layer.name, node.index, 0)] = mask
        lines.append(f"    {outs[0]} = {writer.use('embedding')}({a}, W[{layer.name + '/embeddings'!r}])")
    elif kind == "Masking":
        mask = writer.mask_variable(outs[0])
        lines.append(f"    {mask} = np.any({a} != {config['mask_value']!r}, axis=-1)  # steps not all {config['mask_value']!r}")
        lines.append(f"    {outs[0]} = {a} * {mask}[..., None].astype({a}.dtype)  # masked steps zeroed")
        if track_masks and writer.model._graph.may_mask:
            writer.masks[(layer.name, node.index, 0)] = mask
    elif kind.startswith("ops."):
        _operation(writer, node, ins, outs)
    elif kind.startswith("tensor."):
        _tensor_op(writer, node, ins, outs)
    elif kind in ("Conv1D", "DepthwiseConv1D", "SeparableConv1D", "MaxPooling1D", "AveragePooling1D"):
        # The functions work channels last; channels_first is transposed in and out (as npinfer does).
        first = config["data_format"] == "channels_first"
        x = f"{a}.transpose(0, 2, 1)" if first else a
        if kind == "Conv1D":
            y = (f"{writer.use('conv1d')}({x}, {_weight(layer, 'kernel')}, {_weight(layer, 'bias')}, {layer.stride}, "
                 f"{config['padding']!r}, {layer.dilation}, {layer.groups}, {writer.activation(config['activation'])})")
        elif kind == "DepthwiseConv1D":
            y = (f"{writer.use('depthwise_conv1d')}({x}, {_weight(layer, 'depthwise_kernel')}, {_weight(layer, 'bias')}, "
                 f"{layer.stride}, {config['padding']!r}, {layer.dilation}, {writer.activation(config['activation'])})")
        elif kind == "SeparableConv1D":
            y = (f"{writer.use('separable_conv1d')}({x}, {_weight(layer, 'depthwise_kernel')}, "
                 f"{_weight(layer, 'pointwise_kernel')}, {_weight(layer, 'bias')}, {layer.stride}, {config['padding']!r}, "
                 f"{layer.dilation}, {writer.activation(config['activation'])})")
        else:
            y = (f"{writer.use('pool1d')}({x}, {layer.kernel}, {layer.stride}, {config['padding']!r}, "
                 f"{'max' if kind == 'MaxPooling1D' else 'average'!r})")
        lines.append(f"    {outs[0]} = {y}{'.transpose(0, 2, 1)' if first else ''}")
    elif kind == "GlobalAveragePooling1D" and first is not None:  # the mean of the unmasked steps
        lines.append(f"    {outs[0]} = {writer.use('masked_mean')}({a}, {first}, {layer.time_axis}, {config['keepdims']})")
    elif kind in ("GlobalMaxPooling1D", "GlobalAveragePooling1D"):  # GlobalMaxPooling1D ignores masks, as Keras's does
        reduce = "max" if kind == "GlobalMaxPooling1D" else "mean"
        lines.append(f"    {outs[0]} = {a}.{reduce}(axis={layer.time_axis}, keepdims={config['keepdims']})")
    elif kind == "BatchNormalization":
        lines.append(f"    {outs[0]} = {writer.use('batch_normalization')}({a}, {_weight(layer, 'moving_mean')}, "
                     f"{_weight(layer, 'moving_variance')}, {_weight(layer, 'gamma')}, {_weight(layer, 'beta')}, "
                     f"{config['epsilon']!r}, {layer.axes})")
    elif kind == "LayerNormalization":
        lines.append(f"    {outs[0]} = {writer.use('layer_normalization')}({a}, {_weight(layer, 'gamma')}, {_weight(layer, 'beta')}, "
                     f"{config['epsilon']!r}, {layer.axes}, rms_scaling={config['rms_scaling']})")
    elif kind == "Normalization":
        lines.append(f"    {outs[0]} = {writer.use('normalization')}({a}, {_weight(layer, 'mean')}, {_weight(layer, 'variance')}, "
                     f"{list(layer.axes)}, invert={config['invert']})")
    elif kind == "UnitNormalization":
        lines.append(f"    {outs[0]} = {writer.use('l2_normalize')}({a}, {tuple(layer.axes)}, {config['semantics']!r}, 1e-12)")
    elif kind == "Dot":
        lines.append(f"    {outs[0]} = {writer.use('dot')}({ins[0]}, {ins[1]}, {layer.axes}, "
                     f"normalize={config['normalize']}, semantics={config['semantics']!r})")
    elif kind == "UpSampling1D":
        lines.append(f"    {outs[0]} = np.repeat({a}, {config['size']}, axis=1)  # each time step {config['size']} times")
    elif kind == "ZeroPadding1D":
        widths = [(0, 0)] * 3
        widths[layer.axis] = tuple(layer.padding)
        lines.append(f"    {outs[0]} = np.pad({a}, {widths})  # zeros before and after the time axis")
    elif kind == "Cropping1D":
        start, end = layer.cropping
        lines.append(f"    {outs[0]} = {a}[:, {start} : {a}.shape[1] - {end}]  # steps cropped from both ends")
    elif kind == "Permute":
        lines.append(f"    {outs[0]} = {a}.transpose({tuple(layer.order)})")
    elif kind in ATTENTION:
        _attention(writer, node, ins, outs, masks)
    else:
        raise _refuse(layer, "it is not in the exported set yet")
    if not track_masks or not writer.model._graph.may_mask:
        return
    if layer.clears_input_masks():  # Keras 3's MultiHeadAttention: later readers of its inputs see no mask
        for ref in call.inputs:
            writer.masks.pop(tuple(ref), None)
    for i, mask in enumerate(_output_masks(writer, node, ins, outs, masks)):
        if mask is not None:
            writer.masks[(layer.name, node.index, i)] = mask


def _operation(writer: _Writer, node, ins: list[str], outs: list[str]) -> None:
    """The Keras 3 op nodes of mask computations (layers/ops.py): scalar arguments come after the tensors."""
    layer, kind, config = node.layer, node.layer.class_name[4:], node.layer.config
    args = ins + [repr(v) for v in node.options.get("scalars", [])]
    writer.op_outputs.update((layer.name, node.index, i) for i in range(len(outs)))
    if kind in ("NotEqual", "LogicalOr", "LogicalAnd"):
        function = {"NotEqual": "np.not_equal", "LogicalOr": "np.logical_or", "LogicalAnd": "np.logical_and"}[kind]
        expression = f"{function}({args[0]}, {args[1]})"
    elif kind in ("Any", "All"):
        axis = config["axis"]
        axis = tuple(axis) if isinstance(axis, list) else axis
        expression = f"np.{kind.lower()}({args[0]}, axis={axis!r}, keepdims={config['keepdims']})"
    elif kind == "ExpandDims":
        expression = f"np.expand_dims({args[0]}, {config['axis']!r})"
    elif kind in ("ZerosLike", "OnesLike", "ConvertToTensor"):
        dtype = config["dtype"]
        dtype = f"{args[0]}.dtype" if dtype is None else ("bool" if dtype == "bool" else f"np.{dtype}")
        if kind == "ConvertToTensor":
            expression = args[0] if config["dtype"] is None else f"{args[0]}.astype({dtype}, copy=False)"
        else:
            expression = f"np.{'zeros' if kind == 'ZerosLike' else 'ones'}({args[0]}.shape, {dtype})"
    elif kind == "Concatenate":
        expression = f"np.concatenate([{', '.join(args)}], axis={config['axis']!r})"
    else:
        raise _refuse(layer, "this Keras operation is not exported")
    writer.lines.append(f"    {outs[0]} = {expression}")


def _index_text(key: tuple) -> str:
    """A NumPy index tuple written as Python subscript text: (slice(None), -1) -> ':, -1'."""
    parts = []
    for item in key:
        if item is None:
            parts.append("None")
        elif item is Ellipsis:
            parts.append("...")
        elif isinstance(item, slice):
            text = ":".join("" if v is None else str(v) for v in (item.start, item.stop))
            parts.append(text + ("" if item.step is None else f":{item.step}"))
        else:
            parts.append(str(item))
    return ", ".join(parts) if parts else "()"


def _size_text(entry, ins: list[str]) -> str:
    """A Reshape / Full shape entry: a size, or {"dim": [k, axis]}: input k's size on `axis` at run time."""
    if isinstance(entry, dict):
        k, axis = entry["dim"]
        return f"{ins[k]}.shape[{axis}]"
    return str(entry)


def _tensor_op(writer: _Writer, node, ins: list[str], outs: list[str]) -> None:
    """The whole-tensor operations of models converted from PyTorch (layers/tensor_ops.py): a
    NumPy line each, computing what the layer's compute() does (its axes count the batch)."""
    layer, kind, config = node.layer, node.layer.class_name[len("tensor."):], node.layer.config
    refs = [tuple(r) for r in node.call.inputs]
    a = ins[0] if ins else None
    dtype = f"np.{writer.model.dtype.name}"
    # the output holds integers when the op passes on an integer input (the others read them cast to floats)
    integer = layer.ACCEPTS_INTEGERS and bool(refs) and refs[0] in writer.integers
    if kind == "Transpose":
        expression = f"np.ascontiguousarray({a}.transpose({tuple(config['perm'])}))"
    elif kind in ("Reshape", "Full"):
        shape = "(" + ", ".join(_size_text(e, ins) for e in config["shape"]) + ("," if len(config["shape"]) == 1 else "") + ")"
        if kind == "Full":
            expression, integer = f"np.full({shape}, {config['value']!r}, {dtype})", False
        elif any(e == -1 and d is not None for e, d in zip(config["shape"], layer.assumed)):
            # the size of -1 was worked out when the model was built: checked on every call, as npinfer does
            expression = f"{writer.use('checked_reshape')}({a}, {shape}, {tuple(layer.assumed)})"
        else:
            expression = f"{a}.reshape({shape})"
    elif kind == "Flatten":
        if len(layer.input_shapes[0]) == 0:
            expression = f"{a}.reshape(1)"
        else:
            start, end = layer.axes
            expression = f"{a}.reshape({a}.shape[:{start}] + (-1,) + {a}.shape[{end + 1}:])"
    elif kind == "Squeeze":  # np.squeeze refuses an axis whose size is not 1, as npinfer does
        expression = f"np.squeeze({a}, axis={tuple(layer.axes)})"
    elif kind == "Unsqueeze":
        expression = f"np.expand_dims({a}, {tuple(layer.axes)})"
    elif kind == "Index":
        expression = f"np.ascontiguousarray({a}[{_index_text(layer.key)}])"
    elif kind in ("Concat", "Stack"):
        parts = list(ins)
        if len({r in writer.integers for r in refs}) > 1:  # integers joined with floats are cast first, as npinfer does
            parts = [f"{v}.astype({dtype})" if r in writer.integers else v for v, r in zip(ins, refs)]
            integer = False
        function = "np.concatenate" if kind == "Concat" else "np.stack"
        expression = f"{function}([{', '.join(parts)}], axis={config['axis']})"
    elif kind == "Binary":
        operands = list(ins)
        if config["operand"] is True:
            operands.append(_weight(layer, "operand"))
        elif config["scalar"] is not None:
            operands.append(f"{dtype}({config['scalar']!r})")
        if config["swap"]:
            operands.reverse()
        op = config["op"]
        symbol = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "**"}.get(op)
        expression = f"{operands[0]} {symbol} {operands[1]}" if symbol else f"np.{op}({operands[0]}, {operands[1]})"
    elif kind == "Unary":
        op = config["op"]
        if op == "erf":
            for helper in ("_erf_series", "_erfc_fraction", "erf"):  # npinfer's erf (layers/special.py)
                writer._helper(helper)
            expression = f"erf({a})"
        else:
            expression = f"-{a}" if op == "neg" else f"np.{op}({a})"
    elif kind == "Reduce":
        expression = f"np.asarray(np.{config['op']}({a}, axis={layer.axes}, keepdims={config['keepdims']}))"
    elif kind == "MatMul":
        b = ins[1] if len(ins) == 2 else _weight(layer, "operand")
        expression = f"{a} @ {b}"
    elif kind == "Pad":
        expression = f"np.pad({a}, {[tuple(p) for p in layer.pads]}, constant_values={config['value']!r})"
    elif kind == "Softmax":
        expression = f"{writer.use('softmax_over')}({a}, {layer.axis!r}, log={config['log']})"
    elif kind == "Take":
        expression = f"np.take({a}, np.array({layer.indices.tolist()}, np.int64), axis={layer.axis})"
    elif kind == "Cast":
        integer = layer.target == "int64"
        expression = f"{writer.use('truncate_to_int64')}({a})" if integer else f"{a}.astype({dtype})"
    else:
        raise _refuse(layer, "this tensor operation is not exported")
    if integer:
        writer.integers.add((layer.name, node.index, 0))
    writer.lines.append(f"    {outs[0]} = {expression}")


def _attention(writer: _Writer, node, ins: list[str], outs: list[str], masks: list) -> None:
    """Attention, AdditiveAttention, MultiHeadAttention: inputs [query, value(, key)]; the call
    options use_causal_mask and return_attention_scores (then a second output, the weights)."""
    layer, config, kind = node.layer, node.layer.config, node.layer.class_name
    query, value = ins[0], ins[1]
    key = ins[2] if len(ins) == 3 else value
    causal = bool(node.options.get("use_causal_mask", False))
    returns_scores = bool(node.options.get("return_attention_scores", False))
    if len(outs) != 1 + returns_scores:
        raise _refuse(layer, f"{len(outs)} outputs where {1 + returns_scores} were expected")
    writer._helper("softmax")  # the copied functions call npinfer's softmax
    mask = [masks[i] if i < len(masks) else None for i in range(3)]  # of query, value, key
    if kind == "MultiHeadAttention":
        masked = "".join(f", {name}_mask={m}" for name, m in zip(("query", "value", "key"), mask[:len(ins)]) if m is not None)
    else:
        masked = "".join(f", {name}_mask={m}" for name, m in zip(("query", "value"), mask) if m is not None)
    if kind == "Attention":
        mode = config.get("score_mode", "dot")
        if mode not in ("dot", "concat"):
            raise _refuse(layer, f"score_mode {mode!r}")
        call = (f"{writer.use('attention')}({query}, {value}, {key}, scale={_weight(layer, 'scale')}, "
                f"concat_score_weight={_weight(layer, 'concat_score_weight')}, score_mode={mode!r}, causal={causal}{masked})")
    elif kind == "AdditiveAttention":
        call = (f"{writer.use('additive_attention')}({query}, {value}, {key}, scale={_weight(layer, 'scale')}, "
                f"causal={causal}{masked})")
    else:
        semantics = config["semantics"]
        if semantics not in ("keras2", "keras3"):
            raise _refuse(layer, f"semantics {semantics!r}")
        kernels = ", ".join(f"{_weight(layer, part + '/kernel')}, {_weight(layer, part + '/bias')}"
                            for part in ("query", "key", "value", "output"))
        call = (f"{writer.use('multi_head_attention')}({query}, {value}, {key}, {kernels}, causal={causal}, "
                f"return_scores={returns_scores}, semantics={semantics!r}{masked})")
    writer.lines.append(f"    {outs[0]}, {outs[1] if returns_scores else '_'} = {call}")


def _drop_unused(lines: list[str], outputs: list[str]) -> list[str]:
    """Unpacked layer outputs that nothing reads (such as an encoder's sequence when only its
    states are used) become `_`, so the script stays lint-clean."""
    counts = collections.Counter(re.findall(r"\bv_\w+", "\n".join(lines + outputs)))
    result = []
    for line in lines:
        target, sep, value = line.partition(" = ")
        if sep and "," in target and not target.lstrip().startswith("#"):
            target = re.sub(r"\bv_\w+", lambda m: m.group(0) if counts[m.group(0)] > 1 else "_", target)
        result.append(target + sep + value)
    return result


def _drop_unused_masks(lines: list[str], outputs: list[str]) -> list[str]:
    """Mask lines that nothing reads (an output's mask, a mask an explicit one replaces) go."""
    while True:
        code = [line.split("  #")[0] for line in lines if not line.lstrip().startswith("#")]
        counts = collections.Counter(re.findall(r"\bm_\w+", "\n".join(code + outputs)))
        unused = {i for i, line in enumerate(lines) if re.fullmatch(r"    (m_\w+) = .*", line)
                  and counts[line.split(" = ")[0].strip()] == 1}
        if not unused:
            return lines
        lines = [line for i, line in enumerate(lines) if i not in unused]


def _source(fn) -> str:
    return textwrap.dedent(inspect.getsource(fn))


def script_text(model, source_name: str, weights_mode: str, weights_file: str) -> tuple[str, bytes]:
    """(the script's text, the compressed .npz bytes of its weights)."""
    from . import __version__

    writer = _Writer(model)
    for i, ref in enumerate(model.spec.inputs):
        writer.names[tuple(ref)] = f"inputs[{i}]"
        if "int" in model.inputs[i].dtype:
            writer.integers.add(tuple(ref))
    for node in model._graph.nodes:
        _layer_code(writer, node)
    outputs = [writer.tensor(r) for r in model.spec.outputs]
    writer.lines = _drop_unused(_drop_unused_masks(writer.lines, outputs), outputs)
    weights = {f"{layer.name}/{key}": array for layer in model.layers for key, array in layer.weights.items()}
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **weights)
    packed = buffer.getvalue()
    modules = {"argparse", "csv", "sys"} | ({"base64", "io", "zlib"} if weights_mode == "embedded" else {"os"})
    if "erf" in writer.helpers or any("gelu" in key for key in writer.activations):
        modules.add("math")
    imports = "".join(f"import {m}\n" for m in sorted(modules)) + "\nimport numpy as np\n"
    parts = [
        _constants(),
        "\n\n".join(_source(_helper_function(name)) for name in writer.helpers),
        "\n\n".join(entry[1] for entry in writer.activations.values()),
        "\n\n".join(_source(getattr(export_lib, name)) for name in _with_dependencies(writer.functions)),
        "\n\n".join(writer.custom.values()),
        _weights_loader(weights_mode, weights_file, packed),
        f"W = load_weights()\nDTYPE = np.{model.dtype.name}\nINPUT_SHAPES = {[t.shape for t in model.inputs]}\n"
        f"INTEGER_INPUTS = {[i for i, t in enumerate(model.inputs) if 'int' in t.dtype]}\n"
        f"BATCH_AXES = {list(model.batch_axes)}  # each input's batch axis (1: time-major, (time, batch, ...))\n",
        _predict_source(model, writer.lines, outputs),
        MAIN_SOURCE,
    ]
    code = "\n\n".join(p.rstrip() + "\n" for p in parts if p.strip())
    return _docstring(model, source_name, weights_mode, weights_file, __version__) + "\n" + imports + "\n" + code, packed


def _docstring(model, source_name, weights_mode, weights_file, version) -> str:
    source = model.spec.source or {}
    origin = " ".join(str(source[k]) for k in ("framework", "version", "format") if source.get(k))
    example = ("python predict_model.py data.csv --look-back N [--target COLUMN] -o predictions.csv"
               if model.batch_first and any(len(t.shape) == 3 for t in model.inputs)
               else "python predict_model.py inputs.npy -o predictions.npy")
    stored = "embedded below (compressed, base64)" if weights_mode == "embedded" else f"in {weights_file} beside this file"
    return (f'"""Model \'{model.name}\' as plain NumPy, generated by npinfer {version} from {source_name} ({origin}).\n\n'
            f"Inputs: {', '.join(f'{t.name} {t.shape}' for t in model.inputs)}. "
            f"Outputs: {', '.join(f'{t.name} {t.shape}' for t in model.outputs)} "
            f"({'batch first' if model.batch_first else 'inputs ' + _layout(model)}; None: any size).\n"
            f"Needs only NumPy (not npinfer). Weights: {stored}; read with allow_pickle=False.\n\n"
            f"Run:          {example}\nFrom Python:  from predict_model import predict; y = predict(x)\n" + '"""\n')


def _constants() -> str:
    """Module constants the copied functions use, with the values npinfer uses."""
    from .layers import special

    return (f"KERAS3_HARD_SIGMOID_SLOPE = {activations.KERAS3_HARD_SIGMOID_SLOPE!r}\n"
            f"_SELU_ALPHA = {activations._SELU_ALPHA!r}\n_SELU_SCALE = {activations._SELU_SCALE!r}\n"
            f"_SERIES_TERMS, _FRACTION_DEPTH, _SERIES_LIMIT = {special._SERIES_TERMS}, {special._FRACTION_DEPTH}, "
            f"{special._SERIES_LIMIT}\n")


def _helper_function(name: str):
    return {"_erf_series": _erf_series, "_erfc_fraction": _erfc_fraction, "erf": erf}.get(name) or getattr(activations, name)


def _weights_loader(mode: str, weights_file: str, packed: bytes) -> str:
    if mode == "embedded":
        encoded = base64.b64encode(zlib.compress(packed, 9)).decode("ascii")
        chunks = "\n".join(f"    {encoded[i:i + 96]!r}" for i in range(0, len(encoded), 96))
        return (f"WEIGHTS_BASE64 = (\n{chunks}\n)\n\n\ndef load_weights():\n"
                "    data = zlib.decompress(base64.b64decode(WEIGHTS_BASE64))\n"
                "    with np.load(io.BytesIO(data), allow_pickle=False) as npz:\n        return {k: npz[k] for k in npz.files}\n")
    return ("def load_weights():\n    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "
            f"{weights_file!r})\n    with np.load(path, allow_pickle=False) as npz:\n        return {{k: npz[k] for k in npz.files}}\n")


DEPENDENCIES = {"masked_multiply": ["expanded_mask"], "masked_extreme": ["expanded_mask"], "depthwise_conv1d": ["conv1d"], "separable_conv1d": ["depthwise_conv1d", "dense"], "dot": ["l2_normalize"],
                "attend": ["causal_mask"], "attention": ["attend"], "additive_attention": ["attend"],
                "multi_head_attention": ["project_heads", "causal_mask"]}


def _with_dependencies(functions: list[str]) -> list[str]:
    """The export_lib functions to copy: those used and those they call, in a fixed order."""
    needed, pending = set(), list(functions)
    while pending:
        name = pending.pop()
        if name not in needed:
            needed.add(name)
            pending += DEPENDENCIES.get(name, [])
    order = ["dense", "rnn", "zeros_states", "simple_rnn_step", "lstm_step", "gru_step", "stacked_step", "merge",
             "expanded_mask", "masked_multiply", "masked_extreme", "concatenate_mask", "masked_mean", "embedding",
             "conv1d", "depthwise_conv1d", "separable_conv1d", "pool1d", "batch_normalization", "layer_normalization",
             "normalization", "l2_normalize", "dot", "causal_mask", "attend", "attention", "additive_attention",
             "project_heads", "multi_head_attention", "checked_reshape", "softmax_over", "truncate_to_int64"]
    missing = needed - set(order)
    if missing:
        raise AssertionError(f"export_lib functions missing from the copy order: {sorted(missing)}")
    return [name for name in order if name in needed]


def _layout(model) -> str:
    """Where the inputs' batch is: 'batch first', or which inputs are time-major."""
    if model.batch_first:
        return "batch first"
    if len(model.inputs) == 1:
        return "time-major: (time, batch, ...)"
    return "batch first but the time-major inputs " + ", ".join(str(i) for i, a in enumerate(model.batch_axes) if a == 1)


def _predict_source(model, body: list[str], outputs: list[str]) -> str:
    result = outputs[0] if len(outputs) == 1 else "[" + ", ".join(outputs) + "]"
    # INPUT_SHAPES has None on each input's batch axis (npinfer's InputLayer), so every axis is checked
    return (
        "def predict(*x):\n"
        f'    """The model\'s output(s) for input array(s) x ({_layout(model)}); several inputs in order."""\n'
        "    inputs = [np.asarray(a, np.int64 if i in INTEGER_INPUTS else DTYPE) for i, a in enumerate(x)]\n"
        f"    if len(inputs) != {len(model.inputs)}:\n"
        f"        raise ValueError('the model takes {len(model.inputs)} input(s), got ' + str(len(inputs)))\n"
        "    for i, (a, shape) in enumerate(zip(inputs, INPUT_SHAPES)):\n"
        "        if a.ndim != len(shape) or any(s is not None and s != g for s, g in zip(shape, a.shape)):\n"
        "            raise ValueError(f'input {i} expects shape {shape}, got {a.shape}')\n"
        + ("    if len({a.shape[axis] for a, axis in zip(inputs, BATCH_AXES)}) > 1:\n"
           "        raise ValueError('all inputs need the same batch size')\n" if len(model.inputs) > 1 else "")
        + "\n".join(body) + f"\n    return {result}\n"
    )


MAIN_SOURCE = '''
def read_input(path, look_back=None, target=None):
    """A .npy array, or CSV rows (optional header); --look-back builds sliding windows as the article does."""
    if path.endswith(".npy"):
        return np.load(path, allow_pickle=False)
    with open(path, newline="") as handle:
        rows = [row for row in csv.reader(handle) if row]
    header = None
    try:
        [float(v) for v in rows[0]]
    except ValueError:
        header, rows = rows[0], rows[1:]
    values = np.array([[float(v) for v in row] for row in rows])
    if target is not None:
        column = header.index(target) if header else int(target)
        values = np.delete(values, column, axis=1)
    if look_back:
        values = np.stack([values[i : i + look_back] for i in range(len(values) - look_back + 1)])
    return values


def write_output(path, y):
    if path and path.endswith(".npy"):
        np.save(path, y)
        return
    text = "\\n".join(",".join(f"{v:.9g}" for v in row) for row in np.asarray(y).reshape(len(y), -1)) + "\\n"
    if path:
        with open(path, "w") as handle:
            handle.write(text)
    else:
        sys.stdout.write(text)


def main():
    parser = argparse.ArgumentParser(description="Predict with this model (NumPy only).")
    parser.add_argument("input", help=".npy or .csv")
    parser.add_argument("-o", "--output", help=".npy or .csv (default: CSV on stdout)")
    parser.add_argument("--look-back", type=int, help="CSV: sliding windows of N rows")
    parser.add_argument("--target", help="CSV: a column to leave out (name, or position without a header)")
    args = parser.parse_args()
    if args.look_back and any(BATCH_AXES):
        parser.error("--look-back builds batch-first windows, but this model takes time-major input; give a .npy array")
    y = predict(read_input(args.input, args.look_back, args.target))
    for i, output in enumerate(y if isinstance(y, list) else [y]):
        write_output(args.output if i == 0 else (args.output or "") + f".{i}", output)


if __name__ == "__main__":
    main()
'''


def export_script(model, path: str, weights: str = "embedded", source_name: str = "model") -> list[str]:
    """Write the standalone script (and its sidecar weights with weights='sidecar'); return the files written."""
    if weights not in ("embedded", "sidecar"):
        raise ValueError("weights must be 'embedded' or 'sidecar'")
    weights_file = os.path.splitext(os.path.basename(path))[0] + ".npz"
    text, packed = script_text(model, source_name, weights, weights_file)
    written = []
    if weights == "sidecar":
        sidecar = os.path.join(os.path.dirname(os.path.abspath(path)), weights_file)
        with atomic_write(sidecar) as handle:
            handle.write(packed)
        written.append(sidecar)
    with atomic_write(path) as handle:
        handle.write(text.encode("utf-8"))
    return [path] + written
