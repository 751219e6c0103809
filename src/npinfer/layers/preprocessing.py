"""Preprocessing layers that Keras saves into models and runs at inference: Rescaling."""

from __future__ import annotations

import numpy as np

from .base import REQUIRED, Layer
from .merge import check_semantics


def rescale(x, scale, offset):
    """x * scale + offset (Keras's Rescaling); scale and offset a number or one per channel."""
    return x * np.asarray(scale, x.dtype) + np.asarray(offset, x.dtype)


class Rescaling(Layer):
    """y = x * scale + offset. A list scale or offset holds one value per channel of the last
    axis (Keras's default image_data_format, channels_last)."""

    OPTIONS = {"scale": REQUIRED, "offset": 0.0, "semantics": "keras3"}
    TIME_LOCAL = True
    FUNCTION = staticmethod(rescale)

    def build(self, input_shapes):
        self.expect_inputs(input_shapes)
        if check_semantics(self) == "keras2":
            self.MASKING = "drop"  # tf.keras's Rescaling ends masks; Keras 3's passes them on
        channels = input_shapes[0][-1]
        for key in ("scale", "offset"):
            value = self.config[key]
            if isinstance(value, list) and all(_number(v) for v in value) and len(value) in (1, channels):
                continue
            if not _number(value):
                raise self.refuse(key, value, f"a number, or a list of {channels} numbers (one per channel)")
        return [input_shapes[0]]

    def arguments(self, get):
        return [self.config["scale"], self.config["offset"]]


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
