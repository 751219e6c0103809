"""KServe v2 / Triton datatypes: names, NumPy dtypes, and which a model input can take."""

from __future__ import annotations

import numpy as np

from .errors import bad_request

# KServe v2 datatype name -> NumPy dtype (little-endian, as Triton's binary extension sends them)
DTYPES = {
    "BOOL": np.dtype(np.bool_),
    "INT8": np.dtype("<i1"), "INT16": np.dtype("<i2"), "INT32": np.dtype("<i4"), "INT64": np.dtype("<i8"),
    "UINT8": np.dtype("<u1"), "UINT16": np.dtype("<u2"), "UINT32": np.dtype("<u4"), "UINT64": np.dtype("<u8"),
    "FP16": np.dtype("<f2"), "FP32": np.dtype("<f4"), "FP64": np.dtype("<f8"),
}
NAMES = {dtype: name for name, dtype in DTYPES.items()}
INTEGERS = tuple(n for n in DTYPES if "INT" in n)
FLOATS = ("FP16", "FP32", "FP64")


def datatype_of(dtype) -> str:
    """The KServe datatype name of a NumPy dtype (model outputs, metadata)."""
    dtype = np.dtype(dtype).newbyteorder("<") if np.dtype(dtype).byteorder == ">" else np.dtype(dtype)
    try:
        return NAMES[dtype]
    except KeyError:
        raise bad_request(f"dtype {dtype} has no KServe datatype") from None


def accepted(model_dtype: str) -> tuple[str, ...]:
    """The datatypes an input of `model_dtype` takes: floats take any number (cast to the
    model's dtype, as Model.predict does), integer inputs (token ids) take integers only."""
    if "int" in model_dtype:
        return INTEGERS
    return FLOATS + INTEGERS


def check(datatype, input_name: str, model_dtype: str) -> np.dtype:
    """The NumPy dtype for `datatype` sent to input `input_name`, or a 400 naming both."""
    if not isinstance(datatype, str) or datatype not in DTYPES:
        known = "" if isinstance(datatype, str) and datatype == "BYTES" else f"; known: {', '.join(DTYPES)}"
        raise bad_request(f"input '{input_name}': datatype {datatype!r} is not supported{known}")
    if datatype not in accepted(model_dtype):
        raise bad_request(f"input '{input_name}' takes {model_dtype}: datatype {datatype} is refused "
                          f"(accepted: {', '.join(accepted(model_dtype))})")
    return DTYPES[datatype]
