"""The values a graph's names take while an importer converts it: run-time tensors, sizes
known only at run time, lists of sizes, parameters, tensors made only when read; and constant
folding (an operator on constants is computed once, while loading)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Tensor:
    """A run-time tensor: `ref` (layer, call, output) and its shape as far as it is known
    (a size None where it is known only at run time; the whole shape None where even the rank is)."""

    ref: tuple
    shape: tuple | None

    @property
    def rank(self) -> int:
        """The number of axes, -1 when unknown."""
        return -1 if self.shape is None else len(self.shape)

    @classmethod
    def of_rank(cls, ref: tuple, rank: int) -> Tensor:
        """A tensor of which only the rank is known (-1: not even that)."""
        return cls(ref, None if rank < 0 else (None,) * rank)


@dataclass(frozen=True)
class DimRef:
    """The size of axis `axis` of `tensor`, known only at run time (ONNX Shape entries, torch x.size(k))."""

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


@dataclass(frozen=True)
class Uniform:
    """A tensor filled with one size (ONNX Expand of a size over a shape): tf2onnx's sequence lengths."""

    entry: object
    shape: Sizes


@dataclass(frozen=True)
class Const:
    """A named parameter or buffer of the model (torch's get_attr)."""

    array: np.ndarray
    name: str


class Lazy:
    """A tensor made only if something reads it (h_n, c_n of a recurrent module)."""

    def __init__(self, make: Callable[[], tuple], rank: int):
        self.make, self.rank, self.value = make, rank, None


def as_sizes(value) -> Sizes | None:
    if isinstance(value, Sizes):
        return value
    if isinstance(value, np.ndarray) and value.dtype.kind in "iu" and value.ndim <= 1:
        return Sizes(tuple(int(v) for v in value.ravel()), value.ndim == 0)
    return None


def fold(c, function, args, what: str):
    """Compute an operator on constants (and constant size lists) here, once; `c.admit` counts
    the result against the load budget first."""
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


def text(value, default=None):
    """An attribute's text (ONNX and TensorFlow store strings as bytes)."""
    if value is None:
        return default
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value
