"""npinfer: run trained Keras sequence models with NumPy alone.

    import npinfer
    model = npinfer.load("model.keras")      # .keras, Keras .h5 (Keras 2 or 3), or npinfer .npz
    y = model.predict(x)                     # same numbers as Keras, no TensorFlow needed
    model.save("model.npz")                  # native format: JSON + arrays, no pickle
"""

from __future__ import annotations

import os

from .errors import (
    InputError,
    InputShapeError,
    ModelFormatError,
    NpinferError,
    ResourceLimitError,
    UnsupportedLayerError,
    UnsupportedOptionError,
)
from .limits import Limits
from .layers import register_layer, supported_layers, unregister_layer
from .layers.base import CallContext, Layer
from .layers.activations import supported_activations
from .model import Model
from .spec import ModelSpec
from .version import __version__



def __getattr__(name: str):
    """predict_chunks and predict_file, imported on first use (their csv / file machinery is
    not needed to load and predict)."""
    if name in ("predict_chunks", "predict_file"):
        from . import batch

        return getattr(batch, name)
    raise AttributeError(f"module 'npinfer' has no attribute {name!r}")

__all__ = [
    "load", "save", "from_keras", "from_torch", "Model", "supported_layers", "supported_activations",
    "register_layer", "unregister_layer", "Layer", "CallContext",
    "NpinferError", "ModelFormatError", "UnsupportedLayerError", "UnsupportedOptionError",
    "InputError", "InputShapeError", "ResourceLimitError", "Limits", "predict_chunks", "predict_file", "__version__",
]


def load(path: str | os.PathLike, dtype: str = "float32", limits: Limits | None = None) -> Model:
    """Load a model file: Keras 3 `.keras`, Keras `.h5` (tf.keras / Keras 2 or Keras 3), or npinfer `.npz`.

    Never imports TensorFlow, Keras, torch or h5py, and never runs code from the file.
    `dtype="float64"` computes in double precision. `limits` bounds what the file may ask
    for (sizes, nesting, what loading may allocate) and what one predict call may allocate for
    activations (`max_activation_bytes`); the default is `npinfer.limits.DEFAULT`.
    """
    from .importers import load_spec

    from .errors import naming_file
    from .graph import gc_paused

    with naming_file(path), gc_paused():  # load_spec refuses what is not a path
        spec = load_spec(path, limits, tensor_tier=True)
        if not isinstance(spec, ModelSpec):  # an ONNX graph on the tensor tier: each value in its own type
            if str(dtype) != "float32":
                raise UnsupportedOptionError(
                    f"dtype={dtype!r}: this ONNX graph runs on npinfer's tensor tier, which computes every value in the "
                    "type the file gives it (dtype applies to models that map onto layers)")
            spec.path = os.fspath(path)
            return spec
        model = Model(spec, dtype=dtype, limits=limits)
    model.path = os.fspath(path)
    return model


def from_keras(model, dtype: str = "float32") -> Model:
    """Convert an in-memory Keras model (Keras 3 or tf-keras 2.x, Sequential or Functional)."""
    from .importers.keras_live import from_keras_model

    return Model(from_keras_model(model), dtype=dtype)


def from_torch(module, example_input, dtype: str = "float32") -> Model:
    """Convert a PyTorch module: nn.RNN / LSTM / GRU, Linear, Conv1d, Embedding, LayerNorm,
    BatchNorm1d, Dropout, activations, Sequential, and custom modules whose forward composes
    them with common tensor functions (traced with torch.fx; torch is imported only here).

    example_input: a tensor, or a tuple in forward's order (an LSTM state as a tuple
    (h_0, c_0)). The converted model is checked against the module on it before it is
    returned. Anything npinfer cannot run is refused by module or function name. Save the
    result with `model.save("model.npz")` and load it where torch is not installed."""
    from .importers.torch_graph import from_torch_module

    return Model(from_torch_module(module, example_input), dtype=dtype)


def save(model: Model, path: str | os.PathLike) -> None:
    """Save `model` as an npinfer `.npz` (same as `model.save(path)`)."""
    model.save(path)
