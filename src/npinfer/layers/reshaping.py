"""Shape layers on sequences: UpSampling1D, ZeroPadding1D, Cropping1D, RepeatVector, Permute."""

from __future__ import annotations

import numpy as np

from .base import REQUIRED, Layer, require_positive_int


def _pair(layer: Layer, key: str) -> tuple[int, int]:
    value = layer.config[key]
    pair = (value, value) if isinstance(value, int) and not isinstance(value, bool) else tuple(value) if isinstance(value, list) else None
    if pair is None or len(pair) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in pair):
        raise layer.refuse(key, value, "a non-negative integer or a pair of them")
    return pair


def _time_axis(layer: Layer, input_shapes) -> int:
    layer.expect_inputs(input_shapes, rank=3)
    data_format = layer.config.get("data_format", "channels_last")
    if data_format not in ("channels_last", "channels_first"):
        raise layer.refuse("data_format", data_format, "channels_last, channels_first")
    return 1 if data_format == "channels_last" else 2


class UpSampling1D(Layer):
    """Each time step repeated `size` times."""

    OPTIONS = {"size": 2}
    MASKING = "drop"

    def build(self, input_shapes):
        self.expect_inputs(input_shapes, rank=3)
        size = require_positive_int(self, "size")
        batch, steps, channels = input_shapes[0]
        return [(batch, None if steps is None else steps * size, channels)]

    def call(self, inputs, ctx):
        return [np.repeat(inputs[0], self.config["size"], axis=1)]

    def export(self, e):
        return [f"np.repeat({e.input}, {self.config['size']}, axis=1)  # each time step {self.config['size']} times"]


class ZeroPadding1D(Layer):
    """Zeros added before and after the time axis."""

    OPTIONS = {"padding": 1, "data_format": "channels_last"}
    MASKING = "drop"

    def build(self, input_shapes):
        self.axis = _time_axis(self, input_shapes)
        self.padding = _pair(self, "padding")
        shape = list(input_shapes[0])
        if shape[self.axis] is not None:
            shape[self.axis] += sum(self.padding)
        return [tuple(shape)]

    def widths(self) -> list:
        widths = [(0, 0)] * 3
        widths[self.axis] = tuple(self.padding)
        return widths

    def call(self, inputs, ctx):
        return [np.pad(inputs[0], self.widths())]

    def export(self, e):
        return [f"np.pad({e.input}, {self.widths()})  # zeros before and after the time axis"]


class Cropping1D(Layer):
    """Steps removed from the start and end of the time axis."""

    OPTIONS = {"cropping": [1, 1]}
    MASKING = "drop"

    def build(self, input_shapes):
        self.expect_inputs(input_shapes, rank=3)
        self.cropping = _pair(self, "cropping")
        batch, steps, channels = input_shapes[0]
        if steps is not None and sum(self.cropping) >= steps:
            raise self.refuse("cropping", self.config["cropping"], f"less than the {steps} steps in total")
        return [(batch, None if steps is None else steps - sum(self.cropping), channels)]

    def call(self, inputs, ctx):
        start, end = self.cropping
        x = inputs[0]
        return [x[:, start : x.shape[1] - end]]

    def export(self, e):
        start, end = self.cropping
        return [f"{e.input}[:, {start} : {e.input}.shape[1] - {end}]  # steps cropped from both ends"]


class RepeatVector(Layer):
    """(batch, features) -> (batch, n, features)."""

    OPTIONS = {"n": REQUIRED}
    MASKING = "drop"

    def build(self, input_shapes):
        self.expect_inputs(input_shapes, rank=2)
        n = require_positive_int(self, "n")
        return [(input_shapes[0][0], n, input_shapes[0][1])]

    def call(self, inputs, ctx):
        x = inputs[0]
        return [np.repeat(x[:, None, :], self.config["n"], axis=1)]

    def export(self, e):
        return [f"np.repeat({e.input}[:, None, :], {self.config['n']}, axis=1)"]


class Permute(Layer):
    """Non-batch axes reordered by `dims` (1-based, as in Keras)."""

    OPTIONS = {"dims": REQUIRED}
    MASKING = "drop"

    def build(self, input_shapes):
        self.expect_inputs(input_shapes)
        dims = self.config["dims"]
        rank = len(input_shapes[0])
        if not isinstance(dims, list) or sorted(dims) != list(range(1, rank)):
            raise self.refuse("dims", dims, f"a permutation of 1..{rank - 1}")
        self.order = (0, *dims)
        return [tuple(input_shapes[0][i] for i in self.order)]

    def call(self, inputs, ctx):
        return [np.ascontiguousarray(inputs[0].transpose(self.order))]

    def export(self, e):
        return [f"{e.input}.transpose({tuple(self.order)})"]
