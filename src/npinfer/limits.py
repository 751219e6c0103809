"""Limits on what a model file may ask for, checked BEFORE anything is allocated.

Model files are untrusted input. A `.keras` archive can decompress to far more than its
size (a zip bomb), a config can be nested absurdly deep, and a weight can declare a shape
that would need more memory than the machine has. Each is refused with ModelFormatError.

    npinfer.load(path, limits=npinfer.Limits(max_weight_bytes=8 << 30))   # one call
    npinfer.limits.DEFAULT = npinfer.Limits(...)                          # every call
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import ModelFormatError


@dataclass(frozen=True)
class Limits:
    """Bounds for reading one model file (bytes unless said otherwise)."""

    max_weight_bytes: int = 4 << 30  # one weight array
    max_total_weight_bytes: int = 16 << 30  # all weight arrays together
    max_member_bytes: int = 16 << 30  # one decompressed zip member (.keras, .npz)
    max_compression_ratio: float = 1000.0  # decompressed / compressed size of a zip member over 1 MB
    max_config_bytes: int = 64 << 20  # config.json, model_config, npinfer_config
    max_config_depth: int = 100  # nesting of lists and objects in a config
    max_layers: int = 100_000


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


def check_depth(value: Any, limits: Limits, path: str, what: str) -> None:
    """Refuse JSON nested deeper than the limit (checked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limits.max_config_depth:
            raise ModelFormatError(f"{what} is nested more than {limits.max_config_depth} levels deep", path)
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)


class WeightBudget:
    """Counts declared weight sizes as a file is read; refuses one or all that are too large."""

    def __init__(self, limits: Limits, path: str):
        self.limits = limits
        self.path = path
        self.total = 0

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
        if self.total > self.limits.max_total_weight_bytes:
            raise ModelFormatError(f"the weights declare more than {self.limits.max_total_weight_bytes:,} bytes in all", self.path)
