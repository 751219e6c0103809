"""Scratch buffers reused across time steps and calls, one set per thread.

Fresh large arrays are slow (page faults on new memory: a large product written into a
fresh array takes many times longer than into a reused buffer), so the recurrent layers keep
their input projection and step buffers. Buffers never leave a layer: anything
returned to the caller is a fresh array or a copy. Per thread, so one Model can serve many
threads at once.
"""

from __future__ import annotations

import threading
import weakref

import numpy as np

_local = threading.local()


def _mine(owner: object) -> dict:
    cache = getattr(_local, "buffers", None)
    if cache is None:
        cache = _local.buffers = weakref.WeakKeyDictionary()
    mine = cache.get(owner)
    if mine is None:
        mine = cache[owner] = {}
    return mine


def cached(owner: object, key, make):
    """An object made by make() once per (owner, key) in this thread (e.g. a step kernel)."""
    mine = _mine(owner)
    value = mine.get(key)
    if value is None:
        value = mine[key] = make()
    return value


def buffer(owner: object, name: str, shape: tuple, dtype) -> np.ndarray:
    """An uninitialised array of `shape` kept for (owner, name) in this thread (freed with owner)."""
    mine = _mine(owner)
    array = mine.get(name)
    if array is None or array.shape != shape or array.dtype != dtype:
        array = mine[name] = np.empty(shape, dtype)
    return array
