"""NaN and inf propagate silently, as in Keras: NumPy's floating-point warnings are switched off
for the length of one predict call.

`np.errstate(all="ignore")` builds its error-state object on every entry (a noticeable part
of a batch-1 call of the article's model); NumPy 2 keeps the
state in a context variable, so the ignoring state is made once here and set and reset
directly. NumPy 1.x (no such variable) uses np.errstate.
"""

from __future__ import annotations

import numpy as np

try:  # NumPy 2: numpy._core.umath holds the context variable np.errstate sets
    from numpy._core.umath import _extobj_contextvar, _make_extobj

    _IGNORE = _make_extobj(all="ignore")
except ImportError:  # NumPy 1.x
    _extobj_contextvar = None


def run_quietly(function, *args):
    """function(*args) with NumPy's divide / overflow / invalid / underflow warnings off."""
    if _extobj_contextvar is None:
        with np.errstate(all="ignore"):
            return function(*args)
    token = _extobj_contextvar.set(_IGNORE)
    try:
        return function(*args)
    finally:
        _extobj_contextvar.reset(token)
