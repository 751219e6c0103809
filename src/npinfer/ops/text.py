"""ONNX operators, strings and text: StringConcat, StringSplit, StringNormalizer (tensor tier),
and RegexFullMatch refused by name. Strings are NumPy object arrays of str (ops/values.py).
Semantics follow ONNX Runtime's CPU kernels (cpu/text/); see ops/registry.py for the contract."""

from __future__ import annotations

import numpy as np

from ..errors import InputError
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


# -- StringNormalizer ----------------------------------------------------------------------

# locales whose case mapping npinfer reproduces: glibc's UTF-8 locales map each code point
# alone (Unicode's simple case mapping); "C" / "POSIX" change ASCII letters only
UNICODE_LOCALES = ("en_US.UTF-8", "en_US.utf8", "C.UTF-8", "C.utf8")  # en_US.UTF-8: ORT's default on Linux
ASCII_LOCALES = ("C", "POSIX")


def _simple_upper(c: str) -> str:
    up = c.upper()
    if len(up) == 1:
        return up
    title = c.title()  # e.g. U+1F80: full uppercase is two letters, the simple one is its titlecase
    return title if len(title) == 1 else c


def _simple_lower(c: str) -> str:
    low = c.lower()
    return low if len(low) == 1 else ("i" if c == "\u0130" else c)


def change_case(text: str, upper: bool, ascii_only: bool) -> str:
    """`text` upper- or lowercased code point by code point, as C's towupper / towlower do (no
    "SS" for "ß", no final sigma)."""
    if ascii_only:
        table = _ASCII_UPPER if upper else _ASCII_LOWER
        return text.translate(table)
    full = text.upper() if upper else text.lower()
    if len(full) == len(text) and (upper or "\u03a3" not in text):  # each letter mapped to one: the same result
        return full
    one = _simple_upper if upper else _simple_lower
    return "".join(one(c) for c in text)


_ASCII_UPPER = {c: c - 32 for c in range(ord("a"), ord("z") + 1)}
_ASCII_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}


@operator("StringNormalizer", attributes=("case_change_action", "is_case_sensitive", "locale", "stopwords"))
def string_normalizer(call: Call, x):
    """Drop the elements equal to a stop word (compared after casing both when not case
    sensitive), then change the case; [C] -> [C'], [1, C] -> [1, C'], and [1] / [1, 1] holding ""
    when every element is dropped."""
    _strings(call, x)
    action = call.string("case_change_action", "NONE")
    if action not in ("LOWER", "UPPER", "NONE"):
        raise call.malformed(f"has case_change_action '{action}' (ONNX: LOWER, UPPER, NONE)")
    sensitive = bool(call.attr("is_case_sensitive", 0))
    stopwords = call.strings("stopwords", [])
    ascii_only = _locale(call, used=action != "NONE" or (not sensitive and bool(stopwords)))
    if x.ndim not in (1, 2) or (x.ndim == 2 and x.shape[0] != 1) or x.shape[-1] < 1:
        raise InputError(f"{call.label} takes a [C] or [1, C] string tensor with C > 0, not {list(x.shape)}")
    items = list(x.reshape(-1))
    if sensitive:
        stops = set(stopwords)
        kept = [s for s in items if s not in stops]
        if action != "NONE":
            kept = [change_case(s, action == "UPPER", ascii_only) for s in kept]
    else:
        compare = action == "UPPER"  # stop words and elements compared in the output's case (lower for NONE)
        stops = {change_case(w, compare, ascii_only) for w in stopwords}
        cased = [change_case(s, compare, ascii_only) for s in items] if (stops or action != "NONE") else items
        kept = [c if action != "NONE" else s for s, c in zip(items, cased) if c not in stops]
    count = max(len(kept), 1)
    shape = call.admit((1, count) if x.ndim == 2 else (count,), STRING)
    out = np.empty(count, STRING)
    out[:] = kept or [""]
    return out.reshape(shape)


def _locale(call: Call, used: bool) -> bool:
    """Whether the node's locale changes ASCII letters only ("C"); a locale npinfer cannot
    reproduce is refused by name where it would change the result."""
    name = call.string("locale", "en_US.UTF-8")
    if name in ASCII_LOCALES:
        return True
    if used and name not in UNICODE_LOCALES:
        raise call.refuse(f"locale '{name}': npinfer reproduces the case mapping of {', '.join(UNICODE_LOCALES)} "
                          f"(Unicode simple case mapping) and {', '.join(ASCII_LOCALES)} (ASCII) only")
    return False


# -- RegexFullMatch ------------------------------------------------------------------------

@operator("RegexFullMatch", attributes=("pattern",))
def regex_full_match(call: Call, x):
    """Refused: the pattern comes from the model file, and a regular expression run by a
    backtracking engine (Python's re) can take exponential time on crafted input (ReDoS);
    npinfer has no linear-time RE2 engine."""
    raise call.refuse("a regular expression from the model file can take exponential time on some inputs (ReDoS) in "
                      "Python's backtracking re module, and npinfer has no linear-time RE2 engine")
