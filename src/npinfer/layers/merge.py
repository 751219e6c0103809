"""Merge layers: several inputs in, one output. Masks combine as in Keras: element-wise merges
AND their inputs' masks; Concatenate joins them along the concatenation axis."""

from __future__ import annotations

import numpy as np

from ..errors import ModelFormatError
from ..export_lib import concatenate_mask, masked_extreme, masked_multiply  # one implementation: runtime and exported scripts
from .base import Layer, Shape, format_shape, require_bool


def broadcast_shapes(layer: Layer, shapes: list[Shape]) -> Shape:
    """Element-wise result shape of `shapes` (NumPy broadcasting; None is unknown)."""
    rank = max(len(s) for s in shapes)
    out = []
    for axis in range(rank):
        dims = {s[axis - rank + len(s)] for s in shapes if axis - rank + len(s) >= 0} - {1}
        known = dims - {None}
        if len(known) > 1:
            raise ModelFormatError(
                f"layer '{layer.name}' ({layer.class_name}) cannot combine shapes {', '.join(map(format_shape, shapes))}"
            )
        out.append(known.pop() if known else (None if None in dims else 1))
    return (None,) + tuple(out[1:])


SEMANTICS = ("keras3", "keras2")


def check_semantics(layer: Layer) -> str:
    value = layer.config["semantics"]
    if value not in SEMANTICS:
        raise layer.refuse("semantics", value, ", ".join(SEMANTICS))
    return value


class ElementwiseMerge(Layer):
    """Add, Subtract, Multiply, Average, Maximum, Minimum.

    Masks: Keras 2 ANDs the masks that exist and computes on the raw values. Keras 3 ORs
    them (no mask unless every input has one), and Multiply / Maximum / Minimum skip masked
    values (Multiply treats them as 1; Maximum / Minimum never let them win)."""

    OPTIONS = {"semantics": "keras3"}
    TIME_LOCAL = True
    REDUCE = {
        "Add": np.add, "Multiply": np.multiply, "Maximum": np.maximum, "Minimum": np.minimum, "Average": np.add,
    }

    def build(self, input_shapes):
        self.expect_inputs(input_shapes, count=None)
        check_semantics(self)
        if self.class_name == "Subtract" and len(input_shapes) != 2:
            raise ModelFormatError(f"layer '{self.name}' (Subtract) needs exactly 2 inputs, got {len(input_shapes)}")
        if len(input_shapes) < 2:
            raise ModelFormatError(f"layer '{self.name}' ({self.class_name}) needs at least 2 inputs, got {len(input_shapes)}")
        return [broadcast_shapes(self, input_shapes)]

    def call(self, inputs, ctx):
        masks = ctx.masks if ctx.masks and any(m is not None for m in ctx.masks) else None
        if masks is not None and self.config["semantics"] == "keras3":
            if self.class_name == "Multiply":
                return [masked_multiply(inputs, masks)]  # keras/src/layers/merging/multiply.py
            if self.class_name in ("Maximum", "Minimum"):
                return [masked_extreme(inputs, masks, np.maximum if self.class_name == "Maximum" else np.minimum)]  # base_merge.py
        if self.class_name == "Subtract":
            return [inputs[0] - inputs[1]]
        reduce = self.REDUCE[self.class_name]
        total = reduce(inputs[0], inputs[1])
        for x in inputs[2:]:
            total = reduce(total, x)
        if self.class_name == "Average":
            total = total / np.asarray(len(inputs), total.dtype)
        return [total]

    def compute_masks(self, inputs, ctx, outputs):
        masks = list(ctx.masks)
        present = [m for m in masks if m is not None]
        if not present:
            return [None]
        if self.config["semantics"] == "keras3":
            if len(present) != len(masks):
                return [None]
            return [np.logical_or.reduce(present)]
        return [np.logical_and.reduce(present)]


class Concatenate(Layer):
    """Inputs joined along `axis` (batch is axis 0)."""

    OPTIONS = {"axis": -1, "semantics": "keras3"}

    def build(self, input_shapes):
        self.expect_inputs(input_shapes, count=None)
        axis = self.config["axis"]
        rank = len(input_shapes[0])
        if len(input_shapes) < 2 or any(len(s) != rank for s in input_shapes):
            raise ModelFormatError(
                f"layer '{self.name}' (Concatenate) needs 2 or more inputs of one rank, got {', '.join(map(format_shape, input_shapes))}"
            )
        if isinstance(axis, bool) or not isinstance(axis, int) or not -rank <= axis < rank or axis % rank == 0:
            raise self.refuse("axis", axis, f"a non-batch axis of a rank-{rank} input")
        check_semantics(self)
        self.axis = axis % rank
        self.TIME_LOCAL = self.axis == rank - 1
        out = []
        for i in range(rank):
            dims = [s[i] for s in input_shapes]
            if i == self.axis:
                out.append(None if None in dims else sum(dims))
            else:
                known = {d for d in dims if d is not None}
                if len(known) > 1:
                    raise ModelFormatError(
                        f"layer '{self.name}' (Concatenate) cannot join {', '.join(map(format_shape, input_shapes))} on axis {self.axis}"
                    )
                out.append(known.pop() if known else None)
        out[0] = None
        return [tuple(out)]

    def call(self, inputs, ctx):
        return [np.concatenate(inputs, axis=self.axis)]

    def compute_masks(self, inputs, ctx, outputs):
        # Keras: a missing mask counts as all-true; a mask is expanded to its input's shape,
        # the masks are joined on the axis, then reduced over the last axis: with `any` in
        # Keras 3, `all` in Keras 2.
        if all(m is None for m in ctx.masks):
            return [None]
        return [concatenate_mask(inputs, ctx.masks, self.axis, self.config["semantics"])]


class Dot(Layer):
    """Dot product of two inputs along `axes` (batched), optionally L2-normalized first."""

    OPTIONS = {"axes": -1, "normalize": False, "semantics": "keras3"}
    MASKING = "drop"

    def build(self, input_shapes):
        self.expect_inputs(input_shapes, count=2, min_rank=2)
        require_bool(self, "normalize")
        check_semantics(self)
        axes = self.config["axes"]
        axes = [axes, axes] if isinstance(axes, int) and not isinstance(axes, bool) else axes
        a, b = input_shapes
        if not (isinstance(axes, list) and len(axes) == 2 and all(isinstance(x, int) and not isinstance(x, bool) for x in axes)):
            raise self.refuse("axes", self.config["axes"], "an integer or a pair of integers")
        self.axes = [axes[0] % len(a), axes[1] % len(b)]
        if 0 in self.axes or (a[self.axes[0]] is not None and b[self.axes[1]] is not None and a[self.axes[0]] != b[self.axes[1]]):
            raise ModelFormatError(f"layer '{self.name}' (Dot) cannot contract {format_shape(a)} and {format_shape(b)} on axes {self.axes}")
        out = [d for i, d in enumerate(a) if i != self.axes[0]] + [d for i, d in enumerate(b) if i not in (0, self.axes[1])]
        return [tuple(out) if len(out) > 1 else (None, 1)]

    def call(self, inputs, ctx):
        a, b = inputs
        if self.config["normalize"]:
            a, b = (l2_normalize(x, ax, self.config["semantics"], keras3_epsilon=1e-7) for x, ax in zip((a, b), self.axes))
        a = np.moveaxis(a, self.axes[0], -1)  # (batch, ..., k)
        b = np.moveaxis(b, self.axes[1], 1)  # (batch, k, ...)
        batch = a.shape[0]
        result = np.matmul(a.reshape(batch, -1, a.shape[-1]), b.reshape(batch, b.shape[1], -1))  # (batch, m, n)
        shape = a.shape[1:-1] + b.shape[2:]
        return [result.reshape((batch,) + shape) if shape else result.reshape(batch, 1)]


def l2_normalize(x, axis, semantics: str, keras3_epsilon: float):
    """x / ||x|| over `axis`: Keras 3 caps 1/||x|| at 1/epsilon; Keras 2 (tf.linalg.l2_normalize)
    floors ||x||^2 at 1e-12."""
    squares = np.sum(x * x, axis=axis, keepdims=True)
    if semantics == "keras3":
        with np.errstate(divide="ignore"):
            return x * np.minimum(1.0 / np.sqrt(squares), np.asarray(1.0 / keras3_epsilon, x.dtype))
    return x / np.sqrt(np.maximum(squares, np.asarray(1e-12, x.dtype)))
