"""What flows between typed operators: NumPy arrays (any ONNX element type, rank 0 included),
sequences of arrays, and optionals. ONNX element type codes map to NumPy dtypes here, once."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..importers.onnx_proto import DTYPE_NAMES, DTYPES

# TensorProto.DataType -> the ONNX name users see in messages
ONNX_NAMES = {1: "float", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64", 8: "string", 9: "bool",
              10: "float16", 11: "double", 12: "uint32", 13: "uint64", 14: "complex64", 15: "complex128", 16: "bfloat16",
              17: "float8e4m3fn", 18: "float8e4m3fnuz", 19: "float8e5m2", 20: "float8e5m2fnuz", 21: "uint4", 22: "int4",
              23: "float4e2m1", 24: "float8e8m0"}
STRING = np.dtype(object)  # ONNX string tensors: object arrays of str, as ONNX Runtime returns them
CODES = {np.dtype(dtype): code for code, dtype in DTYPES.items()} | {STRING: 8}
FLOATS = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))
SIGNED = tuple(np.dtype(t) for t in (np.int8, np.int16, np.int32, np.int64))
UNSIGNED = tuple(np.dtype(t) for t in (np.uint8, np.uint16, np.uint32, np.uint64))
INTEGERS = SIGNED + UNSIGNED
NUMBERS = FLOATS + INTEGERS


def numpy_dtype(code: int, what: str) -> np.dtype:
    """The NumPy dtype of ONNX element type `code`, or a refusal naming `what` and the type."""
    from ..errors import UnsupportedOptionError

    if code == 8:
        return STRING
    dtype = DTYPES.get(code)
    if dtype is None:
        name = ONNX_NAMES.get(code, DTYPE_NAMES.get(code, f"element type {code}"))
        raise UnsupportedOptionError(
            f"{what} is {name}; npinfer computes bool, int8/16/32/64, uint8/16/32/64, float16, float, double and string")
    return np.dtype(dtype)


def type_name(dtype) -> str:
    """The ONNX name of a NumPy dtype ("float", "int64", ...)."""
    code = CODES.get(np.dtype(dtype))
    return ONNX_NAMES[code] if code is not None else str(np.dtype(dtype))


@dataclass
class SequenceValue:
    """An ONNX sequence: a list of tensors of one element type (possibly empty)."""

    items: list
    dtype: np.dtype | None = None  # the element type, known even when the sequence is empty
    # the items' bytes together, where an operator has counted them (items never change after)
    nbytes: int | None = field(default=None, repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.items)


@dataclass
class OptionalValue:
    """An ONNX optional: a tensor or sequence, or None (no value)."""

    value: object


def describe(value) -> str:
    """A value's type and shape for messages: "int64[2, 3]", "sequence<float>", "optional"."""
    if isinstance(value, np.ndarray):
        return f"{type_name(value.dtype)}{list(value.shape)}"
    if isinstance(value, SequenceValue):
        return f"sequence<{type_name(value.dtype) if value.dtype is not None else '?'}> of {len(value.items)}"
    if isinstance(value, OptionalValue):
        return "optional(empty)" if value.value is None else f"optional({describe(value.value)})"
    return type(value).__name__
