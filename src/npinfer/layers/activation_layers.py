"""Activation layers with more than an activation function: PReLU (a learned slope per value)
and Softmax (a mask keeps positions out). ReLU, LeakyReLU, ELU, ThresholdedReLU import as
Activation (the importer gives them their canonical activation)."""

from __future__ import annotations

import numpy as np

from ..errors import InputShapeError
from .activations import softmax
from .base import Layer
from .merge import check_semantics

BIG = 1.0e9  # what Keras gives masked positions (-BIG)


def prelu(x, alpha):
    """max(x, 0) - alpha * max(-x, 0), alpha broadcast against x without its batch axis."""
    return np.maximum(x, 0) - alpha * np.maximum(-x, 0)


def masked_softmax(x, axis, mask=None, semantics="keras3"):
    """softmax over `axis`; where `mask` (broadcast against x) is false the position is left out:
    Keras 3 gives it -BIG before and zero after; Keras 2 adds (1 - mask) * -BIG before."""
    if mask is None:
        return softmax(x, axis=axis)
    if semantics == "keras3":
        keep = mask if mask.dtype == bool else mask > 0.5  # as Keras 3's Softmax
        return np.where(keep, softmax(np.where(keep, x, np.asarray(-BIG, x.dtype)), axis=axis), np.zeros((), x.dtype))
    return softmax(x + (1 - mask.astype(x.dtype)) * np.asarray(-BIG, x.dtype), axis=axis)


class PReLU(Layer):
    """y = max(x, 0) - alpha * max(-x, 0); alpha has the input's shape without the batch,
    with size 1 on `shared_axes`."""

    OPTIONS = {"shared_axes": None}
    TIME_LOCAL = True
    FUNCTION = staticmethod(prelu)

    @classmethod
    def weight_names(cls, config):
        return ["alpha"]

    def build(self, input_shapes):
        self.expect_inputs(input_shapes, min_rank=2)
        shape = list(input_shapes[0][1:])
        shared = self.config["shared_axes"]
        shared = [shared] if isinstance(shared, int) and not isinstance(shared, bool) else shared or []
        if not isinstance(shared, list) or not all(isinstance(a, int) and not isinstance(a, bool) and 1 <= a <= len(shape)
                                                   for a in shared):
            raise self.refuse("shared_axes", self.config["shared_axes"], f"None or axes 1..{len(shape)}")
        for axis in shared:
            shape[axis - 1] = 1
        if None in shape:
            raise self.refuse("shared_axes", self.config["shared_axes"], "axes that cover every axis of unknown size")
        self.expect_weight("alpha", tuple(shape))
        return [input_shapes[0]]

    def arguments(self, get):
        return [get.weight("alpha")]


class Softmax(Layer):
    """Keras's Softmax layer: softmax over `axis` (or axes), a mask (its call argument or the
    one propagated) keeping positions out as the model's Keras version does."""

    OPTIONS = {"axis": -1, "semantics": "keras3", "activation": None}  # activation: .npz files of npinfer before 2026-12
    FUNCTION = staticmethod(masked_softmax)
    RAW_MASKS = True  # Keras 2 reads a mask argument as numbers

    def build(self, input_shapes):
        self.expect_inputs(input_shapes)
        check_semantics(self)
        rank = len(input_shapes[0])
        old = self.config["activation"]
        axis = old.get("axis", -1) if isinstance(old, dict) else self.config["axis"]
        axes = axis if isinstance(axis, list) else [axis]
        if not axes or not all(isinstance(a, int) and not isinstance(a, bool) and -rank <= a < rank for a in axes):
            raise self.refuse("axis", axis, f"axes of a rank-{rank} input")
        self.axis = tuple(axes) if isinstance(axis, list) else axis
        self.TIME_LOCAL = rank < 3 or all(a % rank != 1 for a in axes)
        return [input_shapes[0]]

    def call(self, inputs, ctx):
        try:
            return [masked_softmax(inputs[0], self.axis, ctx.mask(0), self.config["semantics"])]
        except ValueError as err:  # a mask that does not broadcast against the input (Keras refuses it too)
            raise InputShapeError(f"layer '{self.name}' (Softmax): {err}") from None

    def export(self, e):
        masked = [e.mask, self.config["semantics"]] if e.mask is not None else []
        return [e.call(masked_softmax, e.input, self.axis, *masked)]
