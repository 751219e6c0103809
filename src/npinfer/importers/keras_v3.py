"""Keras 3 `.keras` archives (also written by tf.keras >= 2.13): a zip of `config.json`,
`metadata.json` and `model.weights.h5`.

In `model.weights.h5` a layer's weights live under `layers/<snake_case class>[_k]`, where
k counts earlier layers of the same class in `model.layers` order (Keras's saving_lib does
not use layer names, which are not reproducible). Within a layer: `vars/0..n`, then its
sub-objects, which `layer_variables` visits in Keras's weight order (`cell/vars` of a
recurrent layer, `cell/cells/<snake class>[_k]` of stacked cells, `forward_layer` then
`backward_layer` of Bidirectional, `layer` of TimeDistributed, the query / key / value /
output dense layers of MultiHeadAttention).
"""

from __future__ import annotations

import re
import zipfile

import numpy as np

from ..errors import ModelFormatError, reading
from ..limits import Limits, WeightBudget, check_config_size, check_member, current, parse_json, read_member
from ..spec import ModelSpec
from .hdf5 import attr_text, child, open_hdf5, read_array
from .keras_config import parse_model
from .keras_layers import KerasContext


def snake_case(name: str) -> str:
    """Keras's naming.to_snake_case: 'SimpleRNN' -> 'simple_rnn', 'InputLayer' -> 'input_layer'."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def unique_snake_names(class_names: list) -> list[str]:
    """Keras's container naming: snake_case class names, "_1", "_2"... for repeats, in order."""
    used: dict[str, int] = {}
    names = []
    for class_name in class_names:
        base = snake_case(str(class_name))
        if base in used:
            used[base] += 1
            names.append(f"{base}_{used[base]}")
        else:
            used[base] = 0
            names.append(base)
    return names


def layer_paths(config: dict) -> list[str]:
    """Weight-file path of each entry of `model.layers`, in order."""
    body = config.get("config") if isinstance(config, dict) else None
    entries = body.get("layers") if isinstance(body, dict) else body
    if not isinstance(entries, list):
        return []
    classes = [e.get("class_name") if isinstance(e, dict) else None for e in entries]
    if config.get("class_name") == "Sequential" and classes and classes[0] == "InputLayer":
        classes = classes[1:]  # Sequential.layers leaves out its InputLayer
    return [f"layers/{name}" for name in unique_snake_names(classes)]


def own_variables(group, where: str, budget=None) -> list[tuple[None, np.ndarray]]:
    """The variables saved directly on one object: its `vars/0..n`."""
    own = child(group, "vars") if group is not None else None
    if own is None:
        return []
    keys = list(own.keys())
    if any(not k.isdigit() for k in keys):
        raise ModelFormatError(f"{where}/vars has a member that is not a variable index")
    return [(None, read_array(own[k], f"{where}/vars/{k}", budget)) for k in sorted(keys, key=int)]


def _sub(group, *names):
    for name in names:
        found = child(group, name) if group is not None else None
        if found is not None:
            return found
    return None


def layer_variables(group, entry: dict, where: str, budget=None) -> list[tuple[None, np.ndarray]]:
    """All variables of one layer, in Keras's weight order, following the layer's structure."""
    class_name = entry.get("class_name")
    config = entry.get("config") if isinstance(entry.get("config"), dict) else {}
    out = own_variables(group, where, budget)
    if class_name in ("SimpleRNN", "LSTM", "GRU", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"):
        out += own_variables(_sub(group, "cell"), f"{where}/cell", budget)
    elif class_name == "RNN":
        out += cell_variables(_sub(group, "cell"), config.get("cell"), f"{where}/cell", budget)
    elif class_name == "Bidirectional":
        forward = config.get("layer") if isinstance(config.get("layer"), dict) else {}
        backward = config.get("backward_layer") if isinstance(config.get("backward_layer"), dict) else forward
        out += layer_variables(_sub(group, "forward_layer"), forward, f"{where}/forward_layer", budget)
        out += layer_variables(_sub(group, "backward_layer"), backward, f"{where}/backward_layer", budget)
    elif class_name == "TimeDistributed":
        inner = config.get("layer") if isinstance(config.get("layer"), dict) else {}
        out += layer_variables(_sub(group, "layer"), inner, f"{where}/layer", budget)
    elif class_name == "MultiHeadAttention":  # Keras 3 names the sub-layers query_dense..., tf.keras _query_dense...
        for part in ("query", "key", "value", "output"):
            out += own_variables(_sub(group, f"{part}_dense", f"_{part}_dense"), f"{where}/{part}_dense", budget)
    return out


def cell_variables(group, cell, where: str, budget=None) -> list[tuple[None, np.ndarray]]:
    """Variables of an RNN's cell; stacked cells live under cell/cells/<snake class>[_k] in order."""
    cells = None
    if isinstance(cell, list):
        cells = cell
    elif isinstance(cell, dict) and cell.get("class_name") == "StackedRNNCells":
        cells = (cell.get("config") or {}).get("cells") if isinstance(cell.get("config"), dict) else None
    if cells is None:
        return own_variables(group, where, budget)
    container = _sub(group, "cells")
    names = unique_snake_names([c.get("class_name") if isinstance(c, dict) else None for c in cells])
    return [v for name in names for v in own_variables(_sub(container, name), f"{where}/cells/{name}", budget)]


class KerasV3WeightSource:
    """Weights of each layer, found by its position and class in `model.layers`."""

    def __init__(self, root, config: dict, path: str, budget: WeightBudget):
        self.root = root
        self.paths = layer_paths(config)
        self.path = path
        self.budget = budget

    def _group(self, entry: dict, position: int):
        name = entry.get("name") or (entry.get("config") or {}).get("name")
        if position >= len(self.paths):
            raise ModelFormatError(f"layer '{name}' has no place in the weights file", self.path)
        layer_path = self.paths[position]
        group = self.root
        for part in layer_path.split("/"):
            group = child(group, part) if group is not None else None
        if group is not None and child(group, "vars") is not None:
            saved_name = attr_text(child(group, "vars"), "name")
            if saved_name is not None and saved_name != name:
                raise ModelFormatError(
                    f"weights at '{layer_path}' belong to layer '{saved_name}', not '{name}'; the archive is inconsistent", self.path
                )
        return group, layer_path

    def layer_weights(self, entry: dict, position: int, count: int):
        group, layer_path = self._group(entry, position)
        return layer_variables(group, entry, layer_path, self.budget) if group is not None else []

    def nested(self, entry: dict, position: int):
        group, _ = self._group(entry, position)
        if group is None:
            raise ModelFormatError(f"the nested model '{entry.get('name')}' has no weights in the archive", self.path)
        return KerasV3WeightSource(group, entry, self.path, self.budget)


def read_archive(path: str, limits: Limits) -> tuple[dict, dict, bytes]:
    """(config, metadata, weights file bytes) from a `.keras` zip; sizes checked before reading."""
    with reading(path, "the .keras archive"), zipfile.ZipFile(path) as archive:
        infos = {info.filename: info for info in archive.infolist()}
        for info in infos.values():
            check_member(info.filename, info.file_size, info.compress_size, limits, path)
        for name in ("config.json", "metadata.json"):
            if name in infos:
                check_config_size(infos[name].file_size, limits, path, name)
        names = set(infos)
        if "config.json" not in names:
            raise ModelFormatError("this zip file is not a Keras model (no config.json)", path)
        if "model.weights.h5" not in names:
            found = ", ".join(sorted(n for n in names if n.startswith("model.weights"))) or "none"
            raise ModelFormatError(f"the archive has no model.weights.h5 (weights files found: {found})", path)
        config_bytes = read_member(archive, infos["config.json"], limits, path)
        metadata_bytes = read_member(archive, infos["metadata.json"], limits, path) if "metadata.json" in names else b"{}"
        weights = read_member(archive, infos["model.weights.h5"], limits, path)
    config = parse_json(config_bytes, limits, path, "config.json")
    metadata = parse_json(metadata_bytes, limits, path, "metadata.json")
    if not isinstance(metadata, dict):
        metadata = {}
    return config, metadata, weights


def load_keras_v3(path: str, limits: Limits | None = None) -> ModelSpec:
    """Read a `.keras` archive into a ModelSpec."""
    limits = current(limits)
    config, metadata, weights = read_archive(path, limits)
    version = str(metadata.get("keras_version", "3"))
    root = open_hdf5(weights, path)
    with reading(path, "the .keras archive"):
        source = {"framework": "keras", "version": version, "format": ".keras"}
        return parse_model(config, KerasContext(version), KerasV3WeightSource(root, config, path, WeightBudget(limits, path)),
                           source, limits)
