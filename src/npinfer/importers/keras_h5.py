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
from .keras_config import MODEL_CLASSES, parse_model
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

    def nested(self, entry: dict, position: int) -> "NestedWeightSource":
        return NestedWeightSource(self.layer_weights(entry, position, 0), entry, self.path)


class NestedWeightSource:
    """A nested model's weights in a `.h5` file: one list for all its layers (and the layers of
    the models nested in it), shared by them all.

    Keras writes that list as the model's trainable weights, then its non-trainable ones
    (BatchNormalization's moving statistics, frozen layers), so a layer's weights need not be
    consecutive. Each weight's saved name starts with its layer's name, after the names of the
    models it was built in (Keras 3: "seq/dense_2/kernel", tf.keras: "dense_2/kernel:0"): each
    layer takes the weights that carry its name, in order. Two layers of one name in the tree
    cannot be told apart and are refused by name. Files whose weight names carry no layer
    name (Keras 1) are handed out in order."""

    def __init__(self, weights: list, model: dict, path: str):
        self.weights = list(weights)
        self.taken = [False] * len(self.weights)
        self.owner = str(model.get("name") or (model.get("config") or {}).get("name"))
        self.path = path
        self.models, layers = _names_in(model)
        self.repeated = {n for n in layers if layers.count(n) > 1}
        self.named = bool(self.weights) and all(isinstance(n, str) and "/" in n for n, _ in self.weights)

    def layer_weights(self, entry: dict, position: int, count: int):
        name = str(entry.get("name") or (entry.get("config") or {}).get("name"))
        if not self.named:
            mine = [i for i, taken in enumerate(self.taken) if not taken][:count]
        else:
            mine = [i for i, (saved, _) in enumerate(self.weights) if not self.taken[i] and self._owner_of(saved) == name][:count]
            if mine and name in self.repeated:
                raise ModelFormatError(
                    f"the nested model '{self.owner}' holds two layers named '{name}'; a .h5 file tells their weights "
                    "apart by layer name only: save the model as .keras", self.path)
        for i in mine:
            self.taken[i] = True
        return [self.weights[i] for i in mine]

    def _owner_of(self, saved: str) -> str:
        """The layer a saved weight name belongs to: its first part after the enclosing models' names."""
        parts = saved.split("/")[:-1]
        while len(parts) > 1 and parts[0] in self.models:
            parts = parts[1:]
        return parts[0] if parts else ""

    def nested(self, entry: dict, position: int) -> "NestedWeightSource":
        return self


def _names_in(model: dict) -> tuple[set, list]:
    """(names of the models, names of the other layers) in a model config and the models nested in it."""
    body = model.get("config")
    models, layers = {str(model.get("name") or (body.get("name") if isinstance(body, dict) else ""))}, []
    entries = body.get("layers") if isinstance(body, dict) else body
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        config = entry.get("config") if isinstance(entry.get("config"), dict) else {}
        name = str(entry.get("name") or config.get("name"))
        if entry.get("class_name") in MODEL_CLASSES:
            inner_models, inner_layers = _names_in(entry)
            models |= inner_models | {name}
            layers += inner_layers
        elif entry.get("class_name") != "InputLayer":
            layers.append(name)
    return models, layers


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
