"""ONNX operators, strings and text: StringConcat, StringSplit, StringNormalizer (tensor tier),
and RegexFullMatch refused by name. Strings are NumPy object arrays of str (ops/values.py).
Semantics follow ONNX Runtime's CPU kernels (cpu/text/); see ops/registry.py for the contract."""

from __future__ import annotations

import numpy as np

from .elementwise import broadcast
from .registry import Call, operator
from .values import STRING, type_name


def _strings(call: Call, x: np.ndarray, what: str = "its input") -> np.ndarray:
    """`x` checked to be an ONNX string tensor (an object array of str)."""
    if x.dtype != STRING:
        raise call.malformed(f"takes a string tensor as {what}, not {type_name(x.dtype)}")
    return x


@operator("StringConcat")
def string_concat(call: Call, x, y):
    """Z = X + Y elementwise, broadcast as NumPy does."""
    _strings(call, x), _strings(call, y)
    shape = broadcast(call, x, y)
    flat = np.empty(int(np.prod(shape, dtype=np.int64)), STRING)  # (elements,)
    for i, (a, b) in enumerate(zip(*(np.broadcast_to(v, shape).reshape(-1) for v in (x, y)))):
        flat[i] = a + b
    return flat.reshape(shape)


# -- StringSplit ---------------------------------------------------------------------------

def split_one(text: str, delimiter: str, maxsplit: int) -> list:
    """The substrings of `text` as ONNX Runtime's StringSplit gives them: an empty string has
    none; with no delimiter, runs of spaces (' ' only, as ORT) separate and the ends are trimmed
    (the last piece after `maxsplit` splits too); a negative `maxsplit` means no limit."""
    if not text:
        return []
    limit = maxsplit if maxsplit >= 0 else -1
    if delimiter:
        return text.split(delimiter, limit)
    pieces = [p for p in text.split(" ", limit if limit < 0 else -1) if p]
    if limit >= 0 and len(pieces) > limit + 1:
        # the rest after `limit` splits: from the start of the next piece to the last non-space
        rest = text.strip(" ")
        for piece in pieces[:limit]:
            rest = rest[len(piece):].lstrip(" ")
        pieces = pieces[:limit] + [rest]
    return pieces


@operator("StringSplit", attributes=("delimiter", "maxsplit"))
def string_split(call: Call, x):
    """Y: the substrings of each element, padded with "" to the longest count (shape X + [n]);
    Z: how many substrings each element has (int64, X's shape)."""
    _strings(call, x)
    delimiter = call.string("delimiter", "")
    maxsplit = int(call.attr("maxsplit", -1))
    pieces = [split_one(s, delimiter, maxsplit) for s in x.reshape(-1)]
    counts = np.array([len(p) for p in pieces], np.int64).reshape(x.shape)
    width = int(counts.max(initial=0))
    shape = call.admit(x.shape + (width,), STRING, "its substrings")
    out = np.full((len(pieces), width), "", STRING)
    for row, piece in zip(out, pieces):
        row[:len(piece)] = piece
    return out.reshape(shape), counts


# -- RegexFullMatch ------------------------------------------------------------------------

@operator("RegexFullMatch", attributes=("pattern",))
def regex_full_match(call: Call, x):
    """Refused: the pattern comes from the model file, and a regular expression run by a
    backtracking engine (Python's re) can take exponential time on crafted input (ReDoS);
    npinfer has no linear-time RE2 engine."""
    raise call.refuse("a regular expression from the model file can take exponential time on some inputs (ReDoS) in "
                      "Python's backtracking re module, and npinfer has no linear-time RE2 engine")
