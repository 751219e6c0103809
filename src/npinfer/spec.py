"""The model spec: what every importer produces and the native format stores.

Plain JSON-able configs plus named float arrays; no framework objects. A tensor is named
by a reference (layer name, call index, output index), as Keras names them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

TensorRef = tuple  # (layer_name: str, node_index: int, tensor_index: int)


@dataclass
class LayerSpec:
    """One layer: its canonical config, its weights by name, and the inputs of each call."""

    name: str
    class_name: str
    config: dict
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    inbound: list[list[TensorRef]] = field(default_factory=list)  # one list of input refs per call


@dataclass
class ModelSpec:
    """A whole model: layers, which tensors are the inputs and outputs, and where it came from."""

    name: str
    layers: list[LayerSpec]
    inputs: list[TensorRef]
    outputs: list[TensorRef]
    source: dict = field(default_factory=dict)  # e.g. {"framework": "keras", "version": "3.15.1", "format": ".keras"}
