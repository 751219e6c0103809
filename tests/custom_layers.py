"""A user's NumPy implementation of a custom Keras layer, registered with npinfer.

The Keras side is zoo_layers.scale_shift_layer; the parity tests prove the two agree."""

from __future__ import annotations

import npinfer


class ScaleShift(npinfer.Layer):
    """y = x * factor + shift (shift: one weight per feature)."""

    OPTIONS = {"factor": 2.0}

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
