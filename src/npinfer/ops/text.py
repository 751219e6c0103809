"""ONNX operators, strings and text: StringConcat, StringSplit, StringNormalizer, TfIdfVectorizer (tensor tier),
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
    longest = sum(max((len(s) for s in v.reshape(-1)), default=0) for v in (x, y))
    call.admit(shape + (4 * longest,), np.uint8, "its strings' UTF-8 bytes")  # broadcasting repeats long strings
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


# -- TfIdfVectorizer ----------------------------------------------------------------------

@operator("TfIdfVectorizer", attributes=("mode", "min_gram_length", "max_gram_length", "max_skip_count", "ngram_counts",
                                         "ngram_indexes", "pool_int64s", "pool_strings", "weights"))
def tfidf_vectorizer(call: Call, x):
    """Count the pool's n-grams (lengths min..max, each n >= 2 also with gaps of up to
    max_skip_count items, 1-grams once) in each row of X: [C] -> [size], [B, C] -> [B, size],
    size = max(ngram_indexes) + 1; IDF / TFIDF scale the count of n-gram i (at output
    ngram_indexes[i]) by weights[i], as ONNX Runtime 1.32 does."""
    mode = call.string("mode")
    if mode not in ("TF", "IDF", "TFIDF"):
        raise call.malformed(f"has mode '{mode}' (ONNX: TF, IDF, TFIDF)")
    low, high, skips = (int(call.attr(a)) for a in ("min_gram_length", "max_gram_length", "max_skip_count"))
    if low < 1 or high < low or skips < 0:
        raise call.malformed(f"has min_gram_length {low}, max_gram_length {high}, max_skip_count {skips}")
    indexes = np.asarray(call.ints("ngram_indexes"), np.int64)
    if indexes.size == 0 or indexes.min() < 0:
        raise call.malformed("needs non-empty, non-negative ngram_indexes")
    size = int(indexes.max()) + 1
    weights = call.attr("weights", None)
    weights = None if weights is None else np.asarray(weights, np.float32).reshape(-1)
    if weights is not None:
        if weights.size != indexes.size or np.unique(indexes).size != indexes.size:
            raise call.malformed(f"has {weights.size} weights for {indexes.size} ngram_indexes (one weight per n-gram, "
                                 "each at its own output)")
        scale = np.zeros(size, np.float32)
        scale[indexes] = weights  # (size,): the weight of the n-gram counted at each output
    vocab, grams = _pool(call, x, low, high, indexes.size)
    rows, width, shape = _rows(call, x)
    call.admit((rows, width, min(skips + 1, max(width, 1)), min(high, max(width, 1))), np.int64,
               "its n-gram enumeration")
    shape = call.admit(shape + (size,), np.float32)
    counts = np.zeros((rows, size), np.float32)  # (rows, size)
    ids = vocab(x.reshape(rows, width))  # (rows, C) vocabulary ids, -1 where not in the pool
    for n, (pool_ids, gram_ids) in grams.items():
        for gap in range(1, (skips + 1 if n > 1 else 1) + 1):
            if gap * (n - 1) >= width:
                break
            found = _match(ids, pool_ids, gap)  # (rows, starts) index into pool_ids, -1 where none
            row, start = np.nonzero(found >= 0)
            np.add.at(counts, (row, indexes[gram_ids[found[row, start]]]), 1)
    if mode == "IDF":
        counts = np.where(counts > 0, scale if weights is not None else np.float32(1), np.float32(0))
    elif mode == "TFIDF" and weights is not None:
        counts = counts * scale
    return counts.astype(np.float32).reshape(shape)


def _rows(call: Call, x: np.ndarray) -> tuple:
    """(rows, C, the output's leading axes) of a [C] / [B, C] input (rank 0: one item)."""
    if x.ndim == 2 and x.shape[0] >= 1:
        return x.shape[0], x.shape[1], (x.shape[0],)
    if x.ndim <= 1:
        return 1, int(x.size), ()
    raise InputError(f"{call.label} takes a [C] or [B > 0, C] tensor, not {list(x.shape)}")


def _pool(call: Call, x: np.ndarray, low: int, high: int, n_indexes: int):
    """A function mapping X's items to vocabulary ids, and {n: (pool n-grams as ids (P, n),
    their n-gram numbers (P,))} for n in low..high."""
    strings = call.has("pool_strings")
    if strings == call.has("pool_int64s"):
        raise call.malformed("must have exactly one of pool_strings and pool_int64s")
    if strings:
        if x.dtype != STRING:
            raise call.malformed(f"has pool_strings but a {type_name(x.dtype)} input")
        pool = call.strings("pool_strings")
        table = {w: i for i, w in enumerate(dict.fromkeys(pool))}
        pool_ids = np.array([table[w] for w in pool], np.int64)

        def vocab(v):
            return np.array([table.get(s, -1) for s in v.reshape(-1)], np.int64).reshape(v.shape)
    else:
        if x.dtype not in (np.dtype(np.int32), np.dtype(np.int64)):
            raise call.refuse(f"is defined for string, int32 and int64 inputs, not {type_name(x.dtype)}")
        values = np.asarray(call.ints("pool_int64s"), np.int64)
        unique = np.unique(values)
        pool_ids = np.searchsorted(unique, values)

        def vocab(v):
            return _lookup(unique, v.astype(np.int64))
    counts = call.ints("ngram_counts")
    total = pool_ids.size
    if not total or len(counts) < high:
        raise call.malformed(f"needs a non-empty pool and ngram_counts for lengths up to {high}")
    if total * total >= 2 ** 62:
        raise call.refuse(f"a pool of {total} items (n-gram codes would overflow int64)")
    grams, number = {}, 0
    for n, begin in enumerate(counts, start=1):
        end = counts[n] if n < len(counts) else total
        if not 0 <= begin <= end <= total or (end - begin) % n:
            raise call.malformed(f"has ngram_counts {list(counts)} that do not cut the pool into whole {n}-grams")
        many = (end - begin) // n
        if many and low <= n <= high:
            grams[n] = (pool_ids[begin:end].reshape(many, n), number + np.arange(many))
            if np.unique(grams[n][0], axis=0).shape[0] != many:
                raise call.malformed(f"has duplicate {n}-grams in its pool")
        number += many
    if number > n_indexes:
        raise call.malformed(f"has {number} n-grams in its pool but {n_indexes} ngram_indexes")
    return vocab, grams


def _lookup(table: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The position of each of `values` in the sorted `table`, -1 where absent."""
    if table.size == 0:
        return np.full(values.shape, -1, np.int64)
    pos = np.minimum(np.searchsorted(table, values), table.size - 1)
    return np.where(table[pos] == values, pos, -1)


def _match(ids: np.ndarray, pool_ids: np.ndarray, gap: int) -> np.ndarray:
    """For each start in each row of `ids` (rows, C), the pool n-gram (a row of `pool_ids`,
    (P, n)) that the items at start, start + gap, ... equal, or -1: a trie walk one item a step,
    each prefix coded by its rank among the pool's prefixes of that length."""
    n = pool_ids.shape[1]
    starts = ids.shape[1] - gap * (n - 1)
    radix = int(max(pool_ids.max(), ids.max(initial=0))) + 1
    prefixes = np.unique(pool_ids[:, 0])
    pool_code = np.searchsorted(prefixes, pool_ids[:, 0])  # (P,)
    code = _lookup(prefixes, ids[:, :starts])  # (rows, starts)
    for k in range(1, n):
        joined = pool_code * radix + pool_ids[:, k]
        prefixes = np.unique(joined)
        pool_code = np.searchsorted(prefixes, joined)
        item = ids[:, gap * k: gap * k + starts]
        code = np.where((code >= 0) & (item >= 0), _lookup(prefixes, np.maximum(code, 0) * radix + item), -1)
    row_of = np.empty(pool_ids.shape[0], np.int64)
    row_of[pool_code] = np.arange(pool_ids.shape[0])  # the pool has no duplicate n-grams
    return np.where(code >= 0, row_of[np.maximum(code, 0)], -1)


# -- RegexFullMatch ------------------------------------------------------------------------

@operator("RegexFullMatch", attributes=("pattern",))
def regex_full_match(call: Call, x):
    """Refused: the pattern comes from the model file, and a regular expression run by a
    backtracking engine (Python's re) can take exponential time on crafted input (ReDoS);
    npinfer has no linear-time RE2 engine."""
    raise call.refuse("a regular expression from the model file can take exponential time on some inputs (ReDoS) in "
                      "Python's backtracking re module, and npinfer has no linear-time RE2 engine")
