"""A user's NumPy implementation of a custom Keras layer, registered with npinfer.

The Keras side is zoo_layers.scale_shift_layer; the parity tests prove the two agree."""

from __future__ import annotations

import numpy as np

import npinfer


def scale_shift(inputs, weights, config):
    """The same computation for `npinfer export`: plain NumPy, copied into the exported script."""
    x = inputs[0]
    return [x * np.asarray(config["factor"], x.dtype) + weights["shift"]]


class ScaleShift(npinfer.Layer):
    """y = x * factor + shift (shift: one weight per feature)."""

    OPTIONS = {"factor": 2.0}
    EXPORT_FUNCTION = scale_shift  # lets `npinfer export` write this layer into a standalone script

    @classmethod
    def weight_names(cls, config):
        return ["shift"]

    def build(self, input_shapes):
        self.expect_inputs(input_shapes)
        self.expect_weight("shift", (input_shapes[0][-1],))
        return [input_shapes[0]]

    def call(self, inputs, ctx):
        return [inputs[0] * self.dtype.type(self.config["factor"]) + self.weights["shift"]]


npinfer.register_layer("zoo>ScaleShift", ScaleShift)
