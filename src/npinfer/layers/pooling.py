"""1-D pooling: MaxPooling1D, AveragePooling1D (padding valid / same), and the global poolings
GlobalMaxPooling1D / GlobalAveragePooling1D (keepdims, masks as Keras honours them)."""

from __future__ import annotations

import numpy as np

from .base import Layer
from .conv import WindowOp, windows

POOL_OPTIONS = {"pool_size": 2, "strides": None, "padding": "valid", "data_format": "channels_last"}


def pool1d(x, size, strides, padding, kind):
    """Max or average over windows of `size` steps, channels last; 'same' padding as TensorFlow
    does it (max ignores the padding; the average divides by the number of real steps in the window)."""
    if kind == "max":
        y = None
        for window in windows(x, size, strides, 1, padding, fill=-np.inf):
            y = window.copy() if y is None else np.maximum(y, window, out=y)
        return y
    total = sum(windows(x, size, strides, 1, padding))
    counts = sum(windows(np.ones((1, x.shape[1], 1), x.dtype), size, strides, 1, padding))
    return (total / counts).astype(x.dtype, copy=False)


def global_pool1d(x, kind, axis, keepdims, mask=None):
    """Max or mean over the time axis (`axis` 1 or 2). With a (batch, time) mask the mean counts
    only the unmasked steps (a row masked everywhere gives NaN, as in Keras); the max ignores
    the mask, as Keras's does (masked steps hold Masking's zeros)."""
    if kind == "max":
        return np.max(x, axis=axis, keepdims=keepdims)
    if mask is None:
        return np.mean(x, axis=axis, keepdims=keepdims)
    weights = (mask[:, :, None] if axis == 1 else mask[:, None, :]).astype(x.dtype)
    with np.errstate(invalid="ignore"):
        return (np.sum(x * weights, axis=axis, keepdims=keepdims) / np.sum(weights, axis=axis, keepdims=keepdims)).astype(x.dtype)


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
        y = pool1d(self.to_channels_last(inputs[0]), self.kernel, self.stride, self.config["padding"], self.kind())
        return [self.from_channels_last(y)]

    def kind(self) -> str:
        return "max" if self.class_name == "MaxPooling1D" else "average"

    def export(self, e):
        return self.export_window(e, pool1d, self.kernel, self.stride, self.config["padding"], self.kind())


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
        return [global_pool1d(inputs[0], self.kind(), self.time_axis, self.config["keepdims"], ctx.mask(0))]

    def kind(self) -> str:
        return "max" if self.class_name == "GlobalMaxPooling1D" else "mean"

    def export(self, e):
        masked = [e.mask] if e.mask is not None and self.kind() == "mean" else []
        return [e.call(global_pool1d, e.input, self.kind(), self.time_axis, self.config["keepdims"], *masked)]
