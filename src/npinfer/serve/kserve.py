"""KServe v2 (Open Inference Protocol) infer requests and responses, JSON and Triton's binary
tensor extension (Inference-Header-Content-Length, binary_data_size, binary_data_output)."""

from __future__ import annotations

import json
import math

import numpy as np

from . import datatypes
from .errors import bad_request

HEADER_LENGTH = "inference-header-content-length"


class InferRequest:
    """A parsed infer request: the arrays by input name, which outputs to return and how."""

    __slots__ = ("arrays", "binary_default", "id", "outputs")

    def __init__(self, id, arrays: dict, outputs: list | None, binary_default: bool):
        self.id = id
        self.arrays = arrays  # {input name: ndarray}
        self.outputs = outputs  # [(name, binary or None)] or None for every output
        self.binary_default = binary_default


def parse_infer(body: bytes, header_length: str | None, model) -> InferRequest:
    """The request in `body` (JSON, or a JSON header of `header_length` bytes and binary tensors)."""
    if header_length is None:
        header, binary = body, b""
    else:
        try:
            size = int(header_length)
        except ValueError:
            raise bad_request(f"Inference-Header-Content-Length {header_length!r} is not an integer") from None
        if not 0 < size <= len(body):
            raise bad_request(f"Inference-Header-Content-Length {size} is outside the body of {len(body)} bytes")
        header, binary = body[:size], memoryview(body)[size:]
    request = parse_json(header)
    if not isinstance(request, dict):
        raise bad_request("the infer request must be a JSON object")
    parameters = _parameters(request.get("parameters"), "request")
    if "classification" in parameters or "class_count" in parameters:
        raise bad_request("the classification extension (class_count) is not supported")
    inputs = request.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise bad_request("'inputs' must be a non-empty list of tensors")
    by_name = {info.name: info for info in model.inputs}
    arrays, offset = {}, 0
    for tensor in inputs:
        if not isinstance(tensor, dict):
            raise bad_request("each input must be an object {name, shape, datatype, data}")
        name = tensor.get("name")
        if name not in by_name:
            raise bad_request(f"unknown input {name!r}; the model's inputs: {', '.join(by_name)}")
        if name in arrays:
            raise bad_request(f"input '{name}' is given twice")
        dtype = datatypes.check(tensor.get("datatype"), name, by_name[name].dtype)
        shape = _shape(tensor.get("shape"), name)
        size = _parameters(tensor.get("parameters"), f"input '{name}'").get("binary_data_size")
        if size is not None:
            arrays[name], offset = _from_binary(binary, offset, size, shape, dtype, name)
        elif "data" not in tensor:
            raise bad_request(f"input '{name}' has neither 'data' nor binary_data_size")
        else:
            arrays[name] = _from_json(tensor["data"], shape, dtype, name)
    if offset != len(binary):
        raise bad_request(f"the body holds {len(binary) - offset} bytes after the tensors it declares")
    missing = [n for n in by_name if n not in arrays]
    if missing:
        raise bad_request(f"missing input(s) {', '.join(missing)}; the model's inputs: {', '.join(by_name)}")
    binary_default = parameters.get("binary_data_output", False)
    if not isinstance(binary_default, bool):
        raise bad_request("parameter binary_data_output must be true or false")
    return InferRequest(request.get("id"), arrays, _requested(request.get("outputs"), model), binary_default)


def parse_json(data: bytes):
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as err:
        raise bad_request(f"the body is not valid JSON ({err})") from None


def _parameters(value, where: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise bad_request(f"{where}: 'parameters' must be an object")
    return value


def _shape(value, name: str) -> tuple:
    if not isinstance(value, list) or not all(type(d) is int and d >= 0 for d in value):
        raise bad_request(f"input '{name}': 'shape' must be a list of non-negative integers, got {value!r}")
    return tuple(value)


def _from_json(data, shape: tuple, dtype: np.dtype, name: str) -> np.ndarray:
    """A tensor from JSON data, nested or flat (row-major), checked against its shape."""
    try:
        array = np.asarray(data)
    except (ValueError, TypeError):
        raise bad_request(f"input '{name}': 'data' is not a rectangular list of numbers") from None
    kind = array.dtype.kind
    if kind not in "biuf" or (kind == "b") != (dtype.kind == "b") or (kind == "f" and dtype.kind in "iu"):
        got = {"U": "strings", "O": "ragged or mixed data", "b": "booleans", "f": "non-integers"}.get(kind, "numbers")
        raise bad_request(f"input '{name}': datatype {datatypes.NAMES[dtype]} but 'data' holds {got}")
    if array.size != math.prod(shape):
        raise bad_request(f"input '{name}': shape {list(shape)} needs {math.prod(shape)} values, 'data' holds {array.size}")
    return array.astype(dtype, copy=False).reshape(shape)


def _from_binary(binary, offset: int, size, shape: tuple, dtype: np.dtype, name: str):
    if type(size) is not int or size < 0:
        raise bad_request(f"input '{name}': binary_data_size must be a non-negative integer")
    need = math.prod(shape) * dtype.itemsize
    if size != need:
        raise bad_request(f"input '{name}': shape {list(shape)} of {datatypes.NAMES[dtype]} is {need} bytes, binary_data_size says {size}")
    if offset + size > len(binary):
        raise bad_request(f"input '{name}': the body ends before its {size} bytes of binary data")
    array = np.frombuffer(binary[offset : offset + size], dtype=dtype).reshape(shape)
    return array, offset + size


def _requested(outputs, model) -> list | None:
    if outputs is None:
        return None
    if not isinstance(outputs, list):
        raise bad_request("'outputs' must be a list of {name, parameters}")
    names = model.output_names if hasattr(model, "output_names") else [o.name for o in model.outputs]
    wanted = []
    for item in outputs:
        name = item.get("name") if isinstance(item, dict) else None
        if name not in names:
            raise bad_request(f"unknown output {name!r}; the model's outputs: {', '.join(names)}")
        parameters = _parameters(item.get("parameters"), f"output '{name}'")
        if parameters.get("class_count"):
            raise bad_request("the classification extension (class_count) is not supported")
        binary = parameters.get("binary_data")
        if binary is not None and not isinstance(binary, bool):
            raise bad_request(f"output '{name}': binary_data must be true or false")
        wanted.append((name, binary))
    return wanted


def encode_infer(request: InferRequest, names: list, results: list, model_name: str, version: str):
    """(body, headers) of the response: JSON, or a JSON header followed by binary tensors."""
    by_name = dict(zip(names, results))
    wanted = request.outputs if request.outputs is not None else [(n, None) for n in names]
    outputs, chunks = [], []
    for name, binary in wanted:
        array = np.asarray(by_name[name])
        datatype = datatypes.datatype_of(array.dtype)
        tensor = {"name": name, "datatype": datatype, "shape": list(array.shape)}
        if request.binary_default if binary is None else binary:
            raw = np.ascontiguousarray(array, dtype=datatypes.DTYPES[datatype]).tobytes()
            tensor["parameters"] = {"binary_data_size": len(raw)}
            chunks.append(raw)
        else:
            tensor["data"] = array.ravel().tolist()
        outputs.append(tensor)
    answer = {"model_name": model_name, "model_version": version, "outputs": outputs}
    if request.id is not None:
        answer["id"] = request.id
    header = json.dumps(answer).encode()
    if not chunks:
        return header, {"content-type": "application/json"}
    return b"".join([header, *chunks]), {"content-type": "application/octet-stream", HEADER_LENGTH: str(len(header))}


def metadata(model, name: str, version: str) -> dict:
    """GET /v2/models/{name}: inputs and outputs with datatypes and shapes (-1 where free)."""
    def tensors(infos, dtype_of):
        return [{"name": t.name, "datatype": datatypes.datatype_of(dtype_of(t)), "shape": [-1 if d is None else d for d in t.shape]}
                for t in infos]
    return {"name": name, "versions": [version], "platform": "npinfer",
            "inputs": tensors(model.inputs, lambda t: np.dtype(t.dtype)),
            "outputs": tensors(model.outputs, lambda t: np.dtype(t.dtype))}
