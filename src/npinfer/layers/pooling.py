"""1-D pooling: MaxPooling1D, AveragePooling1D (padding valid / same), and the global poolings
GlobalMaxPooling1D / GlobalAveragePooling1D (keepdims, masks as Keras honours them)."""

from __future__ import annotations

import numpy as np

from .base import Layer
from .conv import WindowOp

POOL_OPTIONS = {"pool_size": 2, "strides": None, "padding": "valid", "data_format": "channels_last"}


class Pooling1D(WindowOp):
    """Max or average over windows of pool_size steps; 'same' padding as TensorFlow does it
    (max ignores the padding; the average divides by the number of real steps in the window)."""

    OPTIONS = POOL_OPTIONS
    PADDINGS = ("valid", "same")
    MASKING = "drop"

    def build(self, input_shapes):
        steps, channels, out = self.geometry(input_shapes, kernel_key="pool_size", dilation_key="none")
        return [self.out_shape(out, channels)]

    def call(self, inputs, ctx):
        x = self.to_channels_last(inputs[0])
        if self.class_name == "MaxPooling1D":
            padded, out = self.padded(x, fill=-np.inf)
            y = None
            for _, window in self.taps(padded, out):
                y = window.copy() if y is None else np.maximum(y, window, out=y)
        else:
            padded, out = self.padded(x)
            counts, _ = self.padded(np.ones((1, x.shape[1], 1), x.dtype))
            y = sum(window for _, window in self.taps(padded, out))
            y = y / sum(window for _, window in self.taps(counts, out))
        return [self.from_channels_last(y.astype(x.dtype, copy=False))]


class GlobalPooling1D(Layer):
    """Max or mean over the time axis. With a mask the mean counts only unmasked steps (as
    Keras); the max ignores the mask, as Keras's does (masked steps hold Masking's zeros)."""

    OPTIONS = {"data_format": "channels_last", "keepdims": False}
    MASKING = "drop"

    def build(self, input_shapes):
        self.expect_inputs(input_shapes, rank=3)
        if self.config["data_format"] not in ("channels_last", "channels_first"):
            raise self.refuse("data_format", self.config["data_format"], "channels_last, channels_first")
        self.time_axis = 1 if self.config["data_format"] == "channels_last" else 2
        shape = list(input_shapes[0])
        if self.config["keepdims"]:
            shape[self.time_axis] = 1
        else:
            del shape[self.time_axis]
        return [tuple(shape)]

    def call(self, inputs, ctx):
        x, mask = inputs[0], ctx.mask(0)
        axis, keep = self.time_axis, self.config["keepdims"]
        if self.class_name == "GlobalMaxPooling1D":
            return [np.max(x, axis=axis, keepdims=keep)]
        if mask is None:
            return [np.mean(x, axis=axis, keepdims=keep)]
        weights = self._expand(mask).astype(x.dtype)
        return [(np.sum(x * weights, axis=axis, keepdims=keep) / np.sum(weights, axis=axis, keepdims=keep)).astype(x.dtype)]

    def _expand(self, mask):
        return mask[:, :, None] if self.time_axis == 1 else mask[:, None, :]
