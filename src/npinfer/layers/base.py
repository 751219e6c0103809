"""The Layer base class: one NumPy layer built from a canonical config and named weights."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ..errors import ModelFormatError, UnsupportedOptionError

Shape = tuple  # (None, 4, 3): batch first; None marks a size known only at predict time

REQUIRED = object()  # marks an option without a default


class Layer:
    """Base of every NumPy layer.

    Subclasses declare ``OPTIONS`` (canonical option name -> default, or ``REQUIRED``),
    ``weight_names(config)`` (in the framework's saving order), ``build`` (validates weights
    against the input shapes and returns the output shapes) and ``call``.
    """

    OPTIONS: ClassVar[dict[str, Any]] = {}

    def __init__(self, name: str, class_name: str, config: dict, weights: dict[str, np.ndarray], dtype):
        self.name = name
        self.class_name = class_name
        self.dtype = np.dtype(dtype)
        self.config = self._fill_options(config)
        expected = list(self.weight_names(self.config))
        if sorted(weights) != sorted(expected):
            raise ModelFormatError(
                f"layer '{name}' ({class_name}) has weights {sorted(weights)}, expected {expected}"
            )
        self.weights = {k: _as_float_array(v, self.dtype, name, k) for k, v in weights.items()}
        self.input_shapes: list[Shape] = []
        self.output_shapes: list[Shape] = []

    @classmethod
    def weight_names(cls, config: dict) -> list[str]:
        """Names of this layer's weights, in the order the framework saves them."""
        return []

    def build(self, input_shapes: list[Shape]) -> list[Shape]:
        """Check the weights against the input shapes; return the output shapes."""
        raise NotImplementedError

    def call(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """Compute the outputs for a list of input arrays (batch first)."""
        raise NotImplementedError

    # -- helpers for subclasses ---------------------------------------------------------

    def setup(self, input_shapes: list[Shape]) -> list[Shape]:
        """Run `build` once and remember the shapes (the model calls this)."""
        self.input_shapes = [tuple(s) for s in input_shapes]
        self.output_shapes = [tuple(s) for s in self.build(self.input_shapes)]
        return self.output_shapes

    @property
    def param_count(self) -> int:
        """Number of scalar weights, as Keras counts parameters."""
        return int(sum(w.size for w in self.weights.values()))

    def expect_inputs(self, input_shapes: list[Shape], count: int | None = 1, min_rank: int = 1,
                      rank: int | None = None) -> None:
        """Refuse a wrong number of inputs or a wrong rank (ModelFormatError)."""
        if count is not None and len(input_shapes) != count:
            raise ModelFormatError(f"layer '{self.name}' ({self.class_name}) takes {count} input(s), got {len(input_shapes)}")
        for shape in input_shapes:
            if rank is not None and len(shape) != rank:
                raise ModelFormatError(
                    f"layer '{self.name}' ({self.class_name}) needs rank-{rank} input (batch first), "
                    f"got shape {format_shape(shape)}"
                )
            if len(shape) < min_rank:
                raise ModelFormatError(f"layer '{self.name}' ({self.class_name}) needs input of rank >= {min_rank}, got {format_shape(shape)}")

    def expect_weight(self, key: str, shape: tuple) -> None:
        """Refuse a weight whose shape is not `shape` (ModelFormatError)."""
        got = self.weights[key].shape
        if got != tuple(shape):
            raise ModelFormatError(
                f"layer '{self.name}' ({self.class_name}): weight '{key}' has shape {got}, expected {tuple(shape)}"
            )

    def refuse(self, option: str, value: Any, supported: str) -> UnsupportedOptionError:
        """Build the error for an option value this layer does not implement."""
        return UnsupportedOptionError(
            f"layer '{self.name}' ({self.class_name}): {option}={value!r} is not supported; supported: {supported}"
        )

    def _fill_options(self, config: dict) -> dict:
        unknown = set(config) - set(self.OPTIONS)
        if unknown:
            raise UnsupportedOptionError(
                f"layer '{self.name}' ({self.class_name}): option(s) {sorted(unknown)} not supported; "
                f"supported: {sorted(self.OPTIONS) or 'none'}"
            )
        full = {}
        for key, default in self.OPTIONS.items():
            if key in config:
                full[key] = config[key]
            elif default is REQUIRED:
                raise ModelFormatError(f"layer '{self.name}' ({self.class_name}) is missing option '{key}'")
            else:
                full[key] = default
        return full


def _as_float_array(value, dtype: np.dtype, layer: str, key: str) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype.kind not in "fiu":
        raise ModelFormatError(f"layer '{layer}': weight '{key}' has dtype {array.dtype}, expected numbers")
    return np.ascontiguousarray(array, dtype=dtype)


def format_shape(shape: Shape) -> str:
    """Shape as Keras prints it: (None, 4, 3)."""
    return "(" + ", ".join("None" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"


def require_bool(layer: Layer, key: str) -> bool:
    """Return option `key` if it is a bool, else refuse it."""
    value = layer.config[key]
    if not isinstance(value, bool):
        raise layer.refuse(key, value, "true or false")
    return value


def require_positive_int(layer: Layer, key: str) -> int:
    """Return option `key` if it is an int >= 1, else refuse it."""
    value = layer.config[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise layer.refuse(key, value, "a positive integer")
    return value
