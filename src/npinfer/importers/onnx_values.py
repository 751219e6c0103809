"""The values an ONNX graph's names take while npinfer converts it (shared by onnx_graph.py
and onnx_loop.py): run-time tensors, lists of sizes, and constant folding."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .onnx_proto import Graph


@dataclass(frozen=True)
class Tensor:
    ref: tuple
    shape: tuple


@dataclass(frozen=True)
class DimRef:
    tensor: Tensor
    axis: int


@dataclass(frozen=True)
class Sizes:
    """A 1-D (or, with scalar=True, 0-D) int64 value whose entries are ints or DimRefs."""

    entries: tuple
    scalar: bool = False

    def constant(self) -> np.ndarray | None:
        if all(isinstance(e, (int, np.integer)) for e in self.entries):
            values = np.array(self.entries, np.int64)
            return values.reshape(()) if self.scalar else values
        return None


def as_sizes(value) -> Sizes | None:
    if isinstance(value, Sizes):
        return value
    if isinstance(value, np.ndarray) and value.dtype.kind in "iu" and value.ndim <= 1:
        return Sizes(tuple(int(v) for v in value.ravel()), value.ndim == 0)
    return None


def fold(c, function, args, what: str):
    """Compute an operator on constants (and constant size lists) here, once."""
    values = []
    for a in args:
        if a is None:
            values.append(None)
            continue
        sizes = as_sizes(a) if not isinstance(a, np.ndarray) else None
        if isinstance(a, np.ndarray):
            values.append(a)
        elif sizes is not None and sizes.constant() is not None:
            values.append(sizes.constant())
        else:
            return None
    arrays = [v for v in values if v is not None]
    try:
        shape = np.broadcast_shapes(*(np.shape(v) for v in arrays))
    except ValueError:
        shape = None  # not an element-wise shape; the function says what is wrong
    if shape is not None:
        c.admit(shape, np.result_type(*arrays) if arrays else np.float32, f"folds {what} into a constant")
    return np.asarray(function(*values))  # 0-d results stay arrays (NumPy returns scalars)


def all_constant(args) -> bool:
    return all(a is None or isinstance(a, np.ndarray) or (isinstance(a, Sizes) and a.constant() is not None) for a in args)


def all_nodes(graph: Graph):
    """The nodes of `graph` and of every graph inside their attributes (Loop bodies)."""
    for node in graph.nodes:
        yield node
        for value in node.attributes.values():
            for inner in value if isinstance(value, list) else [value]:
                if isinstance(inner, Graph):
                    yield from all_nodes(inner)


def text(value, default=None):
    """An attribute's text (ONNX stores strings as bytes)."""
    if value is None:
        return default
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value
