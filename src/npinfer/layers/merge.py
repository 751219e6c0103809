"""Merge layers: several inputs in, one output."""

from __future__ import annotations

import numpy as np

from ..errors import ModelFormatError
from .base import Layer, Shape, format_shape


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


class Add(Layer):
    """Sum of all inputs."""

    def build(self, input_shapes):
        self.expect_inputs(input_shapes, count=None)
        if len(input_shapes) < 2:
            raise ModelFormatError(f"layer '{self.name}' (Add) needs at least 2 inputs, got {len(input_shapes)}")
        return [broadcast_shapes(self, input_shapes)]

    def call(self, inputs, ctx):
        total = inputs[0] + inputs[1]
        for x in inputs[2:]:
            total += x
        return [total]


class Concatenate(Layer):
    """Inputs joined along `axis` (batch is axis 0)."""

    OPTIONS = {"axis": -1}

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
        axis %= rank
        self.axis = axis
        out = []
        for i in range(rank):
            dims = [s[i] for s in input_shapes]
            if i == axis:
                out.append(None if None in dims else sum(dims))
            else:
                known = {d for d in dims if d is not None}
                if len(known) > 1:
                    raise ModelFormatError(
                        f"layer '{self.name}' (Concatenate) cannot join {', '.join(map(format_shape, input_shapes))} on axis {axis}"
                    )
                out.append(known.pop() if known else None)
        out[0] = None
        return [tuple(out)]

    def call(self, inputs, ctx):
        return [np.concatenate(inputs, axis=self.axis)]
