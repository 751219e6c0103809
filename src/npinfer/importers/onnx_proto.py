"""A small protobuf reader for ONNX files, NumPy and the standard library only.

Reads the parts of onnx.proto npinfer uses: ModelProto (ir_version, opset_import, producer,
graph), GraphProto (node, initializer, input, output), NodeProto, AttributeProto (float,
int, bytes, tensor, graph and their lists), TensorProto (dims, data_type, raw_data and the
typed data fields, string_data as UTF-8) and ValueInfoProto (element type and shape). Everything else is skipped by
wire type, as protobuf readers do. The bytes are untrusted: every length is checked against
what is left, varints are at most 10 bytes, nesting is bounded, and a tensor's declared size is
checked against the Limits before its array is made.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

from ..errors import ModelFormatError
from ..limits import Limits

MAX_DEPTH = 32  # graphs inside attributes inside graphs (Loop / If bodies)

# TensorProto.DataType -> NumPy dtype (numbers and bools; strings are read apart, bfloat16 and float8 refused)
DTYPES = {1: np.float32, 2: np.uint8, 3: np.int8, 4: np.uint16, 5: np.int16, 6: np.int32, 7: np.int64, 9: np.bool_,
          10: np.float16, 11: np.float64, 12: np.uint32, 13: np.uint64}
DTYPE_NAMES = {0: "UNDEFINED", 8: "STRING", 14: "COMPLEX64", 15: "COMPLEX128", 16: "BFLOAT16"}
STRING = 8  # string tensors are read as NumPy object arrays of str (the tensor tier's string type)


class ProtoError(ValueError):
    """The bytes are not a well-formed message of the expected kind."""


def _fields(data: memoryview) -> list[tuple[int, int, object]]:
    """(field number, wire type, value) in order: ints for varint / fixed, memoryview for bytes."""
    out = []
    position, end = 0, len(data)
    while position < end:
        key, position = _varint(data, position)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ProtoError("field number 0")
        if wire == 0:
            value, position = _varint(data, position)
        elif wire == 1:
            if position + 8 > end:
                raise ProtoError("truncated 64-bit field")
            value = bytes(data[position : position + 8])
            position += 8
        elif wire == 2:
            length, position = _varint(data, position)
            if length > end - position:
                raise ProtoError(f"a field of {length} bytes with {end - position} left")
            value = data[position : position + length]
            position += length
        elif wire == 5:
            if position + 4 > end:
                raise ProtoError("truncated 32-bit field")
            value = bytes(data[position : position + 4])
            position += 4
        else:
            raise ProtoError(f"wire type {wire} (groups are not used by ONNX)")
        out.append((number, wire, value))
    return out


def _varint(data: memoryview, position: int) -> tuple[int, int]:
    result, shift = 0, 0
    for i in range(10):
        if position + i >= len(data):
            raise ProtoError("truncated varint")
        byte = data[position + i]
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position + i + 1
        shift += 7
    raise ProtoError("varint longer than 10 bytes")


def _signed(value: int) -> int:
    """int64 fields are two's complement in 64 bits."""
    return value - (1 << 64) if value >= 1 << 63 else value


def _text(value) -> str:
    if not isinstance(value, memoryview):
        raise ProtoError("a string field with the wrong wire type")
    return bytes(value).decode("utf-8", errors="replace")


def _ints(wire: int, value) -> list[int]:
    """A repeated int64 field: one varint, or a packed run of them."""
    if wire == 0:
        return [_signed(value)]
    if wire != 2:
        raise ProtoError("an integer field with the wrong wire type")
    out, position = [], 0
    while position < len(value):
        number, position = _varint(value, position)
        out.append(_signed(number))
    return out


def _floats(wire: int, value) -> list[float]:
    if wire == 5:
        return [struct.unpack("<f", value)[0]]
    if wire != 2 or len(value) % 4:
        raise ProtoError("a float field with the wrong wire type or length")
    return [float(v) for v in np.frombuffer(value, "<f4")]  # NaN payloads stay NaN, without a cast warning


def _double(wire: int, value) -> list[float]:
    if wire == 1:
        return [struct.unpack("<d", value)[0]]
    if wire != 2 or len(value) % 8:
        raise ProtoError("a double field with the wrong wire type or length")
    return np.frombuffer(value, "<f8").tolist()


def _message(wire: int, value) -> memoryview:
    if wire != 2:
        raise ProtoError("a message field with the wrong wire type")
    return value


# -- messages ---------------------------------------------------------------------------------

@dataclass
class Tensor:
    name: str
    dims: list[int]
    data_type: int
    array: np.ndarray


@dataclass
class ValueInfo:
    name: str
    elem_type: int | None
    shape: list | None  # ints and strings (dim_param), None for unknown dims; None if no shape
    kind: str = "tensor"  # or "sequence", "optional", "map", "sparse" (their element types are not read)


@dataclass
class Attribute:
    name: str
    value: object  # float, int, bytes, Tensor, Graph, or a list of them


@dataclass
class Node:
    op_type: str
    domain: str
    name: str
    inputs: list[str]
    outputs: list[str]
    attributes: dict[str, object] = field(default_factory=dict)


@dataclass
class Graph:
    name: str
    nodes: list[Node]
    initializers: dict[str, Tensor]
    inputs: list[ValueInfo]
    outputs: list[ValueInfo]


@dataclass
class ModelProto:
    ir_version: int
    opsets: dict[str, int]
    producer: str
    graph: Graph


class Reader:
    """Reads one file's messages, counting weight bytes against the limits."""

    def __init__(self, limits: Limits, path: str):
        self.limits = limits
        self.path = path
        self.total = 0

    def model(self, data: bytes) -> ModelProto:
        ir_version, opsets, producer, graph = 0, {}, "", None
        for number, wire, value in _fields(memoryview(data)):
            if number == 1 and wire == 0:
                ir_version = value
            elif number == 2:
                producer = _text(value)
            elif number == 7:
                graph = self.graph(_message(wire, value), 0)
            elif number == 8:
                domain, version = "", 1
                for n, w, v in _fields(_message(wire, value)):
                    if n == 1:
                        domain = _text(v)
                    elif n == 2 and w == 0:
                        version = _signed(v)
                opsets[domain or "ai.onnx"] = version
            elif number == 25:
                raise ModelFormatError("the ONNX model defines local functions, which npinfer does not support", self.path)
        if graph is None:
            raise ModelFormatError("is not an ONNX model (no graph)", self.path)
        return ModelProto(ir_version, opsets, producer, graph)

    def graph(self, data, depth: int) -> Graph:
        if depth > MAX_DEPTH:
            raise ModelFormatError(f"ONNX graphs are nested more than {MAX_DEPTH} deep", self.path)
        name, nodes, initializers, inputs, outputs = "", [], {}, [], []
        for number, wire, value in _fields(data):
            if number == 1:
                nodes.append(self.node(_message(wire, value), depth))
                if len(nodes) > self.limits.max_layers:
                    raise ModelFormatError(f"the ONNX graph has more than {self.limits.max_layers:,} nodes", self.path)
            elif number == 2:
                name = _text(value)
            elif number == 5:
                tensor = self.tensor(_message(wire, value))
                initializers[tensor.name] = tensor
            elif number == 11:
                inputs.append(self.value_info(_message(wire, value)))
            elif number == 12:
                outputs.append(self.value_info(_message(wire, value)))
            elif number == 15:
                raise ModelFormatError("the ONNX graph has sparse initializers, which npinfer does not support", self.path)
        return Graph(name, nodes, initializers, inputs, outputs)

    def node(self, data, depth: int) -> Node:
        node = Node("", "", "", [], [])
        for number, wire, value in _fields(data):
            if number == 1:
                node.inputs.append(_text(value))
            elif number == 2:
                node.outputs.append(_text(value))
            elif number == 3:
                node.name = _text(value)
            elif number == 4:
                node.op_type = _text(value)
            elif number == 7:
                node.domain = _text(value)
            elif number == 5:
                attribute = self.attribute(_message(wire, value), depth)
                node.attributes[attribute.name] = attribute.value
        return node

    def attribute(self, data, depth: int) -> Attribute:
        name, kind, single, lists = "", 0, {}, {}
        for number, wire, value in _fields(data):
            if number == 1:
                name = _text(value)
            elif number == 20 and wire == 0:
                kind = value
            elif number == 2:
                single["f"] = _floats(wire, value)[0]
            elif number == 3 and wire == 0:
                single["i"] = _signed(value)
            elif number == 4:
                single["s"] = bytes(_message(wire, value))
            elif number == 5:
                single["t"] = self.tensor(_message(wire, value))
            elif number == 6:
                single["g"] = self.graph(_message(wire, value), depth + 1)
            elif number == 7:
                lists.setdefault("floats", []).extend(_floats(wire, value))
            elif number == 8:
                lists.setdefault("ints", []).extend(_ints(wire, value))
            elif number == 9:
                lists.setdefault("strings", []).append(bytes(_message(wire, value)))
            elif number == 10:
                lists.setdefault("tensors", []).append(self.tensor(_message(wire, value)))
            elif number == 11:
                lists.setdefault("graphs", []).append(self.graph(_message(wire, value), depth + 1))
            elif number == 21:
                raise ModelFormatError(f"attribute '{_text(value)}' refers to a function attribute, which npinfer does not support", self.path)
        by_type = {1: "f", 2: "i", 3: "s", 4: "t", 5: "g", 6: "floats", 7: "ints", 8: "strings", 9: "tensors", 10: "graphs"}
        key = by_type.get(kind)
        if key is None:  # old files leave the type out: take whichever field is set
            present = list(single) + list(lists)
            key = present[0] if present else "ints"
        value = single.get(key) if key in ("f", "i", "s", "t", "g") else lists.get(key, [])
        if value is None:
            raise ModelFormatError(f"attribute '{name}' declares a value it does not hold", self.path)
        return Attribute(name, value)

    def value_info(self, data) -> ValueInfo:
        name, elem, shape, kind = "", None, None, "tensor"
        for number, wire, value in _fields(data):
            if number == 1:
                name = _text(value)
            elif number == 2:
                for n, w, v in _fields(_message(wire, value)):
                    if n in (4, 5, 8, 9):
                        kind = {4: "sequence", 5: "map", 8: "sparse", 9: "optional"}[n]
                    if n == 1:  # tensor_type
                        for n2, w2, v2 in _fields(_message(w, v)):
                            if n2 == 1 and w2 == 0:
                                elem = v2
                            elif n2 == 2:
                                shape = [self.dim(_message(w3, v3)) for n3, w3, v3 in _fields(_message(w2, v2)) if n3 == 1]
        return ValueInfo(name, elem, shape, kind)

    @staticmethod
    def dim(data):
        for number, wire, value in _fields(data):
            if number == 1 and wire == 0:
                return _signed(value)
            if number == 2:
                return _text(value)
        return None

    def tensor(self, data) -> Tensor:
        name, dims, data_type = "", [], 0
        raw, typed, strings = None, {}, []
        for number, wire, value in _fields(data):
            if number == 1:
                dims.extend(_ints(wire, value))
            elif number == 2 and wire == 0:
                data_type = value
            elif number == 8:
                name = _text(value)
            elif number == 9:
                raw = _message(wire, value)
            elif number in (4, 5, 7, 10, 11):
                typed.setdefault(number, []).append((wire, value))
            elif number == 6:
                strings.append(_message(wire, value))
            elif number == 13 or (number == 14 and wire == 0 and value == 1):
                raise ModelFormatError(f"tensor '{name}' keeps its data in an external file, which npinfer does not read", self.path)
        if data_type == STRING:
            return Tensor(name, dims, data_type, self._strings(name, dims, strings))
        dtype = DTYPES.get(data_type)
        if dtype is None:
            raise ModelFormatError(f"tensor '{name}' has data type {DTYPE_NAMES.get(data_type, data_type)}, which npinfer does not read", self.path)
        if any(d < 0 for d in dims):
            raise ModelFormatError(f"tensor '{name}' has negative dimensions {dims}", self.path)
        count = int(np.prod(dims, dtype=object)) if dims else 1
        size = count * np.dtype(dtype).itemsize
        if size > self.limits.max_weight_bytes:
            raise ModelFormatError(f"tensor '{name}' declares {size:,} bytes, over the limit of {self.limits.max_weight_bytes:,}", self.path)
        self.total += size
        if self.total > self.limits.max_total_weight_bytes:
            raise ModelFormatError(f"the tensors need more than {self.limits.max_total_weight_bytes:,} bytes together", self.path)
        if raw is not None:
            if len(raw) != size:
                raise ModelFormatError(f"tensor '{name}' declares {count} values of {np.dtype(dtype).name} but holds {len(raw)} bytes", self.path)
            array = np.frombuffer(raw, np.dtype(dtype).newbyteorder("<")).astype(dtype)
        else:
            array = self._typed(name, data_type, dtype, typed, count)
        return Tensor(name, dims, data_type, array.reshape(dims))

    def _strings(self, name: str, dims: list, strings: list) -> np.ndarray:
        """A string tensor (string_data, UTF-8) as a NumPy object array of str, as ONNX Runtime
        returns strings; its count and bytes are checked against the Limits like any tensor's."""
        if any(d < 0 for d in dims):
            raise ModelFormatError(f"tensor '{name}' has negative dimensions {dims}", self.path)
        count = int(np.prod(dims, dtype=object)) if dims else 1
        if count != len(strings):
            self._wrong(name, count, len(strings))
        size = count * np.dtype(object).itemsize + sum(len(v) for v in strings)
        if size > self.limits.max_weight_bytes:
            raise ModelFormatError(f"tensor '{name}' declares {size:,} bytes, over the limit of {self.limits.max_weight_bytes:,}", self.path)
        self.total += size
        if self.total > self.limits.max_total_weight_bytes:
            raise ModelFormatError(f"the tensors need more than {self.limits.max_total_weight_bytes:,} bytes together", self.path)
        array = np.empty(count, dtype=object)
        array[:] = [bytes(v).decode("utf-8", errors="replace") for v in strings]
        return array.reshape(dims)

    def _typed(self, name, data_type, dtype, typed, count) -> np.ndarray:
        if data_type == 1:
            values = [v for w, raw in typed.get(4, []) for v in _floats(w, raw)]
        elif data_type == 11:
            values = [v for w, raw in typed.get(10, []) for v in _double(w, raw)]
        elif data_type == 7:
            values = [v for w, raw in typed.get(7, []) for v in _ints(w, raw)]
        elif data_type in (12, 13):
            values = [v & ((1 << 64) - 1) for w, raw in typed.get(11, []) for v in _ints(w, raw)]
        elif data_type == 10:  # float16 bits in int32_data
            bits = [v for w, raw in typed.get(5, []) for v in _ints(w, raw)]
            return np.array(bits, np.uint16).view(np.float16) if len(bits) == count else self._wrong(name, count, len(bits))
        else:  # int32, int16, int8, uint16, uint8, bool: in int32_data
            values = [v for w, raw in typed.get(5, []) for v in _ints(w, raw)]
        if len(values) != count:
            self._wrong(name, count, len(values))
        try:
            return np.array(values, dtype=dtype)
        except OverflowError:
            raise ModelFormatError(f"tensor '{name}' holds values out of range for its type", self.path) from None

    def _wrong(self, name, count, got):
        raise ModelFormatError(f"tensor '{name}' declares {count} values but holds {got}", self.path)


def read_model(data: bytes, limits: Limits, path: str) -> ModelProto:
    """Parse ONNX ModelProto bytes (malformed bytes: ModelFormatError naming the file)."""
    try:
        return Reader(limits, path).model(data)
    except ProtoError as err:
        raise ModelFormatError(f"is not a well-formed ONNX file ({err})", path) from None


def all_nodes(graph: Graph):
    """The nodes of `graph` and of every graph inside their attributes (Loop bodies)."""
    for node in graph.nodes:
        yield node
        for value in node.attributes.values():
            for inner in value if isinstance(value, list) else [value]:
                if isinstance(inner, Graph):
                    yield from all_nodes(inner)
