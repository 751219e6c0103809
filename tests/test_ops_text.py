"""The tensor tier's text family (src/npinfer/ops/text.py) against ONNX Runtime, strictly (dtype,
shape, values): StringConcat, StringSplit over attributes and inputs with unicode, empty strings
and rank 0; RegexFullMatch refused by name (ReDoS)."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from onnx import TensorProto, helper
from ops_parity import assert_same, run_onnxruntime

import npinfer

WORDS = ["", " ", "a", "ab", "hello world", "  lead", "trail  ", "a,b,,c", "的中", "é,ß", "x  y   z", ",", "a\tb"]


def string_model(op: str, attrs: dict, inputs: dict, outputs: dict, opset: int = 20):
    info = lambda name, t: helper.make_tensor_value_info(name, t, None)  # noqa: E731
    node = helper.make_node(op, list(inputs), list(outputs), **attrs)
    graph = helper.make_graph([node], "g", [info(n, TensorProto.STRING) for n in inputs],
                              [info(n, t) for n, t in outputs.items()])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=10)


def run_tensor_tier(model, feeds: dict) -> list:
    from npinfer.importers.onnx_proto import read_model
    from npinfer.limits import current
    from npinfer.ops.model import TypedModel

    typed = TypedModel(read_model(model.SerializeToString(), current(None), "test.onnx"), "test.onnx")
    got = typed.predict(dict(feeds))
    return [got] if len(typed.output_names) == 1 else list(got)


def check(model, feeds: dict) -> None:
    assert_same(run_tensor_tier(model, feeds), run_onnxruntime(model, feeds))


def words(rng, shape) -> np.ndarray:
    return np.array(rng.choice(np.array(WORDS, object), size=shape), object).reshape(shape)


@pytest.mark.parametrize("shapes", [((3,), (3,)), ((2, 3), (3,)), ((), ()), ((4, 1), (1, 2)), ((0,), (1,))])
def test_string_concat(shapes):
    rng = np.random.default_rng(len(str(shapes)))
    feeds = {"x": words(rng, shapes[0]), "y": words(rng, shapes[1])}
    check(string_model("StringConcat", {}, feeds, {"z": TensorProto.STRING}), feeds)


@pytest.mark.parametrize("delimiter", [None, "", ",", " ", ",,", "的"])
@pytest.mark.parametrize("maxsplit", [None, 0, 1, 2, -1])
@pytest.mark.parametrize("shape", [(len(WORDS),), (2, 3), ()])
def test_string_split(delimiter, maxsplit, shape):
    rng = np.random.default_rng(7)
    x = np.array(WORDS, object) if shape == (len(WORDS),) else words(rng, shape)
    attrs = {k: v for k, v in (("delimiter", delimiter), ("maxsplit", maxsplit)) if v is not None}
    check(string_model("StringSplit", attrs, {"x": x}, {"y": TensorProto.STRING, "z": TensorProto.INT64}), {"x": x})


def test_string_split_empty_tensor():
    x = np.zeros((0, 2), object)
    check(string_model("StringSplit", {}, {"x": x}, {"y": TensorProto.STRING, "z": TensorProto.INT64}), {"x": x})


def test_regex_full_match_is_refused_for_redos():
    model = string_model("RegexFullMatch", {"pattern": "(a+)+$"}, {"x": None}, {"y": TensorProto.BOOL})
    with pytest.raises(npinfer.UnsupportedOptionError, match=r"RegexFullMatch.*ReDoS"):
        run_tensor_tier(model, {"x": np.array(["aaa"], object)})


def normalizer_model(attrs: dict):
    return string_model("StringNormalizer", attrs, {"x": None}, {"y": TensorProto.STRING}, opset=10)


NORMALIZE = ["Monday", "monday", "MONDAY", "Straße", "İstanbul", "ΟΔΟΣ", "ǅemal", "ᾀ", "Élan", "的", "", "a b", "x😀Y"]


@pytest.mark.parametrize("action", [None, "LOWER", "UPPER", "NONE"])
@pytest.mark.parametrize("sensitive", [None, 0, 1])
@pytest.mark.parametrize("stopwords", [None, ["monday"], ["ΟΔΟΣ", "straße", "x😀y"], ["MONDAY", "的", "élan"]])
@pytest.mark.parametrize("locale", ["C.UTF-8", "C"])  # ORT's default en_US.UTF-8 is not installed here
@pytest.mark.parametrize("two_dim", [False, True])
def test_string_normalizer(action, sensitive, stopwords, locale, two_dim):
    attrs = {k: v for k, v in (("case_change_action", action), ("is_case_sensitive", sensitive),
                               ("stopwords", stopwords), ("locale", locale)) if v is not None}
    x = np.array(NORMALIZE, object)[None] if two_dim else np.array(NORMALIZE, object)
    check(normalizer_model(attrs), {"x": x})


@pytest.mark.parametrize("two_dim", [False, True])
def test_string_normalizer_empty_output(two_dim):
    x = np.array([["Monday", "MONDAY"]] if two_dim else ["Monday", "MONDAY"], object)
    check(normalizer_model({"stopwords": ["monday"], "locale": "C.UTF-8", "case_change_action": "UPPER"}), {"x": x})


@pytest.mark.parametrize("action", ["LOWER", "UPPER"])
def test_string_normalizer_every_code_point(action):
    """Each code point's simple case mapping, as glibc's UTF-8 locale gives it to ONNX Runtime."""
    points = [c for c in range(1, 0x30000) if not 0xD800 <= c < 0xE000]
    x = np.array([chr(c) for c in points], object)
    check(normalizer_model({"case_change_action": action, "locale": "C.UTF-8"}), {"x": x})


@pytest.mark.parametrize("locale", ["tr_TR.UTF-8", "en_US", "de_DE.UTF-8"])
def test_string_normalizer_refuses_other_locales(locale):
    model = normalizer_model({"case_change_action": "UPPER", "locale": locale})
    with pytest.raises(npinfer.UnsupportedOptionError, match=rf"StringNormalizer.*{locale}"):
        run_tensor_tier(model, {"x": np.array(["i"], object)})


@pytest.mark.parametrize("shape", [(0,), (2, 2), (1, 1, 1)])
def test_string_normalizer_refuses_other_shapes(shape):
    with pytest.raises(npinfer.InputError, match="StringNormalizer"):
        run_tensor_tier(normalizer_model({"locale": "C.UTF-8"}), {"x": np.full(shape, "a", object)})


def tfidf_model(attrs: dict, x: np.ndarray):
    info = helper.make_tensor_value_info("x", helper.np_dtype_to_tensor_dtype(x.dtype) if x.dtype != object
                                         else TensorProto.STRING, None)
    node = helper.make_node("TfIdfVectorizer", ["x"], ["y"], **attrs)
    graph = helper.make_graph([node], "g", [info], [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 9)], ir_version=10)


def tfidf_case(rng, dtype, low, high, skips, mode, weighted, shape):
    """A random pool of distinct 1-, 2- and 3-grams over a small vocabulary, and an input drawn
    from it (plus unknown items), so that many n-grams hit."""
    vocab = np.array(["a", "b", "的", "é", "", "cd"], object) if dtype == object else np.array([3, 7, -2, 11, 0, 5])
    grams = {n: np.unique(rng.integers(0, len(vocab), (6, n)), axis=0) for n in (1, 2, 3)}
    pool = np.concatenate([vocab[g].reshape(-1) for g in grams.values()])
    counts = [0, len(grams[1]), len(grams[1]) + 2 * len(grams[2])]
    number = sum(len(g) for g in grams.values())
    attrs = {"mode": mode, "min_gram_length": low, "max_gram_length": high, "max_skip_count": skips,
             "ngram_counts": counts, "ngram_indexes": rng.permutation(number).tolist()}
    attrs["pool_strings" if dtype == object else "pool_int64s"] = pool.tolist()
    if weighted:
        attrs["weights"] = rng.uniform(0.1, 2, number).astype(np.float32).tolist()
    items = np.concatenate([vocab, np.array(["zz"], object) if dtype == object else np.array([99])])
    x = np.array(rng.choice(items, size=shape), dtype=dtype).reshape(shape)
    return tfidf_model(attrs, x), x


@pytest.mark.parametrize("dtype", [object, np.int32, np.int64])
@pytest.mark.parametrize("grams", [(1, 1), (1, 2), (2, 2), (1, 3), (2, 3), (3, 3)])
@pytest.mark.parametrize("skips", [0, 1, 3])
@pytest.mark.parametrize("mode", ["TF", "IDF", "TFIDF"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shape", [(12,), (3, 9), (), (2, 0), (1, 2)])
def test_tfidf_vectorizer(dtype, grams, skips, mode, weighted, shape):
    rng = np.random.default_rng(zlib.crc32(repr((str(dtype), grams, skips, mode, weighted, shape)).encode()))
    model, x = tfidf_case(rng, dtype, *grams, skips, mode, weighted, shape)
    check(model, {"x": x})


def test_tfidf_vectorizer_refuses_unsigned_input():
    rng = np.random.default_rng(0)
    model, x = tfidf_case(rng, np.int64, 1, 2, 1, "TF", False, (5,))
    x = x.astype(np.uint8) if (x >= 0).all() else np.abs(x).astype(np.uint8)
    model.graph.input[0].type.tensor_type.elem_type = TensorProto.UINT8
    with pytest.raises(npinfer.UnsupportedOptionError, match="TfIdfVectorizer"):
        run_tensor_tier(model, {"x": x})


def test_tfidf_vectorizer_refuses_too_many_grams_for_the_budget():
    """rows * C * skips * gram length is checked against Limits.max_activation_bytes first."""
    from npinfer.importers.onnx_proto import read_model
    from npinfer.limits import Limits
    from npinfer.ops.model import TypedModel

    model, x = tfidf_case(np.random.default_rng(1), np.int64, 1, 3, 1000, "TF", False, (2000,))
    limits = Limits(max_activation_bytes=10_000_000)
    typed = TypedModel(read_model(model.SerializeToString(), limits, "t.onnx"), "t.onnx", limits)
    with pytest.raises(npinfer.ResourceLimitError, match="TfIdfVectorizer.*n-gram enumeration"):
        typed.predict({"x": x})


def test_string_concat_counts_the_characters_against_the_budget():
    from npinfer.importers.onnx_proto import read_model
    from npinfer.limits import Limits
    from npinfer.ops.model import TypedModel

    feeds = {"x": np.array([["a" * 10_000] * 100], object), "y": np.array([[""]] * 100, object)}  # (1, 100) + (100, 1)
    limits = Limits(max_activation_bytes=10_000_000)
    model = string_model("StringConcat", {}, feeds, {"z": TensorProto.STRING})
    typed = TypedModel(read_model(model.SerializeToString(), limits, "t.onnx"), "t.onnx", limits)
    with pytest.raises(npinfer.ResourceLimitError, match="StringConcat"):
        typed.predict(feeds)
