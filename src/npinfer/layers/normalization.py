"""Normalization at inference: BatchNormalization (moving statistics), LayerNormalization
(axes, center, scale, rms_scaling), GroupNormalization (per sample, over groups of channels),
UnitNormalization, and the preprocessing Normalization layer (stored mean and variance)."""

from __future__ import annotations

import numpy as np

from ..errors import UnsupportedOptionError
from .base import Layer, require_bool
from .merge import check_semantics, l2_normalize


def batch_normalization(x, mean, variance, gamma, beta, epsilon, axes):
    """(x - mean) / sqrt(variance + epsilon) * gamma + beta, the statistics over `axes`."""
    shape = [1] * x.ndim
    for a in axes:
        shape[a] = x.shape[a]
    scale = 1.0 / np.sqrt(variance.reshape(shape) + epsilon)
    if gamma is not None:
        scale = scale * gamma.reshape(shape)
    y = (x - mean.reshape(shape)) * scale
    return (y + beta.reshape(shape) if beta is not None else y).astype(x.dtype)


def layer_normalization(x, gamma, beta, epsilon, axes, rms_scaling=False):
    """Normalized over `axes` per sample: (x - mean) / sqrt(var + epsilon) * gamma + beta.
    With rms_scaling (Keras 3): x / sqrt(var + epsilon) * gamma, no mean subtraction and no beta."""
    shape = [1] * x.ndim
    for a in axes:
        shape[a] = x.shape[a]
    mean, inverse = moments(x, tuple(axes), epsilon)
    if rms_scaling:
        y = x * inverse
        return y * gamma.reshape(shape) if gamma is not None else y
    if gamma is not None:
        inverse = inverse * gamma.reshape(shape)
    y = (x - mean) * inverse
    return y + beta.reshape(shape) if beta is not None else y


def moments(x, axes: tuple, epsilon):
    """The mean of x over `axes` and 1 / sqrt(variance + epsilon), both kept as axes of size 1,
    in x's type (the statistics of layer normalization; ONNX LayerNormalization's Mean and
    InvStdDev outputs)."""
    mean = np.mean(x, axis=axes, keepdims=True)
    inverse = 1.0 / np.sqrt(np.var(x, axis=axes, keepdims=True) + np.asarray(epsilon, x.dtype))
    return mean, inverse


def group_normalization(x, gamma, beta, groups, axis, epsilon):
    """Keras's GroupNormalization: the channels of `axis` split into `groups` groups of
    consecutive channels; each sample is normalized over each group (the group's channels and
    every other non-batch axis): (x - mean) / sqrt(var + epsilon) * gamma + beta, gamma and beta
    one per channel."""
    shape = list(x.shape)  # (batch, ..., channels, ...)
    grouped = shape[:axis] + [groups, shape[axis] // groups] + shape[axis + 1:]  # (batch, ..., groups, channels/groups, ...)
    xg = x.reshape(grouped)
    over = tuple(a for a in range(1, len(grouped)) if a != axis)
    mean, inverse = moments(xg, over, epsilon)
    per_channel = [1] * len(grouped)  # gamma, beta: (channels,) -> (groups, channels/groups) on their axes
    per_channel[axis:axis + 2] = [groups, shape[axis] // groups]
    if gamma is not None:
        inverse = inverse * gamma.reshape(per_channel)
    y = (xg - mean) * inverse
    if beta is not None:
        y = y + beta.reshape(per_channel)
    return y.reshape(shape)


def normalization(x, mean, variance, axes, invert=False):
    """Keras's preprocessing Normalization with stored statistics over `axes`:
    (x - mean) / max(sqrt(variance), 1e-7); `invert` undoes it: mean + x * max(sqrt(variance), 1e-7)."""
    shape = [1] * x.ndim  # mean and variance broadcast against x
    for a in axes:
        shape[a] = x.shape[a]
    mean = mean.reshape(shape)
    std = np.maximum(np.sqrt(variance.reshape(shape)), np.asarray(1e-7, variance.dtype))  # 1e-7: keras.backend.epsilon()
    if invert:
        return mean + x * std
    return (x - mean) / std


def _axes(layer: Layer, rank: int, key: str = "axis") -> list[int]:
    """The option `key` as a sorted list of non-negative axes (never the batch axis)."""
    value = layer.config[key]
    axes = value if isinstance(value, list) else [value]
    if not axes or not all(isinstance(a, int) and not isinstance(a, bool) and -rank <= a < rank for a in axes):
        raise layer.refuse(key, value, f"axes of a rank-{rank} input")
    axes = sorted(a % rank for a in axes)
    if 0 in axes:
        raise layer.refuse(key, value, "non-batch axes")
    return axes


def _broadcast(vector: np.ndarray, shape: tuple, axes: list[int], rank: int) -> np.ndarray:
    """A weight over `axes` reshaped to broadcast against a rank-`rank` input."""
    target = [1] * rank
    for a in axes:
        target[a] = shape[a]
    return vector.reshape(target)


def _known(layer: Layer, shape, axes) -> tuple:
    sizes = tuple(shape[a] for a in axes)
    if None in sizes:
        raise layer.refuse("axis", layer.config["axis"], "axes of known size")
    return sizes


class BatchNormalization(Layer):
    """(x - moving_mean) / sqrt(moving_variance + epsilon) * gamma + beta over `axis`."""

    OPTIONS = {"axis": -1, "epsilon": 1e-3, "center": True, "scale": True}
    TIME_LOCAL = True
    FUNCTION = staticmethod(batch_normalization)

    @classmethod
    def weight_names(cls, config):
        return (["gamma"] if config.get("scale", True) else []) + (["beta"] if config.get("center", True) else []) + [
            "moving_mean", "moving_variance"]

    def build(self, input_shapes):
        self.expect_inputs(input_shapes, min_rank=2)
        shape = input_shapes[0]
        rank = len(shape)
        self.axes = _axes(self, rank)
        self.TIME_LOCAL = rank < 3 or 1 not in self.axes
        center, scale = require_bool(self, "center"), require_bool(self, "scale")
        sizes = _known(self, shape, self.axes)
        for key in self.weight_names(self.config):
            if self.weights[key].size != int(np.prod(sizes)):
                self.expect_weight(key, sizes)
        inverse = 1.0 / np.sqrt(self.weights["moving_variance"].astype(np.float64) + self.config["epsilon"])
        scale_vec = inverse * (self.weights["gamma"] if scale else 1.0)
        offset = (self.weights["beta"] if center else 0.0) - self.weights["moving_mean"] * scale_vec
        self.scale = _broadcast(scale_vec.astype(self.dtype), shape, self.axes, rank)
        self.offset = _broadcast(np.asarray(offset, self.dtype), shape, self.axes, rank)
        return [shape]

    def call(self, inputs, ctx):
        return [inputs[0] * self.scale + self.offset]  # FUNCTION, folded (tests/test_fast_paths.py)

    def arguments(self, get):
        return [get.weight("moving_mean"), get.weight("moving_variance"), get.weight("gamma"), get.weight("beta"),
                self.config["epsilon"], self.axes]


class LayerNormalization(Layer):
    """Normalized over `axis` per sample: (x - mean) / sqrt(var + epsilon) * gamma + beta.
    With rms_scaling (Keras 3): x / sqrt(var + epsilon) * gamma, no mean subtraction and no beta."""

    OPTIONS = {"axis": -1, "epsilon": 1e-3, "center": True, "scale": True, "rms_scaling": False}
    TIME_LOCAL = True
    FUNCTION = staticmethod(layer_normalization)

    @classmethod
    def weight_names(cls, config):
        if config.get("rms_scaling"):  # Keras 3 always makes gamma and never beta then
            return ["gamma"]
        return (["gamma"] if config.get("scale", True) else []) + (["beta"] if config.get("center", True) else [])

    def build(self, input_shapes):
        self.expect_inputs(input_shapes, min_rank=2)
        shape = input_shapes[0]
        rank = len(shape)
        self.axes = _axes(self, rank)
        for key in ("center", "scale", "rms_scaling"):
            require_bool(self, key)
        self.TIME_LOCAL = rank < 3 or 1 not in self.axes
        sizes = _known(self, shape, self.axes)
        for key in self.weight_names(self.config):
            if self.weights[key].size != int(np.prod(sizes)):
                self.expect_weight(key, sizes)
        return [shape]

    def arguments(self, get):
        return [get.weight("gamma"), get.weight("beta"), self.config["epsilon"], self.axes, self.config["rms_scaling"]]


class GroupNormalization(Layer):
    """Per sample over groups of channels (Keras 3, tf-keras 2.11+). A mask passes through;
    Keras 3 ignores it in the statistics, tf-keras weights them by it (refused here by name)."""

    OPTIONS = {"groups": 32, "axis": -1, "epsilon": 1e-3, "center": True, "scale": True, "semantics": "keras3"}
    FUNCTION = staticmethod(group_normalization)

    @classmethod
    def weight_names(cls, config):
        return (["gamma"] if config.get("scale", True) else []) + (["beta"] if config.get("center", True) else [])

    def build(self, input_shapes):
        self.expect_inputs(input_shapes, min_rank=2)
        shape = input_shapes[0]
        rank = len(shape)
        (self.axis,) = _axes(self, rank)
        for key in ("center", "scale"):
            require_bool(self, key)
        check_semantics(self)
        (channels,) = _known(self, shape, [self.axis])
        groups = self.config["groups"]
        if groups == -1 and not isinstance(groups, bool):  # Keras: one group per channel
            groups = channels
        elif isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
            raise self.refuse("groups", groups, "a positive integer or -1")
        if channels % groups:
            raise self.refuse("groups", groups, f"a divisor of the {channels} channels")
        self.groups = groups
        self.TIME_LOCAL = rank < 3  # the statistics run over every non-batch axis
        for key in self.weight_names(self.config):
            self.expect_weight(key, (channels,))
        return [shape]

    def call(self, inputs, ctx):
        if ctx.mask(0) is not None and self.config["semantics"] == "keras2":
            raise UnsupportedOptionError(f"layer '{self.name}' ({self.class_name}): a masked input is not supported "
                                         "for tf-keras files (tf-keras weights the group statistics by the mask)")
        return super().call(inputs, ctx)

    def export(self, e):
        if e.mask is not None and self.config["semantics"] == "keras2":
            raise e.refuse("a masked input is not supported for tf-keras files")
        return super().export(e)

    def arguments(self, get):
        return [get.weight("gamma"), get.weight("beta"), self.groups, self.axis, self.config["epsilon"]]


class UnitNormalization(Layer):
    """x / ||x||_2 over `axis` (tiny norms handled as in the Keras version of the file)."""

    OPTIONS = {"axis": -1, "semantics": "keras3"}
    TIME_LOCAL = True
    FUNCTION = staticmethod(l2_normalize)

    def build(self, input_shapes):
        self.expect_inputs(input_shapes, min_rank=2)
        self.axes = tuple(_axes(self, len(input_shapes[0])))
        self.TIME_LOCAL = len(input_shapes[0]) < 3 or 1 not in self.axes
        check_semantics(self)
        return [input_shapes[0]]

    def arguments(self, get):
        return [self.axes, self.config["semantics"], 1e-12]


class Normalization(Layer):
    """(x - mean) / max(sqrt(variance), 1e-7) with stored statistics; `invert` undoes it.
    Keras 3 passes a mask through; Keras 2 drops it."""

    OPTIONS = {"axis": -1, "invert": False, "semantics": "keras3", "adapted": True}
    TIME_LOCAL = True
    FUNCTION = staticmethod(normalization)

    @classmethod
    def weight_names(cls, config):
        return ["mean", "variance"]

    def build(self, input_shapes):
        self.expect_inputs(input_shapes, min_rank=2)
        shape = input_shapes[0]
        rank = len(shape)
        axis = self.config["axis"]
        self.axes = [] if axis is None or axis == [] else _axes(self, rank)
        self.TIME_LOCAL = rank < 3 or 1 not in self.axes
        require_bool(self, "invert")
        if check_semantics(self) == "keras2":
            self.MASKING = "drop"
        sizes = _known(self, shape, self.axes) if self.axes else ()
        for key in ("mean", "variance"):
            if self.weights[key].size != int(np.prod(sizes)):
                self.expect_weight(key, sizes)
        return [shape]

    @property
    def param_count(self) -> int:
        # As Keras counts: adapted statistics are weights plus a sample count; given ones are config.
        return super().param_count + 1 if self.config["adapted"] else 0

    def arguments(self, get):
        return [get.weight("mean"), get.weight("variance"), list(self.axes), self.config["invert"]]
