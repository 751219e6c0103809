"""Constants and lists of sizes in an ONNX graph (Constant, Shape, ConstantOfShape, Cast,
Expand, Identity, Dropout): what is known while loading is folded here; a list of sizes keeps
"axis k of tensor t" entries for the layers that read it (tensor.Reshape / Full entries).
"""

from __future__ import annotations

import numpy as np

from .toolkit.layout import dim_entry
from .toolkit.values import DimRef, Sizes, Tensor, Uniform, as_sizes


def op_constant(c, args, attrs):
    for key in ("value", "value_float", "value_int", "value_floats", "value_ints"):
        if key in attrs:
            value = attrs[key]
            if key == "value":
                return [value.array]
            return [np.array(value, np.float32 if "float" in key else np.int64)]
    raise c.refuse(f"a Constant holding {sorted(attrs)} is not supported (numbers only)")


def op_shape(c, args, attrs):
    x = args[0]
    if isinstance(x, np.ndarray):
        return [np.array(x.shape, np.int64)]
    x = c.tensor(x, "the input of Shape")
    entries = tuple(d if d is not None else DimRef(x, i) for i, d in enumerate(x.shape))
    start, end = attrs.get("start", 0), attrs.get("end", len(entries))
    return [Sizes(entries[slice(start, end)])]


def op_constant_of_shape(c, args, attrs):
    value = attrs.get("value")
    fill = value.array.ravel()[0] if value is not None else np.float32(0)
    shape = as_sizes(args[0])
    if shape is None:
        raise c.refuse("the shape must be a constant or come from Shape")
    if shape.constant() is not None:
        c.admit(np.ravel(shape.constant()), np.asarray(fill).dtype)
        return [np.full(shape.constant(), fill)]
    entries, inputs = reshape_entries(shape.entries, [])
    if not inputs:
        raise c.refuse("a shape with no known tensor size")
    return [c.one("tensor.Full", {"shape": entries, "value": float(fill)}, inputs)]


def reshape_entries(entries, inputs: list[Tensor]):
    """tensor.Reshape entries (sizes, or {"dim": [k, axis]} of inputs[k]) for a Sizes list."""
    out = []
    for e in entries:
        out.append(dim_entry(e, inputs) if isinstance(e, DimRef) else int(e))
    return out, inputs


def op_identity(c, args, attrs):
    return [args[0]]


def op_dropout(c, args, attrs):
    return [args[0], None]  # inference: no dropout; the mask output is not computed


def op_cast(c, args, attrs):
    to = attrs.get("to")
    x = args[0]
    if isinstance(x, (Sizes, Uniform)):
        return [x]
    if isinstance(x, np.ndarray):
        from .onnx_proto import DTYPES

        if to not in DTYPES:
            raise c.refuse(f"cast to type {to} is not supported")
        return [x.astype(DTYPES[to])]
    x = c.tensor(x)
    if to == 1:
        return [c.one("tensor.Cast", {"to": "float"}, [x])]
    if to in (6, 7):
        return [c.one("tensor.Cast", {"to": "int64"}, [x])]
    names = {10: "float16", 11: "double", 9: "bool"}
    raise c.refuse(f"a cast of a computed tensor to {names.get(to, f'type {to}')} is not supported (npinfer computes "
                   "ONNX graphs in float32 and would not round or widen it as ONNX does); supported: float, int32, int64")


def op_expand(c, args, attrs):
    data, shape = args
    shape = as_sizes(shape)
    if shape is None:
        raise c.refuse("the shape must be a constant or come from Shape")
    if isinstance(data, Sizes) and len(data.entries) == 1:
        return [Uniform(data.entries[0], shape)]
    if isinstance(data, np.ndarray) and shape.constant() is not None:
        c.admit(np.broadcast_shapes(data.shape, tuple(int(d) for d in np.ravel(shape.constant()))), data.dtype)
        return [data * np.ones(shape.constant(), data.dtype)]
    if isinstance(data, np.ndarray) and data.size and np.all(data == data.ravel()[0]):
        entries, inputs = reshape_entries(shape.entries, [])
        if inputs and len(entries) >= data.ndim:
            return [c.one("tensor.Full", {"shape": entries, "value": float(data.ravel()[0])}, inputs)]
    x = c.tensor(data, "the data of Expand")
    entries, inputs = reshape_entries(shape.entries, [])
    if not inputs:
        c.admit(np.ravel(shape.constant()), np.float32)
        ones = np.ones(shape.constant(), np.float32)
        return [c.one("tensor.Binary", {"op": "mul", "operand": True}, [x], {"operand": ones})]
    ones = c.one("tensor.Full", {"shape": entries, "value": 1.0}, inputs, base="ones")
    return [c.one("tensor.Binary", {"op": "mul"}, [x, ones])]


OPERATORS = {
    "Constant": op_constant, "Shape": op_shape, "ConstantOfShape": op_constant_of_shape, "Identity": op_identity,
    "Dropout": op_dropout, "Cast": op_cast, "Expand": op_expand,
}
