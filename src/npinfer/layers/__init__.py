"""NumPy layers, one registry keyed by the framework's (Keras's) class name."""

from __future__ import annotations

import numpy as np

from ..errors import UnsupportedLayerError
from .attention import AdditiveAttention, Attention, MultiHeadAttention
from .base import Layer
from .conv import Conv1D, DepthwiseConv1D, SeparableConv1D
from .core import Activation, Dense, Flatten, Identity, InputLayer, Reshape
from .embedding import Embedding, Masking
from .merge import Concatenate, Dot, ElementwiseMerge
from .onnx_recurrent import ONNX_LAYERS
from .ops import OPERATIONS
from .tensor_ops import TENSOR_OPS
from .normalization import BatchNormalization, LayerNormalization, Normalization, UnitNormalization
from .pooling import GlobalPooling1D, Pooling1D
from .recurrent import GRU, LSTM, RNN, SimpleRNN
from .reshaping import Cropping1D, Permute, RepeatVector, UpSampling1D, ZeroPadding1D
from .wrappers import Bidirectional, TimeDistributed

LAYERS: dict[str, type[Layer]] = {
    "InputLayer": InputLayer,
    "Dense": Dense,
    "Activation": Activation,
    "ReLU": Activation,
    "LeakyReLU": Activation,
    "ELU": Activation,
    "Softmax": Activation,
    "Dropout": Identity,
    "SpatialDropout1D": Identity,
    "GaussianNoise": Identity,
    "GaussianDropout": Identity,
    "AlphaDropout": Identity,
    "Flatten": Flatten,
    "Reshape": Reshape,
    "Add": ElementwiseMerge,
    "Subtract": ElementwiseMerge,
    "Multiply": ElementwiseMerge,
    "Average": ElementwiseMerge,
    "Maximum": ElementwiseMerge,
    "Minimum": ElementwiseMerge,
    "Concatenate": Concatenate,
    "Dot": Dot,
    "SimpleRNN": SimpleRNN,
    "LSTM": LSTM,
    "GRU": GRU,
    "RNN": RNN,
    "Bidirectional": Bidirectional,
    "TimeDistributed": TimeDistributed,
    "Embedding": Embedding,
    "Masking": Masking,
    "Conv1D": Conv1D,
    "SeparableConv1D": SeparableConv1D,
    "DepthwiseConv1D": DepthwiseConv1D,
    "MaxPooling1D": Pooling1D,
    "AveragePooling1D": Pooling1D,
    "GlobalMaxPooling1D": GlobalPooling1D,
    "GlobalAveragePooling1D": GlobalPooling1D,
    "UpSampling1D": UpSampling1D,
    "ZeroPadding1D": ZeroPadding1D,
    "Cropping1D": Cropping1D,
    "RepeatVector": RepeatVector,
    "Permute": Permute,
    "BatchNormalization": BatchNormalization,
    "LayerNormalization": LayerNormalization,
    "UnitNormalization": UnitNormalization,
    "Normalization": Normalization,
    "Attention": Attention,
    "AdditiveAttention": AdditiveAttention,
    "MultiHeadAttention": MultiHeadAttention,
    **OPERATIONS,
    **TENSOR_OPS,
    **ONNX_LAYERS,
}


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
    the tensor and ONNX operations of PyTorch and ONNX models are not listed)."""
    return sorted(name for name in LAYERS if not name.startswith(("ops.", "tensor.", "onnx.")))


def unsupported_layer(name: str, class_name: str) -> UnsupportedLayerError:
    """The error for a layer class npinfer does not implement, listing what it does."""
    return UnsupportedLayerError(
        f"layer '{name}' ({class_name}) is not supported by npinfer; supported layers: {', '.join(supported_layers())}"
    )


def create_layer(name: str, class_name: str, config: dict, weights: dict[str, np.ndarray], dtype) -> Layer:
    """Instantiate the NumPy layer registered under `class_name`, or refuse it by name."""
    cls = LAYERS.get(class_name)
    if cls is None:
        raise unsupported_layer(name, class_name)
    return cls(name, class_name, config, weights, dtype)
