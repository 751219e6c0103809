"""Limits on what a model file may ask for, checked BEFORE anything is allocated.

Model files are untrusted input. A `.keras` archive can decompress to far more than its
size (a zip bomb), a config can be nested absurdly deep, and a weight can declare a shape
that would need more memory than the machine has. Each is refused with ModelFormatError.

    npinfer.load(path, limits=npinfer.Limits(max_weight_bytes=8 << 30))   # one call
    npinfer.limits.DEFAULT = npinfer.Limits(...)                          # every call
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from .errors import ModelFormatError


@dataclass(frozen=True)
class Limits:
    """Bounds for reading one model file (bytes unless said otherwise)."""

    max_weight_bytes: int = 4 << 30  # one weight array
    max_total_weight_bytes: int = 16 << 30  # all weight arrays together
    max_member_bytes: int = 16 << 30  # one decompressed zip member (.keras, .npz)
    max_compression_ratio: float = 1000.0  # decompressed / compressed size of a zip member over 1 MB
    max_config_bytes: int = 32 << 20  # config.json, model_config, npinfer_config
    max_config_containers: int = 2_000_000  # lists and objects in one config (each costs ~60 bytes parsed)
    max_config_depth: int = 100  # nesting of lists and objects in a config
    max_layers: int = 100_000
    load_allowance_bytes: int = 64 << 20  # what any file may make npinfer allocate while loading, beyond ...
    load_bytes_per_file_byte: float = 64.0  # ... this many bytes per byte of the file (weights, folded constants)
    max_evaluated_nodes: int = 250_000  # ONNX nodes converted while loading, each pass of an unrolled Loop counted
    max_run_nodes: int = 1_000_000  # ONNX nodes one predict call evaluates on the tensor tier, Loop / Scan passes counted
    # the largest activation one predict call may make (all of its batch); NPINFER_MAX_ACTIVATION_BYTES sets the default
    max_activation_bytes: int = field(default_factory=lambda: _environment_bytes("NPINFER_MAX_ACTIVATION_BYTES", 4 << 30))


def _environment_bytes(name: str, default: int) -> int:
    """A byte count from the environment (a positive integer), else the default."""
    text = os.environ.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{name}={text!r} is not a whole number of bytes") from None
    if value < 1:
        raise ValueError(f"{name}={text!r} must be positive")
    return value


DEFAULT = Limits()


def current(limits: Limits | None) -> Limits:
    return limits if limits is not None else DEFAULT


def check_member(name: str, size: int, compressed: int, limits: Limits, path: str) -> None:
    """Refuse a zip member whose declared size is too large or too compressed."""
    if size > limits.max_member_bytes:
        raise ModelFormatError(f"archive member {name} declares {size:,} bytes, over the limit of {limits.max_member_bytes:,}", path)
    if size > (1 << 20) and size > limits.max_compression_ratio * max(compressed, 1):
        raise ModelFormatError(
            f"archive member {name} would expand {size / max(compressed, 1):,.0f} times (limit {limits.max_compression_ratio:,.0f}); "
            "refusing a possible zip bomb", path)


def check_config_size(size: int, limits: Limits, path: str, what: str) -> None:
    """Refuse a config (JSON text) larger than the limit."""
    if size > limits.max_config_bytes:
        raise ModelFormatError(f"{what} is {size:,} bytes, over the limit of {limits.max_config_bytes:,}", path)


def parse_json(data: bytes | str, limits: Limits, path: str, what: str) -> Any:
    """Parse a config read from a file: its size, its count of lists and objects (what parsing
    turns into Python objects, counted in the text first) and its nesting checked, and any
    malformation refused with a ModelFormatError naming `what`."""
    import json

    check_config_size(len(data), limits, path, what)
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    containers = raw.count(b"[") + raw.count(b"{")  # an upper bound: brackets inside strings count too
    if containers > limits.max_config_containers:
        raise ModelFormatError(f"{what} holds up to {containers:,} lists and objects, over the limit of "
                               f"{limits.max_config_containers:,} (Limits.max_config_containers)", path)
    try:
        value = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ModelFormatError(f"{what} is not valid JSON ({err})", path) from None
    except RecursionError:
        raise ModelFormatError(f"{what} is nested more than {limits.max_config_depth} levels deep", path) from None
    check_depth(value, limits, path, what)
    return value


def check_depth(value: Any, limits: Limits, path: str, what: str) -> None:
    """Refuse JSON nested deeper than the limit (checked level by level without recursion; a
    level holds only the lists and objects at that depth)."""
    level = [value] if isinstance(value, (dict, list)) else []
    depth = 0
    while level:
        depth += 1
        if depth > limits.max_config_depth:
            raise ModelFormatError(f"{what} is nested more than {limits.max_config_depth} levels deep", path)
        level = [v for c in level for v in (c.values() if type(c) is dict else c) if type(v) in (dict, list)]


def read_member(archive, info, limits: Limits, path: str) -> bytes:
    """A zip member's bytes, decompressed 1 MiB at a time and never past the size its header
    declares (which check_member has admitted): a deflate stream that expands further than its
    header says cannot make npinfer hold more."""
    chunks, total = [], 0
    with archive.open(info) as member:
        while True:
            chunk = member.read(1 << 20)
            if not chunk:
                break
            total += len(chunk)
            if total > info.file_size:
                raise ModelFormatError(f"archive member {info.filename} holds more than the {info.file_size:,} bytes "
                                       "its header declares", path)
            chunks.append(chunk)
    return b"".join(chunks)


def file_size(path) -> int | None:
    """Bytes of the file at `path`, or None when it is not a regular file (a live model)."""
    import stat

    try:
        status = os.stat(path)
    except (OSError, TypeError, ValueError):
        return None
    return status.st_size if stat.S_ISREG(status.st_mode) else None


class WeightBudget:
    """Counts declared sizes (weights, and constants folded while loading) as a file is read,
    before anything is allocated; refuses one or all that are too large. A file of N bytes may
    make npinfer allocate load_allowance_bytes + load_bytes_per_file_byte * N in all (an HDF5
    dataset declared large but never written, or compressed zeros, cannot pass as small)."""

    def __init__(self, limits: Limits, path: str):
        self.limits = limits
        self.path = path
        self.total = 0
        size = file_size(path)
        self.allowed = limits.max_total_weight_bytes
        if size is not None:
            self.allowed = min(self.allowed, int(limits.load_allowance_bytes + limits.load_bytes_per_file_byte * size))
        self.file_bytes = size

    def admit(self, shape: tuple, itemsize: int, where: str) -> None:
        count = 1
        for dim in shape:
            if not isinstance(dim, int) or dim < 0:
                raise ModelFormatError(f"{where} declares an invalid shape {shape}", self.path)
            count *= dim
        size = count * itemsize
        if size > self.limits.max_weight_bytes:
            raise ModelFormatError(f"{where} declares shape {shape} ({size:,} bytes), over the limit of "
                                   f"{self.limits.max_weight_bytes:,} bytes per weight", self.path)
        self.total += size
        if self.total > self.allowed:
            if self.allowed < self.limits.max_total_weight_bytes:
                raise ModelFormatError(
                    f"{where} brings what loading this {self.file_bytes:,}-byte file allocates to {self.total:,} bytes, "
                    f"more than a file of its size may ({self.limits.load_allowance_bytes:,} + "
                    f"{self.limits.load_bytes_per_file_byte:g} x its size; Limits.load_bytes_per_file_byte)", self.path)
            raise ModelFormatError(f"the weights declare more than {self.limits.max_total_weight_bytes:,} bytes in all", self.path)
