"""An in-memory Keras model (Keras 3 or tf.keras / tf-keras 2.x) -> ModelSpec.

Uses only the model's own methods (`to_json`, `get_layer`, `get_weights`); Keras is never
imported here, so the caller's Keras is the one that is used.
"""

from __future__ import annotations

import json
import sys

import numpy as np

from ..errors import NpinferError, UnsupportedLayerError
from ..spec import ModelSpec
from .keras_config import parse_model
from .keras_layers import KerasContext


def keras_version_of(model) -> str:
    """Version of the Keras package the model object belongs to."""
    package = type(model).__module__.split(".")[0]  # "keras" or "tf_keras"
    module = sys.modules.get(package)
    version = getattr(module, "__version__", None)
    if version is None and package == "tensorflow":  # tf.keras objects of TF <= 2.15
        version = getattr(getattr(sys.modules.get("tensorflow"), "keras", None), "__version__", None)
    return str(version or "3")


class LiveWeightSource:
    """Weights straight from the layer objects."""

    def __init__(self, model):
        self.model = model

    def layer_weights(self, entry: dict, position: int, count: int):
        layer = self.model.get_layer(entry.get("name") or (entry.get("config") or {}).get("name"))
        names = [getattr(v, "path", None) or getattr(v, "name", None) for v in layer.weights]
        return [(str(n) if n else None, np.asarray(a)) for n, a in zip(names, layer.get_weights())]

    def nested(self, entry: dict, position: int) -> "LiveWeightSource":
        return LiveWeightSource(self.model.get_layer(entry.get("name") or (entry.get("config") or {}).get("name")))


def from_keras_model(model) -> ModelSpec:
    """Convert a built Sequential or Functional Keras model object."""
    if not hasattr(model, "to_json") or not hasattr(model, "get_layer"):
        raise NpinferError(f"from_keras expects a Keras model, got {type(model).__name__}")
    try:
        text = model.to_json()
    except NotImplementedError:
        raise UnsupportedLayerError(
            f"{type(model).__name__} is a subclassed Keras model without a config; npinfer converts "
            "Sequential and Functional models"
        ) from None
    version = keras_version_of(model)
    source = {"framework": "keras", "version": version, "format": "in-memory"}
    return parse_model(json.loads(text), KerasContext(version), LiveWeightSource(model), source)
