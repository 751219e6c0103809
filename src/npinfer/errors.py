"""One exception hierarchy: every error npinfer raises on purpose is an NpinferError."""

from __future__ import annotations

import contextlib
from typing import Iterator


class NpinferError(Exception):
    """Base class of every error npinfer raises on purpose."""


class ModelFormatError(NpinferError):
    """A model file is missing, truncated, corrupt, or is not a model npinfer can read."""

    def __init__(self, message: str, path: str | None = None):
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)


class UnsupportedLayerError(NpinferError):
    """The model uses a layer class npinfer does not implement."""


class UnsupportedOptionError(NpinferError):
    """A supported layer uses an option value npinfer does not implement."""


class InputError(NpinferError, ValueError):
    """Data given to predict (or read from an input file) is not what the model expects."""


class ResourceLimitError(InputError):
    """One predict call would need more memory for activations than Limits.max_activation_bytes
    allows (or than the machine has): the message names the layer, the shape and the bytes."""


class InputShapeError(InputError):
    """An input array has the wrong rank or size; the message says expected and got."""


@contextlib.contextmanager
def naming_file(path) -> Iterator[None]:
    """Every NpinferError raised inside names the file `path` (prefixed, unless it already does)."""
    try:
        yield
    except NpinferError as err:
        text = str(err)
        name = str(path)
        if name not in text:
            err.args = (f"{name}: {text}",) + err.args[1:]
        if isinstance(err, ModelFormatError) and err.path is None:
            err.path = name
        raise


@contextlib.contextmanager
def reading(path: str, what: str = "file") -> Iterator[None]:
    """Turn any unexpected failure while parsing the untrusted file `path` into a ModelFormatError.

    NpinferErrors pass through unchanged. Used around every parser of model files: zip, HDF5
    and npz readers raise many kinds of exceptions on corrupt input."""
    try:
        yield
    except ImportError as err:
        if not _raised_by_pyfive(err):  # a bug in npinfer or its install: never blamed on the file
            raise
        # pyfive decodes an HDF5 filter (LZF) only with an optional package: the file uses a compression we do not read
        raise ModelFormatError(f"{what} stores data with an HDF5 compression filter npinfer cannot decode ({err}); "
                               "npinfer reads uncompressed, gzip- and shuffle-filtered datasets: re-save the model "
                               "without compression (Keras does by default)", path) from None
    except (NpinferError, NameError):  # ours, or a bug in npinfer: never blamed on the file
        raise
    except MemoryError:
        raise ModelFormatError(f"{what} asks for more memory than is available; it is corrupt or not a model", path) from None
    except RecursionError:
        raise ModelFormatError(f"{what} is nested too deeply; it is corrupt", path) from None
    except Exception as err:  # the readers raise many kinds of errors on corrupt input
        raise ModelFormatError(f"{what} is truncated or corrupt ({type(err).__name__}: {err})", path) from None


def _raised_by_pyfive(err: BaseException) -> bool:
    """Whether the innermost frame of err's traceback is in the pyfive package (the HDF5 reader)."""
    import os

    tb = err.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and f"{os.sep}pyfive{os.sep}" in tb.tb_frame.f_code.co_filename
