"""One exception hierarchy: every error npinfer raises on purpose is an NpinferError."""

from __future__ import annotations


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
