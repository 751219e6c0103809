"""The few Keras operations that Keras 3 writes into functional model configs to compute masks
(`keras.src.ops.numpy` nodes: NotEqual, Any, All, LogicalOr, LogicalAnd, ExpandDims,
ZerosLike, OnesLike, ConvertToTensor, Concatenate). Registered as "ops.<Name>"; any other
operation is refused by name."""

from __future__ import annotations

import numpy as np

from .base import Layer, broadcast_shapes


class Operation(Layer):
    """A Keras op node: tensors as inputs; scalar positional arguments arrive as `scalars` and
    follow the tensors (the 0 of NotEqual(x, 0))."""

    CALL_OPTIONS = {"scalars": []}
    ACCEPTS_INTEGERS = True
    MASKING = "drop"
    TIME_LOCAL = True  # element-wise, or over the feature axis, in the mask computations Keras writes
    OPTIONS: dict = {}
    ARITY: int | None = 1

    def build_call(self, input_shapes, kwarg_shapes, options):
        self.scalars = options["scalars"]
        arity = self.ARITY
        if len(input_shapes) + len(self.scalars) != arity and arity is not None:
            raise self.refuse("arguments", f"{len(input_shapes)} tensors and {len(self.scalars)} scalars", f"{arity} arguments")
        if not all(isinstance(s, (int, float, bool)) for s in self.scalars):
            raise self.refuse("arguments", self.scalars, "numbers")
        return [self.shape(input_shapes)]

    def shape(self, shapes):
        return shapes[0]

    def arguments(self, get):
        return list(self.scalars)


class NotEqual(Operation):
    ARITY = 2
    FUNCTION = np.not_equal


class LogicalOr(Operation):
    ARITY = 2
    FUNCTION = np.logical_or

    def shape(self, shapes):
        return broadcast_shapes(self, shapes)


class LogicalAnd(LogicalOr):
    FUNCTION = np.logical_and


class Reduction(Operation):
    """Any / All over `axis` (None: everything), with keepdims."""

    OPTIONS = {"axis": None, "keepdims": False}

    def shape(self, shapes):
        shape, axis = list(shapes[0]), self.config["axis"]
        axes = range(len(shape)) if axis is None else [a % len(shape) for a in (axis if isinstance(axis, list) else [axis])]
        return tuple(1 if i in axes else d for i, d in enumerate(shape)) if self.config["keepdims"] else tuple(
            d for i, d in enumerate(shape) if i not in axes)

    def axis(self):
        axis = self.config["axis"]
        return tuple(axis) if isinstance(axis, list) else axis

    def call(self, inputs, ctx):
        reduce = np.any if self.class_name == "ops.Any" else np.all
        return [reduce(inputs[0], axis=self.axis(), keepdims=self.config["keepdims"])]

    def export(self, e):
        return [f"np.{self.class_name[4:].lower()}({e.input}, axis={self.axis()!r}, keepdims={bool(self.config['keepdims'])!r})"]


class ExpandDims(Operation):
    OPTIONS = {"axis": -1}
    FUNCTION = staticmethod(np.expand_dims)

    def shape(self, shapes):
        shape = list(shapes[0])
        axis = self.config["axis"] % (len(shape) + 1)
        return tuple(shape[:axis] + [1] + shape[axis:])

    def arguments(self, get):
        return [self.config["axis"]]


class Fill(Operation):
    """ZerosLike, OnesLike, ConvertToTensor (with an optional dtype)."""

    OPTIONS = {"dtype": None}
    DTYPES = {"bool": bool, "float32": np.float32, "float64": np.float64, "int32": np.int32, "int64": np.int64, None: None}

    def build_call(self, input_shapes, kwarg_shapes, options):
        if self.config["dtype"] not in self.DTYPES:
            raise self.refuse("dtype", self.config["dtype"], ", ".join(k for k in self.DTYPES if k))
        return super().build_call(input_shapes, kwarg_shapes, options)

    def call(self, inputs, ctx):
        x = inputs[0]
        dtype = self.DTYPES[self.config["dtype"]] or x.dtype
        if self.class_name == "ops.ZerosLike":
            return [np.zeros(x.shape, dtype)]
        if self.class_name == "ops.OnesLike":
            return [np.ones(x.shape, dtype)]
        return [x.astype(dtype, copy=False)]

    def export(self, e):
        x, dtype = e.input, self.config["dtype"]
        dtype = f"{x}.dtype" if dtype is None else ("bool" if dtype == "bool" else f"np.{dtype}")
        if self.class_name == "ops.ConvertToTensor":
            return [x if self.config["dtype"] is None else f"{x}.astype({dtype}, copy=False)"]
        return [f"np.{'zeros' if self.class_name == 'ops.ZerosLike' else 'ones'}({x}.shape, {dtype})"]


class ConcatenateOp(Operation):
    OPTIONS = {"axis": 0}
    ARITY = None

    def shape(self, shapes):
        axis = self.config["axis"] % len(shapes[0])
        out = list(shapes[0])
        out[axis] = None if any(s[axis] is None for s in shapes) else sum(s[axis] for s in shapes)
        return tuple(out)

    def call(self, inputs, ctx):
        return [np.concatenate(inputs, axis=self.config["axis"])]

    def export(self, e):
        return [f"np.concatenate([{', '.join(e.inputs)}], axis={self.config['axis']!r})"]


OPERATIONS = {
    "ops.NotEqual": NotEqual, "ops.LogicalOr": LogicalOr, "ops.LogicalAnd": LogicalAnd,
    "ops.Any": Reduction, "ops.All": Reduction, "ops.ExpandDims": ExpandDims,
    "ops.ZerosLike": Fill, "ops.OnesLike": Fill, "ops.ConvertToTensor": Fill, "ops.Concatenate": ConcatenateOp,
}
