"""npinfer: run trained Keras sequence models with NumPy alone.

    import npinfer
    model = npinfer.load("model.keras")      # .keras, Keras .h5 (Keras 2 or 3), or npinfer .npz
    y = model.predict(x)                     # same numbers as Keras, no TensorFlow needed
    model.save("model.npz")                  # native format: JSON + arrays, no pickle
"""

from __future__ import annotations

import os

from .batch import predict_chunks, predict_file
from .errors import (
    InputError,
    InputShapeError,
    ModelFormatError,
    NpinferError,
    UnsupportedLayerError,
    UnsupportedOptionError,
)
from .limits import Limits
from .layers import register_layer, supported_layers, unregister_layer
from .layers.base import CallContext, Layer
from .layers.activations import supported_activations
from .model import Model

__version__ = "0.1.0"

__all__ = [
    "load", "save", "from_keras", "Model", "supported_layers", "supported_activations",
    "register_layer", "unregister_layer", "Layer", "CallContext",
    "NpinferError", "ModelFormatError", "UnsupportedLayerError", "UnsupportedOptionError",
    "InputError", "InputShapeError", "Limits", "predict_chunks", "predict_file", "__version__",
]


def load(path: str | os.PathLike, dtype: str = "float32", limits: Limits | None = None) -> Model:
    """Load a model file: Keras 3 `.keras`, Keras `.h5` (tf.keras / Keras 2 or Keras 3), or npinfer `.npz`.

    Never imports TensorFlow, Keras, torch or h5py, and never runs code from the file.
    `dtype="float64"` computes in double precision. `limits` bounds what the file may ask
    for (sizes, nesting); the default is `npinfer.limits.DEFAULT`.
    """
    from .importers import load_spec

    return Model(load_spec(path, limits), dtype=dtype)


def from_keras(model, dtype: str = "float32") -> Model:
    """Convert an in-memory Keras model (Keras 3 or tf-keras 2.x, Sequential or Functional)."""
    from .importers.keras_live import from_keras_model

    return Model(from_keras_model(model), dtype=dtype)


def save(model: Model, path: str | os.PathLike) -> None:
    """Save `model` as an npinfer `.npz` (same as `model.save(path)`)."""
    model.save(path)
