"""Refusal messages importers share."""

from __future__ import annotations

from ...errors import UnsupportedOptionError


def option_refused(where, option: str, value, supported: str) -> UnsupportedOptionError:
    """`where`'s `option`=`value` is not supported; `where` a name (F.max_pool2d, ...) or an object
    (a torch module: its class names it)."""
    name = where if isinstance(where, str) else type(where).__name__
    return UnsupportedOptionError(f"{name}: {option}={value!r} is not supported; supported: {supported}")
