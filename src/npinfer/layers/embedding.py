"""Layers that start masks: Embedding (token ids -> vectors, mask_zero) and Masking."""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from .base import REQUIRED, Layer, require_bool, require_positive_int


def embedding(ids, table):
    """table[ids] (batch, ..., output_dim); float ids are truncated, as Keras casts them; ids
    must be 0 .. len(table) - 1 (IndexError otherwise)."""
    ids = np.asarray(ids)
    if ids.dtype.kind == "f":
        ids = ids.astype(np.int64)
    if ids.size and (ids.min() < 0 or ids.max() >= len(table)):
        bad = ids[(ids < 0) | (ids >= len(table))].ravel()[0]
        raise IndexError(f"index {int(bad)} is out of range: input_dim is {len(table)}, so ids must be 0..{len(table) - 1}")
    return table[ids]


class Embedding(Layer):
    """ids (batch, ...) -> embeddings[ids] (batch, ..., output_dim); with mask_zero, id 0 is masked."""

    OPTIONS = {"input_dim": REQUIRED, "output_dim": REQUIRED, "mask_zero": False}
    ACCEPTS_INTEGERS = True
    TIME_LOCAL = True
    FUNCTION = staticmethod(embedding)

    @classmethod
    def weight_names(cls, config):
        return ["embeddings"]

    def build(self, input_shapes):
        self.expect_inputs(input_shapes)
        rows = require_positive_int(self, "input_dim")
        width = require_positive_int(self, "output_dim")
        require_bool(self, "mask_zero")
        self.expect_weight("embeddings", (rows, width))
        return [tuple(input_shapes[0]) + (width,)]

    def call(self, inputs, ctx):
        try:  # Keras raises too on CPU (Keras 3 would wrap negative ids; npinfer refuses them)
            return super().call(inputs, ctx)
        except IndexError as err:
            raise InputError(f"layer '{self.name}' (Embedding): {err}") from None

    def creates_masks(self):
        return self.config["mask_zero"]

    def compute_masks(self, inputs, ctx, outputs):
        return [inputs[0] != 0] if self.config["mask_zero"] else [None]

    def arguments(self, get):
        return [get.weight("embeddings")]

    def export_masks(self, e):
        if not self.config["mask_zero"]:
            return [None]
        (mask,) = e.assign(f"{e.input} != 0  # mask_zero: id 0 is padding", "m_" + e.outputs[0][2:])
        return [mask]


class Masking(Layer):
    """Masks time steps whose features all equal mask_value, and zeroes them."""

    OPTIONS = {"mask_value": 0.0}
    TIME_LOCAL = True

    def build(self, input_shapes):
        self.expect_inputs(input_shapes, min_rank=3)
        value = self.config["mask_value"]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.refuse("mask_value", value, "a number")
        return [input_shapes[0]]

    def _keep(self, x):
        return np.any(x != self.config["mask_value"], axis=-1)  # (batch, time)

    def call(self, inputs, ctx):
        x = inputs[0]
        return [x * self._keep(x)[..., None].astype(x.dtype)]

    def creates_masks(self):
        return True

    def compute_masks(self, inputs, ctx, outputs):
        return [self._keep(inputs[0])]

    def export(self, e):
        value = self.config["mask_value"]
        (e.made_mask,) = e.assign(f"np.any({e.input} != {value!r}, axis=-1)  # steps not all {value!r}", "m_" + e.outputs[0][2:])
        return [f"{e.input} * {e.made_mask}[..., None].astype({e.input}.dtype)  # masked steps zeroed"]

    def export_masks(self, e):
        return [e.made_mask]
