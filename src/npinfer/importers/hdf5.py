"""Reading HDF5 with pyfive (pure Python, NumPy only), imported lazily.

Files are untrusted: anything pyfive raises on a corrupt file becomes a ModelFormatError
naming the file. h5py is never imported.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from ..errors import ModelFormatError, reading

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


def open_hdf5(source: str | bytes, path: str):
    """Open an HDF5 file (a path, or its bytes) with pyfive."""
    import pyfive  # lazy: only reading .h5/.keras needs it

    from .pyfive_compat import patch_global_heap

    patch_global_heap()

    with reading(path, "HDF5 file"):
        if isinstance(source, bytes):
            if not source.startswith(HDF5_SIGNATURE):
                raise ModelFormatError("the weights file is not HDF5", path)
            return pyfive.File(io.BytesIO(source))
        return pyfive.File(source)


def is_group(obj: Any) -> bool:
    """True for an HDF5 group (has members), False for a dataset."""
    return hasattr(obj, "keys") and not hasattr(obj, "shape")


def child(group, key: str):
    """group[key] or None when absent."""
    try:
        return group[key] if key in group else None
    except KeyError:
        return None


def attr_text(obj, key: str) -> str | None:
    """A string attribute (pyfive gives bytes or str depending on version), or None."""
    value = obj.attrs.get(key) if hasattr(obj, "attrs") else None
    if value is None:
        return None
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value[()]
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, str):
        return value
    raise ModelFormatError(f"attribute '{key}' is not text")


def attr_texts(obj, key: str) -> list[str] | None:
    """A list-of-strings attribute (e.g. Keras's weight_names), or None."""
    value = obj.attrs.get(key) if hasattr(obj, "attrs") else None
    if value is None:
        return None
    items = np.asarray(value).ravel().tolist()  # an empty list is stored as float64[0]
    out = []
    for item in items:
        if isinstance(item, bytes):
            item = item.decode("utf-8")
        if not isinstance(item, str):
            raise ModelFormatError(f"attribute '{key}' is not a list of names")
        out.append(item)
    return out


def read_array(dataset, where: str, budget=None) -> np.ndarray:
    """The values of a numeric dataset; its declared size is checked against `budget` first."""
    if is_group(dataset):
        raise ModelFormatError(f"{where} is a group where a weight array belongs")
    if budget is not None:
        dtype = np.dtype(dataset.dtype)
        if dtype.kind not in "fiu":
            raise ModelFormatError(f"{where} holds {dtype} values, not numbers")
        budget.admit(tuple(int(d) for d in dataset.shape), dtype.itemsize, where)
    array = np.asarray(dataset[()])
    if array.dtype.kind not in "fiu":
        raise ModelFormatError(f"{where} holds {array.dtype} values, not numbers")
    return array
