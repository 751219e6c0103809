"""Keras 3 `.keras` archives (also written by tf.keras >= 2.13): a zip of `config.json`,
`metadata.json` and `model.weights.h5`.

In `model.weights.h5` a layer's weights live under `layers/<snake_case class>[_k]`, where
k counts earlier layers of the same class in `model.layers` order (Keras's saving_lib does
not use layer names, which are not reproducible). Within a layer: `vars/0..n`, then its
sub-objects (`cell/vars/...` for recurrent layers) in attribute-name order.
"""

from __future__ import annotations

import json
import re
import zipfile

import numpy as np

from ..errors import ModelFormatError, reading
from ..spec import ModelSpec
from .hdf5 import attr_text, child, is_group, open_hdf5, read_array
from .keras_config import parse_model
from .keras_layers import KerasContext


def snake_case(name: str) -> str:
    """Keras's naming.to_snake_case: 'SimpleRNN' -> 'simple_rnn', 'InputLayer' -> 'input_layer'."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def layer_paths(config: dict) -> list[str]:
    """Weight-file path of each entry of `model.layers`, in order."""
    body = config.get("config") if isinstance(config, dict) else None
    entries = body.get("layers") if isinstance(body, dict) else body
    if not isinstance(entries, list):
        return []
    classes = [e.get("class_name") if isinstance(e, dict) else None for e in entries]
    if config.get("class_name") == "Sequential" and classes and classes[0] == "InputLayer":
        classes = classes[1:]  # Sequential.layers leaves out its InputLayer
    used: dict[str, int] = {}
    paths = []
    for class_name in classes:
        base = snake_case(str(class_name))
        if base in used:
            used[base] += 1
            paths.append(f"layers/{base}_{used[base]}")
        else:
            used[base] = 0
            paths.append(f"layers/{base}")
    return paths


def _attribute_order(key: str) -> str:
    return f"~{key}" if key.startswith("_") else key  # Keras visits private attributes last


def collect_variables(group, where: str) -> list[tuple[None, np.ndarray]]:
    """All variables saved under one layer's group, in Keras's saving order."""
    out = []
    own = child(group, "vars")
    if own is not None:
        keys = sorted(own.keys(), key=lambda k: int(k) if k.isdigit() else -1)
        if any(not k.isdigit() for k in keys):
            raise ModelFormatError(f"{where}/vars has a member that is not a variable index")
        out += [(None, read_array(own[k], f"{where}/vars/{k}")) for k in keys]
    for key in sorted((k for k in group.keys() if k != "vars"), key=_attribute_order):
        sub = group[key]
        if is_group(sub):
            out += collect_variables(sub, f"{where}/{key}")
    return out


class KerasV3WeightSource:
    """Weights of each layer, found by its position and class in `model.layers`."""

    def __init__(self, root, config: dict, path: str):
        self.root = root
        self.paths = layer_paths(config)
        self.path = path

    def layer_weights(self, name: str, class_name: str, position: int):
        if position >= len(self.paths):
            raise ModelFormatError(f"layer '{name}' has no place in the weights file", self.path)
        layer_path = self.paths[position]
        group = self.root
        for part in layer_path.split("/"):
            group = child(group, part) if group is not None else None
        if group is None:
            return []
        saved_name = attr_text(child(group, "vars"), "name") if child(group, "vars") is not None else None
        if saved_name is not None and saved_name != name:
            raise ModelFormatError(
                f"weights at '{layer_path}' belong to layer '{saved_name}', not '{name}'; the archive is inconsistent", self.path
            )
        return collect_variables(group, layer_path)


def read_archive(path: str) -> tuple[dict, dict, bytes]:
    """(config, metadata, weights file bytes) from a `.keras` zip."""
    with reading(path, "the .keras archive"), zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        if "config.json" not in names:
            raise ModelFormatError("this zip file is not a Keras model (no config.json)", path)
        if "model.weights.h5" not in names:
            found = ", ".join(sorted(n for n in names if n.startswith("model.weights"))) or "none"
            raise ModelFormatError(f"the archive has no model.weights.h5 (weights files found: {found})", path)
        config_bytes = archive.read("config.json")
        metadata_bytes = archive.read("metadata.json") if "metadata.json" in names else b"{}"
        weights = archive.read("model.weights.h5")
    try:
        config = json.loads(config_bytes)
        metadata = json.loads(metadata_bytes)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ModelFormatError(f"config.json or metadata.json is not valid JSON ({err})", path) from None
    if not isinstance(metadata, dict):
        metadata = {}
    return config, metadata, weights


def load_keras_v3(path: str) -> ModelSpec:
    """Read a `.keras` archive into a ModelSpec."""
    config, metadata, weights = read_archive(path)
    version = str(metadata.get("keras_version", "3"))
    root = open_hdf5(weights, path)
    with reading(path, "the .keras archive"):
        source = {"framework": "keras", "version": version, "format": ".keras"}
        return parse_model(config, KerasContext(version), KerasV3WeightSource(root, config, path), source)
