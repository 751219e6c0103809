"""Importers: read a model file (recognised by its content, not its name) into a ModelSpec."""

from __future__ import annotations

import os
import zipfile

from ..errors import ModelFormatError, reading
from ..format import is_native, load_spec_npz
from ..limits import Limits
from ..spec import ModelSpec
from .hdf5 import HDF5_SIGNATURE
from .keras_h5 import load_keras_h5
from .keras_v3 import load_keras_v3

ZIP_SIGNATURE = b"PK\x03\x04"


def file_kind(path: str | os.PathLike) -> str:
    """"keras", "h5", "npz" (npinfer's), or "unknown", from the file's content."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
        if head.startswith(HDF5_SIGNATURE):
            return "h5"
        if head.startswith(ZIP_SIGNATURE):
            with zipfile.ZipFile(path) as archive:
                return "npz" if is_native(set(archive.namelist())) else "keras"
    except (OSError, zipfile.BadZipFile):
        pass
    return "unknown"


def load_spec(path: str | os.PathLike, limits: Limits | None = None) -> ModelSpec:
    """Read a `.keras`, Keras `.h5`, ONNX `.onnx` or npinfer `.npz` file into a ModelSpec (sizes checked against `limits`)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise ModelFormatError(
            "is a directory; a TensorFlow SavedModel is not supported: save the model with "
            "model.save('model.keras') (or 'model.h5')", path)
    try:
        with open(path, "rb") as handle:
            head = handle.read(8)
    except FileNotFoundError:
        raise ModelFormatError("no such file", path) from None
    except OSError as err:
        raise ModelFormatError(f"cannot be read ({err.strerror or err})", path) from None
    try:
        if head.startswith(HDF5_SIGNATURE):
            return load_keras_h5(path, limits)
        if head.startswith(ZIP_SIGNATURE):
            with reading(path, "the zip archive"), zipfile.ZipFile(path) as archive:
                names = set(archive.namelist())
            if is_native(names):
                return load_spec_npz(path, limits)
            return load_keras_v3(path, limits)
    except ModelFormatError as err:
        if err.path is None:
            raise ModelFormatError(str(err), path) from None
        raise
    if not head:
        raise ModelFormatError("the file is empty", path)
    if path.lower().endswith(".onnx") or head[:1] == b"\x08":  # ONNX has no signature; ModelProto starts with ir_version
        from .onnx_graph import load_onnx

        try:
            return load_onnx(path, limits)
        except ModelFormatError as err:
            if err.path is None:
                raise ModelFormatError(str(err), path) from None
            raise
    raise ModelFormatError(
        "is not a model file npinfer reads (a Keras .keras archive, a Keras .h5 file, an ONNX .onnx file, or an npinfer .npz)", path)
