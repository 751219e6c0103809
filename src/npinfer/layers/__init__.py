"""NumPy layers, one registry keyed by the framework's (Keras's) class name."""

from __future__ import annotations

import numpy as np

from ..errors import UnsupportedLayerError
from .base import Layer
from .core import Activation, Dense, Flatten, Identity, InputLayer, Reshape
from .merge import Add, Concatenate
from .recurrent import GRU, LSTM, SimpleRNN

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
    "Concatenate": Concatenate,
    "Add": Add,
    "SimpleRNN": SimpleRNN,
    "LSTM": LSTM,
    "GRU": GRU,
}


def supported_layers() -> list[str]:
    """Class names of every layer npinfer can run."""
    return sorted(LAYERS)


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
