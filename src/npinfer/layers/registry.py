"""The layer registry: Keras class name -> NumPy layer class (filled by layers/__init__.py,
which imports every layer module), and the layers users register."""

from __future__ import annotations

import numpy as np

from ..errors import UnsupportedLayerError
from .base import Layer

LAYERS: dict[str, type[Layer]] = {}
CUSTOM: dict[str, type[Layer]] = {}  # registered by users: Keras custom classes, Lambda


def register_layer(class_name: str, layer_class: type[Layer] | None = None, *, replace: bool = False):
    """Register a NumPy implementation for a layer class npinfer does not know.

    class_name: the class as the model file names it: a Keras custom class ("MyLayer", or its
    registered name "my_package>MyLayer"), or "Lambda". layer_class: a subclass of
    npinfer.Layer (OPTIONS: the config keys it reads, with defaults; weight_names(config): its
    weights in Keras's order; build(input_shapes) -> output shapes; call(inputs, ctx) -> outputs).
    Config keys not in OPTIONS are ignored for registered classes. Usable as a decorator.
    Built-in classes are only replaced with replace=True.
    """
    def register(cls):
        if not (isinstance(cls, type) and issubclass(cls, Layer)):
            raise TypeError(f"register_layer needs a subclass of npinfer.Layer, got {cls!r}")
        if class_name in LAYERS and class_name not in CUSTOM and not replace:
            raise ValueError(f"{class_name} is a built-in npinfer layer; pass replace=True to replace it")
        LAYERS[class_name] = cls
        CUSTOM[class_name] = cls
        return cls

    return register if layer_class is None else register(layer_class)


def unregister_layer(class_name: str) -> None:
    """Remove a registration made with register_layer."""
    if class_name in CUSTOM:
        del CUSTOM[class_name]
        del LAYERS[class_name]


def supported_layers() -> list[str]:
    """Class names of every Keras layer npinfer can run (the mask operations Keras writes and
    the tensor operations of PyTorch and ONNX models are not listed)."""
    return sorted(name for name in LAYERS if not name.startswith(("ops.", "tensor.")))


# Layers npinfer will not run, and why (the message says so).
NOT_RUN = {
    "StringLookup": "it looks up strings, and npinfer's model inputs are numbers (map the strings to ids before predict, "
                    "e.g. with the vocabulary the layer holds, then IntegerLookup or Embedding)",
    "TextVectorization": "it splits and looks up strings, and npinfer's model inputs are numbers (vectorize the text "
                         "before predict)",
    "Hashing": "its hash (FarmHash) cannot be computed exactly with NumPy",
    "RandomCrop": "it is not the identity at inference: tf-keras center-crops to the aspect ratio of (height, width) "
                  "and resizes, while Keras 3 returns the images uncropped though it declares (height, width); use "
                  "Resizing(height, width, crop_to_aspect_ratio=True) or CenterCrop in the model you run",
}


def unsupported_layer(name: str, class_name: str) -> UnsupportedLayerError:
    """The error for a layer class npinfer does not implement, listing what it does."""
    why = f": {NOT_RUN[class_name]}" if class_name in NOT_RUN else ""
    return UnsupportedLayerError(
        f"layer '{name}' ({class_name}) is not supported by npinfer{why}; supported layers: {', '.join(supported_layers())}"
    )


def create_layer(name: str, class_name: str, config: dict, weights: dict[str, np.ndarray], dtype) -> Layer:
    """Instantiate the NumPy layer registered under `class_name`, or refuse it by name."""
    cls = LAYERS.get(class_name)
    if cls is None and class_name.startswith("onnx."):  # npinfer's own ONNX recurrent layers before 2026-12
        raise UnsupportedLayerError(f"layer '{name}' ({class_name}) was written by an earlier npinfer, whose ONNX recurrent "
                                    "layers are now npinfer's LSTM / GRU / SimpleRNN: convert the .onnx file again")
    if cls is None:
        raise unsupported_layer(name, class_name)
    return cls(name, class_name, config, weights, dtype)
