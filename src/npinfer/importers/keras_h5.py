"""Legacy Keras `.h5` model files, as written by tf.keras / Keras 2 and by Keras 3.

Layout: root attribute `model_config` (JSON) and `keras_version`; weights under
`model_weights/<layer name>/`, whose attribute `weight_names` lists them in order.
"""

from __future__ import annotations


import numpy as np

from ..errors import ModelFormatError, reading
from ..limits import Limits, WeightBudget, current, parse_json
from ..spec import ModelSpec
from .hdf5 import attr_text, attr_texts, child, open_hdf5, read_array
from .keras_config import parse_model
from .keras_layers import KerasContext


class H5WeightSource:
    """Weights of each layer, found by layer name under `model_weights`."""

    def __init__(self, weights_group, path: str, budget: WeightBudget):
        self.group = weights_group
        self.path = path
        self.budget = budget

    def layer_weights(self, entry: dict, position: int, count: int) -> list[tuple[str | None, np.ndarray]]:
        name = entry.get("name") or (entry.get("config") or {}).get("name")
        group = child(self.group, str(name))
        if group is None:
            return []
        out = []
        for weight_name in attr_texts(group, "weight_names") or []:
            dataset = child(group, weight_name)
            if dataset is None:
                raise ModelFormatError(f"weight '{weight_name}' of layer '{name}' is listed but missing", self.path)
            out.append((weight_name, read_array(dataset, f"weight '{weight_name}'", self.budget)))
        return out

    def nested(self, entry: dict, position: int) -> "SequenceWeightSource":
        return SequenceWeightSource(self.layer_weights(entry, position, 0), str(entry.get("name")), self.path)


class SequenceWeightSource:
    """A nested model's weights in a `.h5` file: one list for all its layers, handed out in order."""

    def __init__(self, weights: list, owner: str, path: str):
        self.weights = list(weights)
        self.owner = owner
        self.path = path

    def layer_weights(self, entry: dict, position: int, count: int):
        if count > len(self.weights):
            raise ModelFormatError(f"the nested model '{self.owner}' has too few saved weights", self.path)
        taken, self.weights = self.weights[:count], self.weights[count:]
        return taken

    def nested(self, entry: dict, position: int) -> "SequenceWeightSource":
        return self


def load_keras_h5(path: str, limits: Limits | None = None) -> ModelSpec:
    """Read a Keras `.h5` model file into a ModelSpec."""
    limits = current(limits)
    root = open_hdf5(path, path)
    with reading(path, "the .h5 file"):
        text = attr_text(root, "model_config")
        if text is None:
            if child(root, "layers") is not None or "layer_names" in root.attrs:
                raise ModelFormatError(
                    "this .h5 file holds weights only (model.save_weights); npinfer needs the whole model: "
                    "save it with model.save('model.keras') or model.save('model.h5')", path)
            raise ModelFormatError("this HDF5 file is not a Keras model (it has no model_config)", path)
        config = parse_json(text, limits, path, "the model_config")
        version = attr_text(root, "keras_version") or "2"
        weights_group = child(root, "model_weights")
        if weights_group is None:
            raise ModelFormatError("the .h5 file has a model config but no model_weights group", path)
        source = {"framework": "keras", "version": version, "format": ".h5"}
        return parse_model(config, KerasContext(version), H5WeightSource(weights_group, path, WeightBudget(limits, path)),
                           source, limits)
