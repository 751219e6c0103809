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


class InputShapeError(InputError):
    """An input array has the wrong rank or size; the message says expected and got."""


@contextlib.contextmanager
def reading(path: str, what: str = "file") -> Iterator[None]:
    """Turn any unexpected failure while parsing the untrusted file `path` into a ModelFormatError.

    NpinferErrors pass through unchanged. Used around every parser of model files: zip, HDF5
    and npz readers raise many kinds of exceptions on corrupt input."""
    try:
        yield
    except (NpinferError, NameError, ImportError):  # ours, or a bug in npinfer: never blamed on the file
        raise
    except MemoryError:
        raise ModelFormatError(f"{what} asks for more memory than is available; it is corrupt or not a model", path) from None
    except RecursionError:
        raise ModelFormatError(f"{what} is nested too deeply; it is corrupt", path) from None
    except Exception as err:  # the readers raise many kinds of errors on corrupt input
        raise ModelFormatError(f"{what} is truncated or corrupt ({type(err).__name__}: {err})", path) from None
