"""ONNX shape operators (Transpose, Reshape, Flatten, Squeeze, Unsqueeze, Concat, Gather,
Slice, Pad, ReverseSequence): on constants and size lists computed here, on tensors the
tensor.* layers.
"""

from __future__ import annotations

import numpy as np

from ..layers.tensor_ops import MAX_SIZE
from .onnx_layers_sizes import reshape_entries
from .toolkit import emit
from .toolkit.layout import on_axis
from .toolkit.values import DimRef, Sizes, Tensor, Uniform, as_sizes, text


def axes_input(c, args, attrs, position: int) -> list[int] | None:
    """Axes given as an attribute (older opsets) or as input `position` (newer)."""
    if "axes" in attrs:
        return [int(a) for a in attrs["axes"]]
    if len(args) > position and args[position] is not None:
        return [int(a) for a in np.ravel(c.constant(args[position], "axes"))]
    return None


def op_transpose(c, args, attrs):
    if isinstance(args[0], np.ndarray):
        return [np.transpose(args[0], attrs.get("perm"))]
    x = c.tensor(args[0])
    perm = attrs.get("perm") or list(range(len(x.shape)))[::-1]
    return [c.one("tensor.Transpose", {"perm": [int(p) for p in perm]}, [x])]


def op_reshape(c, args, attrs):
    data, shape = args[0], as_sizes(args[1])
    if shape is None:
        raise c.refuse("the target shape must be a constant or come from Shape")
    if attrs.get("allowzero", 0) and 0 in shape.entries:
        raise c.refuse("allowzero=1 with a zero size is not supported")
    if isinstance(data, np.ndarray) and shape.constant() is not None:
        target = [data.shape[i] if v == 0 else v for i, v in enumerate(shape.constant().tolist())]
        return [data.reshape(target)]
    if isinstance(data, Sizes) and shape.constant() is not None:
        return [Sizes(data.entries, scalar=shape.constant().size == 0) if shape.constant().size <= 1 else data]
    x = c.tensor(data)
    # ONNX: 0 copies the input's size on that axis
    entries = [DimRef(x, i) if (isinstance(e, (int, np.integer)) and e == 0) else e for i, e in enumerate(shape.entries)]
    entries = [x.shape[e.axis] if isinstance(e, DimRef) and e.tensor == x and x.shape[e.axis] is not None else e for e in entries]
    config, inputs = reshape_entries(entries, [x])
    return [c.one("tensor.Reshape", {"shape": config}, inputs)]


def op_flatten(c, args, attrs):
    x = c.tensor(args[0])
    rank = len(x.shape)
    axis = attrs.get("axis", 1)
    axis = axis + rank if axis < 0 else axis
    if axis == 0:
        x = c.one("tensor.Flatten", {"start": 0, "end": -1}, [x])
        return [c.one("tensor.Unsqueeze", {"axes": [0]}, [x], base="outer")]
    if axis > 1:
        x = c.one("tensor.Flatten", {"start": 0, "end": axis - 1}, [x], base="outer")
    if axis < rank:
        x = c.one("tensor.Flatten", {"start": 1, "end": -1}, [x])
    else:
        x = c.one("tensor.Unsqueeze", {"axes": [1]}, [x])
    return [x]


def op_squeeze(c, args, attrs):
    axes = axes_input(c, args, attrs, 1)
    x = args[0]
    if isinstance(x, np.ndarray):
        return [np.squeeze(x, axis=tuple(axes) if axes is not None else None)]
    if isinstance(x, Sizes):
        return [Sizes(x.entries, scalar=True) if len(x.entries) == 1 else x]
    x = c.tensor(x)
    if axes is None:
        axes = [i for i, d in enumerate(x.shape) if d == 1]
        if any(d is None for d in x.shape):
            raise c.refuse("Squeeze without axes on a tensor with unknown sizes is not supported")
    return [c.one("tensor.Squeeze", {"axes": axes}, [x])]


def op_unsqueeze(c, args, attrs):
    axes = axes_input(c, args, attrs, 1)
    x = args[0]
    if axes is None:
        raise c.refuse("Unsqueeze needs axes")
    if isinstance(x, np.ndarray):
        return [np.expand_dims(x, tuple(axes))]
    if isinstance(x, Sizes):
        if x.scalar and axes in ([0], [-1]):
            return [Sizes(x.entries)]
        raise c.refuse("Unsqueeze of a list of sizes is only supported from a scalar")
    return [c.one("tensor.Unsqueeze", {"axes": axes}, [c.tensor(x)])]


def op_concat(c, args, attrs):
    axis = attrs.get("axis")
    if axis is None:
        raise c.refuse("Concat needs axis")
    present = [a for a in args if a is not None]
    if all(isinstance(a, np.ndarray) for a in present):
        return [np.concatenate(present, axis=axis)]
    if all(as_sizes(a) is not None for a in present):  # size lists
        return [Sizes(tuple(e for a in present for e in as_sizes(a).entries))]
    tensors = [a for a in present if not (isinstance(a, np.ndarray) and a.size == 0)]
    return [c.one("tensor.Concat", {"axis": axis}, [c.tensor(t, "each input of Concat") for t in tensors])]


def op_gather(c, args, attrs):
    data, indices = args
    axis = attrs.get("axis", 0)
    if isinstance(data, np.ndarray) and isinstance(indices, np.ndarray):
        return [np.take(data, indices, axis=axis)]
    if isinstance(data, Sizes):
        picked = c.constant(indices, "the indices of Gather")
        entries = [data.entries[int(i)] for i in np.ravel(picked)]
        return [Sizes(tuple(entries), scalar=picked.ndim == 0)]
    if isinstance(data, np.ndarray) and isinstance(indices, Tensor):  # an embedding table
        if axis != 0 or data.ndim != 2:
            raise c.refuse("Gather from a constant is supported as an embedding lookup (2-D table, axis 0)")
        return [emit.embedding(c, indices, data)]
    x = c.tensor(data, "the data of Gather")
    picked = c.constant(indices, "the indices of Gather")
    if picked.ndim == 0:
        rank = len(x.shape)
        return [c.one("tensor.Index", {"items": on_axis(axis, rank, {"index": int(picked)})}, [x])]
    if picked.ndim == 1:
        return [c.one("tensor.Take", {"indices": [int(i) for i in picked], "axis": axis}, [x])]
    raise c.refuse("Gather with multi-dimensional indices is not supported")


def op_slice(c, args, attrs):
    data = args[0]
    if c.opset < 10:
        starts, ends, axes, steps = attrs.get("starts"), attrs.get("ends"), attrs.get("axes"), None
    else:
        starts = c.constant(args[1], "starts").tolist()
        ends = c.constant(args[2], "ends").tolist()
        axes = c.constant(args[3], "axes").tolist() if len(args) > 3 and args[3] is not None else None
        steps = c.constant(args[4], "steps").tolist() if len(args) > 4 and args[4] is not None else None
    rank = len(data.shape) if isinstance(data, (Tensor, np.ndarray)) else 1
    axes = axes if axes is not None else list(range(len(starts)))
    steps = steps if steps is not None else [1] * len(starts)
    key = [slice(None)] * rank
    for start, end, axis, step in zip(starts, ends, axes, steps):
        clamp = lambda v: max(min(int(v), MAX_SIZE), -MAX_SIZE)  # noqa: E731  (INT64 max / min mean "to the end")
        key[axis % rank] = slice(clamp(start), clamp(end), int(step))
    if isinstance(data, np.ndarray):
        return [data[tuple(key)]]
    if isinstance(data, Sizes):
        return [Sizes(tuple(data.entries[key[0]]))]
    items = [{"slice": [k.start, k.stop, k.step]} for k in key]
    return [c.one("tensor.Index", {"items": items}, [c.tensor(data)])]


def op_pad(c, args, attrs):
    mode = text(attrs.get("mode"), "constant")
    if mode != "constant":
        raise c.refuse(f"mode={mode!r} is not supported; supported: 'constant'")
    x = c.tensor(args[0])
    pads = attrs.get("pads") if c.opset < 11 else c.constant(args[1], "pads").tolist()
    value = attrs.get("value", 0.0) if c.opset < 11 else (float(c.constant(args[2], "constant_value")) if len(args) > 2 and args[2] is not None else 0.0)
    if len(args) > 3 and args[3] is not None:
        raise c.refuse("pads on chosen axes (the axes input) are not supported")
    rank = len(x.shape)
    if len(pads) != 2 * rank or any(p < 0 for p in pads):
        raise c.refuse(f"pads={pads} is not supported (non-negative, two per axis)")
    return [emit.pad(c, x, [[pads[i], pads[i + rank]] for i in range(rank)], value)]


def op_reverse_sequence(c, args, attrs):
    """ReverseSequence whose lengths are the whole time axis (how tf2onnx writes go_backwards):
    a reversal of that axis."""
    x = c.tensor(args[0])
    lengths = args[1]
    time_axis, batch_axis = attrs.get("time_axis", 0), attrs.get("batch_axis", 1)
    if {time_axis, batch_axis} != {0, 1}:  # the spec: one is 0, the other 1 (a full reversal needs no batch axis)
        raise ValueError(f"time_axis={time_axis} and batch_axis={batch_axis}; one must be 0, the other 1")
    entry = lengths.entry if isinstance(lengths, Uniform) else None
    if isinstance(lengths, np.ndarray) and lengths.size and np.all(lengths == lengths.ravel()[0]):
        entry = int(lengths.ravel()[0])
    full = entry is not None and ((isinstance(entry, DimRef) and entry.tensor == x and entry.axis == time_axis)
                                  or (isinstance(entry, (int, np.integer)) and entry == x.shape[time_axis]))
    if not full:
        raise c.refuse("sequence lengths shorter than the time axis are not supported")
    items = [{"slice": [None, None, None]}] * len(x.shape)
    items[time_axis] = {"slice": [None, None, -1]}
    return [c.one("tensor.Index", {"items": items}, [x])]


OPERATORS = {
    "Transpose": op_transpose, "Reshape": op_reshape, "Flatten": op_flatten, "Squeeze": op_squeeze,
    "Unsqueeze": op_unsqueeze, "Concat": op_concat, "Gather": op_gather, "Slice": op_slice, "Pad": op_pad,
    "ReverseSequence": op_reverse_sequence,
}
