"""Preprocessing layers that Keras saves into models and runs at inference, on numbers:
Rescaling, CategoryEncoding, Discretization, IntegerLookup (a vocabulary in the config),
CenterCrop and Resizing (bilinear / nearest, as tf.image.resize). Layers on strings
(StringLookup, TextVectorization) are refused by the importer, by name."""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from .base import REQUIRED, Layer, require_bool, require_positive_int
from .merge import check_semantics
from .reshaping import crop, cubic_resize, linear_resize

ENCODINGS = ("int", "one_hot", "multi_hot", "count")


def rescale(x, scale, offset):
    """x * scale + offset (Keras's Rescaling); scale and offset a number or one per channel."""
    return x * np.asarray(scale, x.dtype) + np.asarray(offset, x.dtype)


def category_encoding(ids, depth, mode, dtype):
    """Integer ids (batch, ...) as Keras encodes them: one_hot (..., depth) (a last axis of 1
    is dropped first), multi_hot / count (batch, depth) over each row's ids; int as they are.
    Ids must be 0 .. depth - 1 (IndexError otherwise)."""
    ids = np.asarray(ids).astype(np.int64)
    if mode == "int":
        return ids
    if ids.size and (ids.min() < 0 or ids.max() >= depth):
        raise IndexError(f"the ids must be 0..{depth - 1}, got values from {ids.min()} to {ids.max()}")
    if mode == "one_hot":
        ids = ids[..., 0] if ids.ndim > 1 and ids.shape[-1] == 1 else ids
        return (ids[..., None] == np.arange(depth)).astype(dtype)  # (..., depth)
    rows = ids.reshape(ids.shape[0], -1)  # (batch, ids per row)
    counts = np.zeros((rows.shape[0], depth), dtype)
    np.add.at(counts, (np.repeat(np.arange(rows.shape[0]), rows.shape[1]), rows.ravel()), 1)
    return counts if mode == "count" else np.minimum(counts, 1)


def discretize(x, boundaries, mode, dtype):
    """The bin of each value (bins[i-1] <= x < bins[i], as np.digitize), encoded as `mode`."""
    return category_encoding(np.digitize(x, np.asarray(boundaries, x.dtype)), len(boundaries) + 1, mode, dtype)


def integer_lookup(x, vocabulary, num_oov_indices, mask_token, invert, oov_token, mode, dtype):
    """Keras's IntegerLookup with its index layout [mask token], [OOV indices], vocabulary:
    a vocabulary value -> its position + the indices before; an unknown value -> an OOV index
    (value % num_oov_indices); mask_token -> 0. With invert, index -> value. Then encoded as `mode`."""
    x = np.asarray(x).astype(np.int64)
    table = np.asarray(([mask_token] if mask_token is not None else []) + [oov_token] * num_oov_indices + list(vocabulary), np.int64)
    if invert:
        if x.size and (x.min() < 0 or x.max() >= len(table)):
            raise IndexError(f"the indices must be 0..{len(table) - 1}")
        return table[x]
    start = len(table) - len(vocabulary)
    order = np.argsort(table[start:], kind="stable")
    known = table[start:][order]
    where = np.minimum(np.searchsorted(known, x), max(len(known) - 1, 0))
    found = known[where] == x if len(known) else np.zeros(x.shape, bool)
    oov = (mask_token is not None) + (np.mod(x, num_oov_indices) if num_oov_indices > 1 else 0)
    if num_oov_indices == 0 and not np.all(found | (x == mask_token)):
        raise IndexError(f"values {np.unique(x[~found]).tolist()[:5]} are not in the vocabulary (num_oov_indices=0)")
    index = np.where(found, order[where] + start, oov)
    if mask_token is not None:
        index = np.where(x == mask_token, 0, index)
    return category_encoding(index, len(table), mode, dtype)


def center_crop(x, height, width, axes):
    """The central (height, width) window of the two `axes` (starting at (size - target) // 2)."""
    starts = [(x.shape[a] - t) // 2 for a, t in zip(axes, (height, width))]
    return crop(x, [(s, x.shape[a] - s - t) for s, a, t in zip(starts, axes, (height, width))], axes)


def fit_aspect(x, height, width, axes, aspect, fill_value):
    """The largest central window of the two `axes` with height:width's aspect ratio (aspect
    "crop"), or x with `fill_value` rows or columns added on both sides to reach it ("pad"),
    as Keras's Resizing does before it resizes (its sizes computed in float32, truncated; the
    padding is the same on both sides)."""
    size_h, size_w = x.shape[axes[0]], x.shape[axes[1]]
    fit_h = int(np.float32(size_w * height) / np.float32(width))
    fit_w = int(np.float32(size_h * width) / np.float32(height))
    if aspect == "crop":
        crops = []
        for size, fit in ((size_h, max(min(size_h, fit_h), 1)), (size_w, max(min(size_w, fit_w), 1))):
            start = int(np.float32(size - fit) / 2)
            crops.append((start, size - start - fit))
        return crop(x, crops, axes)
    pads = [(0, 0)] * x.ndim
    for axis, size, fit in zip(axes, (size_h, size_w), (max(size_h, fit_h), max(size_w, fit_w))):
        side = int(np.float32(fit - size) / 2)
        pads[axis] = (side, side)
    return np.pad(x, pads, constant_values=np.asarray(fill_value, x.dtype))


def resize(x, height, width, axes, interpolation, aspect=None, fill_value=0.0):
    """x resized to (height, width) on the two `axes` as tf.image.resize (no antialiasing):
    bilinear or bicubic between half-pixel centres, or the nearest source at
    floor((out + 0.5) * in / out). aspect "crop" / "pad": first fit the aspect ratio (fit_aspect)."""
    if aspect is not None:
        x = fit_aspect(x, height, width, axes, aspect, fill_value)
    for axis, size in reversed(list(zip(axes, (height, width)))):
        if interpolation == "bilinear":
            x = linear_resize(x, size, axis)
        elif interpolation == "bicubic":
            x = cubic_resize(x, size, axis)
        else:
            source = np.floor((np.arange(size, dtype=np.float32) + np.float32(0.5)) * np.float32(x.shape[axis] / size))
            x = np.take(x, np.minimum(source.astype(np.int64), x.shape[axis] - 1), axis=axis)
    return x


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


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


class Encoding(Layer):
    """Shared by the layers whose output is an encoding of integer ids (output_mode)."""

    ACCEPTS_INTEGERS = True
    MASKING = "drop"
    MODES = ENCODINGS

    def encoded_shape(self, shape, depth):
        mode = self.config["output_mode"]
        if mode not in self.MODES:
            raise self.refuse("output_mode", mode, ", ".join(self.MODES))
        if self.config.get("sparse"):
            raise self.refuse("sparse", True, "false (npinfer's outputs are dense)")
        if mode == "int":
            return tuple(shape)
        if mode == "one_hot":
            return tuple(shape[:-1] if len(shape) > 1 and shape[-1] == 1 else shape) + (depth,)
        return (shape[0], depth)

    def integer_outputs(self, integer_inputs):
        return [self.config["output_mode"] == "int"]

    def call(self, inputs, ctx):
        try:
            return super().call(inputs, ctx)
        except IndexError as err:
            raise InputError(f"layer '{self.name}' ({self.class_name}): {err}") from None


class CategoryEncoding(Encoding):
    """Integer ids -> one_hot, multi_hot or count vectors of num_tokens."""

    OPTIONS = {"num_tokens": REQUIRED, "output_mode": "multi_hot", "sparse": False}
    MODES = ("one_hot", "multi_hot", "count")
    FUNCTION = staticmethod(category_encoding)

    def build(self, input_shapes):
        self.expect_inputs(input_shapes)
        return [self.encoded_shape(input_shapes[0], require_positive_int(self, "num_tokens"))]

    def arguments(self, get):
        return [self.config["num_tokens"], self.config["output_mode"], self.dtype.name]


class Discretization(Encoding):
    """Values -> the index of their bin between bin_boundaries (then encoded as output_mode)."""

    OPTIONS = {"bin_boundaries": None, "output_mode": "int", "sparse": False}
    ACCEPTS_INTEGERS = False
    FUNCTION = staticmethod(discretize)

    def build(self, input_shapes):
        self.expect_inputs(input_shapes)
        bins = self.config["bin_boundaries"]
        if not isinstance(bins, list) or not all(_number(b) for b in bins) or sorted(bins) != bins:
            raise self.refuse("bin_boundaries", bins, "a sorted list of numbers (the layer given them, or adapted before saving)")
        return [self.encoded_shape(input_shapes[0], len(bins) + 1)]

    def arguments(self, get):
        return [self.config["bin_boundaries"], self.config["output_mode"], self.dtype.name]


class IntegerLookup(Encoding):
    """Integers -> their index in a vocabulary (or back, with invert); then encoded as output_mode."""

    OPTIONS = {"vocabulary": REQUIRED, "num_oov_indices": 1, "mask_token": None, "oov_token": -1, "invert": False,
               "output_mode": "int", "sparse": False}
    FUNCTION = staticmethod(integer_lookup)

    def build(self, input_shapes):
        self.expect_inputs(input_shapes)
        vocabulary = self.config["vocabulary"]
        if not isinstance(vocabulary, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in vocabulary) \
                or len(set(vocabulary)) != len(vocabulary):
            raise self.refuse("vocabulary", vocabulary if not isinstance(vocabulary, list) else "[...]",
                              "a list of distinct integers in the layer's config (an adapted vocabulary is a file npinfer does not read)")
        oov = self.config["num_oov_indices"]
        if isinstance(oov, bool) or not isinstance(oov, int) or oov < 0:
            raise self.refuse("num_oov_indices", oov, "a non-negative integer")
        for key in ("mask_token", "oov_token"):
            value = self.config[key]
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise self.refuse(key, value, "an integer or None")
        if require_bool(self, "invert") and self.config["output_mode"] != "int":
            raise self.refuse("output_mode", self.config["output_mode"], "int with invert")
        depth = len(vocabulary) + oov + (self.config["mask_token"] is not None)
        return [self.encoded_shape(input_shapes[0], depth)]

    def arguments(self, get):
        config = self.config
        return [config["vocabulary"], config["num_oov_indices"], config["mask_token"], config["invert"], config["oov_token"],
                config["output_mode"], self.dtype.name]


class ImageWindow(Layer):
    """Shared by CenterCrop and Resizing: a (height, width) target on the image axes."""

    OPTIONS = {"height": REQUIRED, "width": REQUIRED, "data_format": "channels_last"}
    MASKING = "drop"

    def target(self, input_shapes):
        self.expect_inputs(input_shapes, rank=4)
        if self.config["data_format"] not in ("channels_last", "channels_first"):
            raise self.refuse("data_format", self.config["data_format"], "channels_last, channels_first")
        self.axes = (2, 3) if self.config["data_format"] == "channels_first" else (1, 2)
        height, width = require_positive_int(self, "height"), require_positive_int(self, "width")
        shape = list(input_shapes[0])
        shape[self.axes[0]], shape[self.axes[1]] = height, width
        return height, width, tuple(shape)


class CenterCrop(ImageWindow):
    """The central height x width window of each image (smaller images are refused: Keras resizes those)."""

    FUNCTION = staticmethod(center_crop)

    def build(self, input_shapes):
        height, width, shape = self.target(input_shapes)
        for axis, size in zip(self.axes, (height, width)):
            known = input_shapes[0][axis]
            if known is not None and known < size:
                raise self.refuse("height" if axis == self.axes[0] else "width", size,
                                  f"at most the input's {known} (Keras resizes smaller images instead of cropping)")
        return [shape]

    def arguments(self, get):
        return [self.config["height"], self.config["width"], self.axes]


class Resizing(ImageWindow):
    """Images resized to height x width (bilinear, nearest or bicubic), as tf.image.resize does
    it, after an optional crop or pad to the target's aspect ratio."""

    OPTIONS = {**ImageWindow.OPTIONS, "interpolation": "bilinear", "crop_to_aspect_ratio": False, "pad_to_aspect_ratio": False,
               "fill_value": 0.0, "antialias": False}
    FUNCTION = staticmethod(resize)

    def build(self, input_shapes):
        height, width, shape = self.target(input_shapes)
        if self.config["interpolation"] not in ("bilinear", "nearest", "bicubic"):
            raise self.refuse("interpolation", self.config["interpolation"], "bilinear, nearest, bicubic")
        if self.config["antialias"] is not False:
            raise self.refuse("antialias", self.config["antialias"], "false")
        crops, pads = require_bool(self, "crop_to_aspect_ratio"), require_bool(self, "pad_to_aspect_ratio")
        if crops and pads:
            raise self.refuse("pad_to_aspect_ratio", True, "false with crop_to_aspect_ratio (Keras allows only one)")
        self.aspect = "crop" if crops else "pad" if pads else None
        if not _number(self.config["fill_value"]):
            raise self.refuse("fill_value", self.config["fill_value"], "a number")
        return [shape]

    def arguments(self, get):
        return [self.config["height"], self.config["width"], self.axes, self.config["interpolation"], self.aspect,
                self.config["fill_value"]]
