"""Importers: read a model file (recognised by its content, not its name) into a ModelSpec."""

from __future__ import annotations

import os
import stat
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


def load_spec(path: str | os.PathLike, limits: Limits | None = None, tensor_tier: bool = False):
    """Read a `.keras`, Keras `.h5`, ONNX `.onnx` or npinfer `.npz` file into a ModelSpec (sizes checked against `limits`).

    With `tensor_tier`, an ONNX graph the layer tier refuses comes back as a ready
    ops.model.TypedModel instead (npinfer.load asks for that; `npinfer convert` does not)."""
    if not isinstance(path, (str, os.PathLike)):
        raise ModelFormatError(f"npinfer.load takes the path of a model file (str or os.PathLike), not {path!r}"[:200])
    path = os.fspath(path)
    if os.path.isdir(path):
        raise ModelFormatError(
            "is a directory; a TensorFlow SavedModel is not supported: save the model with "
            "model.save('model.keras') (or 'model.h5')", path)
    try:
        if not stat.S_ISREG(os.stat(path).st_mode):  # /dev/zero, a FIFO, a socket: no size to check, maybe no end
            raise ModelFormatError("is not a regular file (a device, pipe or socket); npinfer reads model files", path)
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
            _refuse_torch_archive(names, path)
            return load_keras_v3(path, limits)
    except ModelFormatError as err:
        if err.path is None:
            raise ModelFormatError(str(err), path) from None
        raise
    if not head:
        raise ModelFormatError("the file is empty", path)
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        raise ModelFormatError(f"is a Python pickle (a PyTorch file saved before torch 1.6, or a pickled model); "
                               f"npinfer never unpickles files. {_TORCH_WAYS}", path)
    if os.path.basename(path).lower() in ("saved_model.pb", "saved_model.pbtxt") or path.lower().endswith((".pb", ".pbtxt")):
        raise ModelFormatError(
            "is a TensorFlow SavedModel (saved_model.pb) or GraphDef file; npinfer does not read TensorFlow graphs: "
            "save the Keras model with model.save('model.keras') (or 'model.h5'), or convert it to ONNX with tf2onnx", path)
    if path.lower().endswith(".onnx") or head[:1] == b"\x08":  # ONNX has no signature; ModelProto starts with ir_version
        from .onnx_graph import load_onnx

        try:
            return load_onnx(path, limits, tensor_tier)
        except ModelFormatError as err:
            if err.path is None:
                raise ModelFormatError(str(err), path) from None
            raise
    raise ModelFormatError(
        "is not a model file npinfer reads (a Keras .keras archive, a Keras .h5 file, an ONNX .onnx file, or an npinfer .npz)", path)


_TORCH_WAYS = ("Two ways in: where torch is installed, npinfer.from_torch(module, example_input).save('model.npz'); "
               "or torch.onnx.export(module, example_input, 'model.onnx') and load the .onnx")


def _refuse_torch_archive(names: set[str], path: str) -> None:
    """A zip that is a PyTorch checkpoint (torch.save, .pt / .pth) or a TorchScript module
    (torch.jit.save) is named as such: npinfer never unpickles its data.pkl."""
    pickles = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
    if not pickles or "config.json" in names:
        return
    scripted = any(n.endswith("/constants.pkl") or "/code/" in n for n in names)
    kind = "a TorchScript module (torch.jit.save)" if scripted else "a PyTorch file (torch.save, .pt / .pth)"
    raise ModelFormatError(f"is {kind}: its contents are Python pickles, which npinfer never unpickles. {_TORCH_WAYS}", path)
