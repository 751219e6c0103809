"""Core layers: InputLayer, Dense, Activation (and ReLU/LeakyReLU/ELU/Softmax), identity
layers (dropout and noise at inference), Flatten, Reshape."""

from __future__ import annotations

import math

import numpy as np

from ..errors import ModelFormatError
from . import activations
from .base import REQUIRED, Layer, Shape, format_shape, require_bool, require_positive_int


class InputLayer(Layer):
    """A model input: carries the shape and dtype; computes nothing. The batch is axis 0, or
    `batch_axis` (1 for a time-major input: (time, batch, features); None when the file does
    not say, as in ONNX graphs: then the batch is never split)."""

    OPTIONS = {"shape": REQUIRED, "dtype": "float32", "batch_axis": 0}
    TIME_LOCAL = True

    def build(self, input_shapes: list[Shape]) -> list[Shape]:
        shape = self.config["shape"]
        axis = self.config["batch_axis"]
        if not isinstance(shape, list) or len(shape) < (2 if axis == 1 else 1) or not all(
            s is None or (isinstance(s, int) and not isinstance(s, bool) and s >= 0) for s in shape
        ):
            raise ModelFormatError(f"input '{self.name}' has shape {shape!r}; expected [batch, ...]")
        if axis is not None and (axis not in (0, 1) or isinstance(axis, bool)):
            raise self.refuse("batch_axis", axis, "0, 1 or None")
        return [tuple(None if i == axis else s for i, s in enumerate(shape))]

    def call(self, inputs, ctx):
        return inputs


def dense(x, kernel, bias=None, activation=None):
    """y = activation(x @ kernel + bias) on the last axis."""
    y = x @ kernel  # (..., units)
    if bias is not None:
        y += bias
    return y if activation is None else activation(y)


def flatten(x, channels_first=False):
    """(batch, d1, d2, ...) -> (batch, d1*d2*...); channels_first moves axis 1 last first, as Keras does."""
    if channels_first and x.ndim > 2:
        x = np.moveaxis(x, 1, -1)
    return x.reshape(x.shape[0], -1)


class Dense(Layer):
    """y = activation(x @ kernel + bias) on the last axis."""

    OPTIONS = {"units": REQUIRED, "activation": "linear", "use_bias": True}
    TIME_LOCAL = True
    FUNCTION = staticmethod(dense)

    @classmethod
    def weight_names(cls, config):
        return ["kernel", "bias"] if config.get("use_bias", True) else ["kernel"]

    def build(self, input_shapes):
        self.expect_inputs(input_shapes, min_rank=2)
        units = require_positive_int(self, "units")
        require_bool(self, "use_bias")
        features = input_shapes[0][-1]
        if features is None:
            raise ModelFormatError(f"layer '{self.name}' (Dense) needs a known last input dimension, got {format_shape(input_shapes[0])}")
        self.expect_weight("kernel", (features, units))
        if self.config["use_bias"]:
            self.expect_weight("bias", (units,))
        out = input_shapes[0][:-1] + (units,)
        activations.check_axes(self.config["activation"], len(out), f"layer '{self.name}'")
        return [activations.output_shape(self.config["activation"], out)]

    def arguments(self, get):
        return [get.weight("kernel"), get.weight("bias"), get.activation(self.config["activation"])]


class Activation(Layer):
    """activation(x). Keras's ReLU, LeakyReLU, ELU and Softmax layers import as this too."""

    OPTIONS = {"activation": REQUIRED}

    def build(self, input_shapes):
        self.expect_inputs(input_shapes)
        self.activation = activations.get(self.config["activation"])
        rank = len(input_shapes[0])
        activations.check_axes(self.config["activation"], rank, f"layer '{self.name}'")
        axis = activations.canonical(self.config["activation"]).get("axis", -1)
        self.TIME_LOCAL = rank < 3 or all(a % rank != 1 for a in (axis if isinstance(axis, list) else [axis]))
        return [activations.output_shape(self.config["activation"], input_shapes[0])]

    def call(self, inputs, ctx):
        return [self.activation(inputs[0])]

    def export(self, e):
        return [f"{e.activation(self.config['activation'])}({e.input})"]


class Identity(Layer):
    """Identity, and the layers that do nothing at inference (Dropout, SpatialDropout1D/2D/3D,
    GaussianNoise, GaussianDropout, AlphaDropout, ActivityRegularization): masks pass through."""

    TIME_LOCAL = True

    def build(self, input_shapes):
        self.expect_inputs(input_shapes)
        return [input_shapes[0]]

    def call(self, inputs, ctx):
        return inputs

    def export(self, e):
        return [e.input]


class Augmentation(Identity):
    """The random image augmentation layers (RandomFlip, RandomRotation, RandomZoom, ...): with
    training=False Keras returns the images unchanged (Keras 3: cast to the layer's float dtype).
    They do not support masking in Keras, so a mask ends here."""

    MASKING = "drop"


class RandomSize(Augmentation):
    """tf-keras's RandomHeight / RandomWidth: unchanged images at inference, but Keras declares the
    resized axis (height -3, width -2) of unknown size, as it is in training; so does npinfer."""

    def build(self, input_shapes):
        self.expect_inputs(input_shapes, min_rank=3)
        shape = list(input_shapes[0])
        shape[-3 if self.class_name == "RandomHeight" else -2] = None
        return [tuple(shape)]


class Flatten(Layer):
    """(batch, d1, d2, ...) -> (batch, d1*d2*...); channels_first moves axis 1 last first, as Keras does."""

    OPTIONS = {"data_format": "channels_last"}
    MASKING = "drop"  # Keras's Flatten ends masks
    FUNCTION = staticmethod(flatten)

    def build(self, input_shapes):
        self.expect_inputs(input_shapes)
        if self.config["data_format"] not in ("channels_last", "channels_first"):
            raise self.refuse("data_format", self.config["data_format"], "channels_last, channels_first")
        dims = input_shapes[0][1:]
        size = None if any(d is None for d in dims) else math.prod(dims)
        return [(None, size)]

    def arguments(self, get):
        return [self.config["data_format"] == "channels_first"]


class Reshape(Layer):
    """(batch, ...) -> (batch, *target_shape); one -1 in target_shape is inferred."""

    OPTIONS = {"target_shape": REQUIRED}
    MASKING = "drop"  # Keras's Reshape ends masks

    def build(self, input_shapes):
        self.expect_inputs(input_shapes)
        target = self.config["target_shape"]
        if not isinstance(target, list) or not all(isinstance(t, int) and not isinstance(t, bool) and (t > 0 or t == -1) for t in target) or target.count(-1) > 1:
            raise self.refuse("target_shape", target, "a list of positive sizes with at most one -1")
        dims = input_shapes[0][1:]
        known = math.prod(t for t in target if t != -1)
        if any(d is None for d in dims):
            return [(None,) + tuple(None if t == -1 else t for t in target)]
        size = math.prod(dims)
        if (-1 in target and size % known) or (-1 not in target and size != known):
            raise ModelFormatError(
                f"layer '{self.name}' (Reshape) cannot reshape {format_shape(input_shapes[0])} to (None, {', '.join(map(str, target))})"
            )
        return [(None,) + tuple(size // known if t == -1 else t for t in target)]

    def call(self, inputs, ctx):
        x = inputs[0]
        return [x.reshape((x.shape[0],) + tuple(self.config["target_shape"]))]

    def export(self, e):
        return [f"{e.input}.reshape(({e.input}.shape[0], {', '.join(repr(int(s)) for s in self.config['target_shape'])}))"]
