"""The attention family on the tensor tier (ops/attention.py): Attention (opsets 23, 24, 25),
RotaryEmbedding (23) and LinearAttention (27), against ONNX Runtime strictly (dtype, shape,
values), parametrized over the options and float16 / float / double where the operator defines
them. Where ONNX Runtime has no answer (a mask shorter than the keys, which its kernel rejects)
the judge is onnx.reference.ReferenceEvaluator. ONNX Runtime 1.32 has no LinearAttention kernel:
it inlines the operator's function body, so LinearAttention is checked against that AND against
the reference evaluator's own implementation. Refusals are typed and name the operator."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from onnx import helper
from ops_parity import (
    assert_same,
    graph_model,
    run_npinfer,
    run_onnxruntime,
    run_reference,
)

import npinfer

TOLERANCE = {np.float16: (4e-3, 4e-3), np.float32: (1e-5, 2e-6), np.float64: (1e-10, 1e-12)}
BATCH, QUERIES, KEYS, SIZE = 2, 3, 5, 4


SOFTMAX_TYPES = {1: np.float32, 10: np.float16, 11: np.float64}  # softmax_precision codes


def check(model, feeds, dtype, judge=run_onnxruntime, softmax_precision=None):
    """npinfer's outputs equal `judge`'s (dtype, shape; values within the tolerance of the type,
    or of softmax_precision's where that is coarser)."""
    if softmax_precision is not None and np.dtype(SOFTMAX_TYPES[softmax_precision]).itemsize < np.dtype(dtype).itemsize:
        dtype = SOFTMAX_TYPES[softmax_precision]
    rtol, atol = TOLERANCE[dtype]
    assert_same(run_npinfer(model, feeds), judge(model, feeds), rtol, atol)


def run_function_body(model, feeds: dict) -> list:
    """ONNX Runtime on the node's function body: the spec's definition, where ONNX Runtime's own
    kernel departs from it."""
    return run_onnxruntime(function_body(model), feeds)


def function_body(model):
    """`model` with its one node replaced by the node's ONNX function body (the spec's own
    definition, as the backend suite's *_expanded cases do)."""
    from onnx.backend.test.case.node import function_testcase_helper

    graph = model.graph
    node = copy.deepcopy(graph.node[0])
    nodes, _ = function_testcase_helper(node, [i.type for i in graph.input], "body", list(model.opset_import))[0][0]
    expanded = copy.deepcopy(model)
    del expanded.graph.node[:]
    expanded.graph.node.extend(nodes)
    return expanded


# -- Attention -------------------------------------------------------------------------------

def attention_model(opset=23, dtype=np.float32, four_d=False, q_heads=4, kv_heads=2, queries=QUERIES, keys=KEYS,
                    v_size=SIZE, past=0, mask=None, nonpad=None, outputs=1, value_type=None, seed=0, **attrs):
    """One Attention node with every tensor a graph input: (model, feeds). mask: None, "bool",
    "float", or (kind, shape); outputs: how many of Y, present_key, present_value, qk_matmul_output;
    value_type: V's type where it is not the query's."""
    rng = np.random.default_rng(seed)
    if four_d:
        shapes = [(BATCH, q_heads, queries, SIZE), (BATCH, kv_heads, keys, SIZE), (BATCH, kv_heads, keys, v_size)]
    else:
        shapes = [(BATCH, queries, q_heads * SIZE), (BATCH, keys, kv_heads * SIZE), (BATCH, keys, kv_heads * v_size)]
        attrs = {"q_num_heads": q_heads, "kv_num_heads": kv_heads, **attrs}
    feeds = {name: rng.normal(size=shape).astype(dtype) for name, shape in zip("QKV", shapes)}
    feeds["V"] = feeds["V"].astype(value_type or dtype)
    names = ["Q", "K", "V", "", "", "", ""]
    if mask is not None:
        kind, shape = (mask, (queries, past + keys)) if isinstance(mask, str) else mask
        if kind == "bool":
            value = rng.random(shape) > 0.3
        elif kind == "float":
            value = rng.normal(size=shape).astype(dtype)
        else:  # another numeric type, added as the query's type
            value = rng.integers(0 if np.dtype(kind).kind == "u" else -2, 3, size=shape).astype(kind)
        names[3], feeds["mask"] = "mask", value
    if past:
        names[4], feeds["past_key"] = "past_key", rng.normal(size=(BATCH, kv_heads, past, SIZE)).astype(dtype)
        names[5], feeds["past_value"] = "past_value", rng.normal(size=(BATCH, kv_heads, past, v_size)).astype(dtype)
    if nonpad is not None:
        names[6], feeds["nonpad"] = "nonpad", np.array(nonpad, np.int64)
    while names[-1] == "":
        names.pop()
    outs = ["Y", "present_key", "present_value", "qk"][:outputs]
    node = helper.make_node("Attention", names, outs, **attrs)
    return graph_model([node], feeds, {name: dtype for name in outs}, opset=opset), feeds


ATTENTION_CASES = {  # name -> attention_model arguments (opset 23 unless given)
    "defaults": {},
    "four_d": {"four_d": True},
    "multi_head": {"q_heads": 2, "kv_heads": 2},
    "multi_query": {"q_heads": 4, "kv_heads": 1},
    "value_size": {"v_size": 6, "outputs": 3, "past": 2},
    "scale": {"scale": 0.3},
    "softcap": {"softcap": 2.0},
    "causal": {"is_causal": 1},
    "causal_more_queries": {"is_causal": 1, "queries": 6, "keys": 4},
    "causal_four_d": {"is_causal": 1, "four_d": True, "queries": 2},
    "bool_mask": {"mask": "bool"},
    "float_mask": {"mask": "float"},
    "mask_per_head": {"mask": ("float", (BATCH, 4, QUERIES, KEYS))},
    "mask_per_batch": {"mask": ("bool", (BATCH, 1, QUERIES, KEYS))},
    "mask_rank_3": {"mask": ("bool", (1, QUERIES, KEYS))},
    "fully_masked_rows": {"mask": ("bool", (QUERIES, 1)), "keys": 1, "outputs": 4, "qk_matmul_output_mode": 3},
    "causal_and_mask": {"is_causal": 1, "mask": "float"},
    "past": {"past": 2, "outputs": 3},
    "past_causal_mask": {"past": 3, "outputs": 3, "is_causal": 1, "mask": "bool", "queries": 2},
    "past_four_d_gqa": {"past": 2, "outputs": 3, "four_d": True, "is_causal": 1},
    "qk_mode_0": {"outputs": 4, "mask": "float"},
    "qk_mode_1_softcap": {"outputs": 4, "qk_matmul_output_mode": 1, "softcap": 3.0, "mask": "float"},
    "qk_mode_2_softcap": {"outputs": 4, "qk_matmul_output_mode": 2, "softcap": 3.0, "mask": "float"},
    "qk_mode_3": {"outputs": 4, "qk_matmul_output_mode": 3, "mask": "bool", "past": 1},
    "softmax_precision_float": {"softmax_precision": 1},
    "opset_24_nonpad": {"opset": 24, "nonpad": [KEYS, 3]},
    "opset_24_nonpad_causal": {"opset": 24, "nonpad": [4, 2], "is_causal": 1, "outputs": 4, "qk_matmul_output_mode": 3},
    "opset_24_past": {"opset": 24, "past": 2, "outputs": 3, "is_causal": 1},
    "opset_25_window": {"opset": 25, "left_window_size": 1, "right_window_size": 1},
    "opset_25_window_left_causal_past": {"opset": 25, "left_window_size": 2, "is_causal": 1, "past": 2, "outputs": 3},
    "opset_25_window_right_nonpad": {"opset": 25, "right_window_size": 0, "nonpad": [4, 5], "mask": "bool"},
}
DTYPES = (np.float32, np.float16, np.float64)
# where ONNX Runtime 1.32's kernel departs from the spec, the judge is its function body (run by
# ONNX Runtime; the reference evaluator agrees): a single query after a cache sees the keys up
# to the cache's length (the kernel: every key), and mode 2 shows masked scores as -inf (the
# kernel: the lowest float); a rank-1 mask broadcasts (the kernel rejects it)
SPEC_CASES = {
    "decode_step_causal_past": {"past": 3, "outputs": 3, "is_causal": 1, "queries": 1},
    "decode_step_causal_past_mask": {"past": 3, "outputs": 3, "is_causal": 1, "queries": 1, "mask": "bool", "four_d": True},
    "qk_mode_2_causal": {"outputs": 4, "qk_matmul_output_mode": 2, "is_causal": 1, "softcap": 2.0},
    "qk_mode_2_causal_past": {"outputs": 4, "qk_matmul_output_mode": 2, "is_causal": 1, "past": 2},
    "mask_rank_1": {"mask": ("float", (KEYS,))},  # the kernel rejects a rank-1 mask
}


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("case", ATTENTION_CASES)
def test_attention_matches_onnxruntime(case, dtype):
    case = ATTENTION_CASES[case]
    check(*attention_model(dtype=dtype, **case), dtype, softmax_precision=case.get("softmax_precision"))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("case", SPEC_CASES)
def test_attention_matches_its_function_body(case, dtype):
    check(*attention_model(dtype=dtype, **SPEC_CASES[case]), dtype, judge=run_function_body)


@pytest.mark.parametrize("precision, dtype", [(1, np.float16), (11, np.float32), (10, np.float32), (1, np.float64)])
def test_attention_softmax_precision_matches_onnxruntime(precision, dtype):
    """The softmax in another type, the result cast back to the query's (float16's precision
    where either is float16: ONNX Runtime's float16 softmax rounds once, npinfer's at each step
    as the reference evaluator does)."""
    model, feeds = attention_model(dtype=dtype, softmax_precision=precision, mask="float", outputs=4,
                                   qk_matmul_output_mode=3)
    check(model, feeds, dtype, softmax_precision=precision)


@pytest.mark.parametrize("opset", [23, 24, 25])
def test_attention_opsets_match_onnxruntime(opset):
    check(*attention_model(opset=opset, is_causal=1, mask="bool", past=2, outputs=4, softcap=1.5,
                           qk_matmul_output_mode=3), np.float32)


@pytest.mark.parametrize("case", [{"mask": ("bool", (QUERIES, 3))}, {"opset": 24, "nonpad": [3, 2], "mask": ("float", (QUERIES, 3))}],
                         ids=["short_mask", "short_mask_nonpad"])
def test_attention_mask_shorter_than_keys_matches_reference(case):
    """A mask shorter than the keys is padded with -inf (ONNX Runtime's kernel rejects it)."""
    check(*attention_model(**case), np.float32, judge=run_reference)


def test_attention_qk_mode_0_with_softcap_is_the_raw_product():
    """qk_matmul_output mode 0 is Q K^T before the softcap: the spec, its function body and ONNX
    Runtime agree (the reference evaluator gives the softcapped scores)."""
    model, feeds = attention_model(outputs=4, softcap=2.0, mask="float")
    check(model, feeds, np.float32)
    check(model, feeds, np.float32, judge=run_function_body)


@pytest.mark.parametrize("mask_type, dtype", [(np.int64, np.float32), (np.uint8, np.float32), (np.float16, np.float32),
                                              (np.float64, np.float32), (np.float32, np.float16)])
def test_attention_mask_of_another_type_is_cast_to_the_query_type(mask_type, dtype):
    """attn_mask may have any numeric type U: the function body casts it to the query's type."""
    model, feeds = attention_model(dtype=dtype, mask=(mask_type, (QUERIES, KEYS)))
    check(model, feeds, dtype)
    check(model, feeds, dtype, judge=run_function_body)


@pytest.mark.parametrize("case, error, words", [
    ({"value_type": np.float16}, npinfer.UnsupportedOptionError, "V of type float16"),
    ({"opset": 24, "left_window_size": 1}, npinfer.ModelFormatError, "from opset 25"),
    ({"opset": 23, "nonpad": [KEYS, KEYS]}, npinfer.ModelFormatError, "from opset 24"),
    ({"qk_matmul_output_mode": 4, "outputs": 4}, npinfer.ModelFormatError, "qk_matmul_output_mode=4"),
    ({"past": 2, "nonpad": [KEYS, KEYS], "opset": 24}, npinfer.ModelFormatError, "nonpad_kv_seqlen only without"),
    ({"q_heads": 3, "kv_heads": 2}, npinfer.ModelFormatError, "not a multiple"),
], ids=["value_type", "window_before_25", "nonpad_before_24", "mode_4", "nonpad_with_past", "heads"])
def test_attention_refusals_are_typed(case, error, words):
    with pytest.raises(error, match=words) as caught:
        run_npinfer(*attention_model(**case))
    assert "Attention" in str(caught.value) and f"opset {case.get('opset', 23)}" in str(caught.value)


# -- RotaryEmbedding -------------------------------------------------------------------------

def rotary_model(dtype=np.float32, four_d=False, positions=True, interleaved=0, rotary=None, heads=2, seed=0):
    rng = np.random.default_rng(seed)
    half = (rotary or 2 * SIZE) // 2
    x = rng.normal(size=(BATCH, heads, QUERIES, 2 * SIZE) if four_d else (BATCH, QUERIES, heads * 2 * SIZE))
    cache = (10, half) if positions else (BATCH, QUERIES, half)
    feeds = {"x": x.astype(dtype), "cos": rng.normal(size=cache).astype(dtype), "sin": rng.normal(size=cache).astype(dtype)}
    if positions:
        feeds["positions"] = rng.integers(0, 10, size=(BATCH, QUERIES)).astype(np.int64)
    attrs = {"interleaved": interleaved} if interleaved else {}
    if not four_d:
        attrs["num_heads"] = heads
    if rotary:
        attrs["rotary_embedding_dim"] = rotary
    node = helper.make_node("RotaryEmbedding", list(feeds), ["y"], **attrs)
    return graph_model([node], feeds, {"y": dtype}, opset=23), feeds


ROTARY_CASES = {
    "defaults": {}, "four_d": {"four_d": True}, "no_positions": {"positions": False},
    "interleaved": {"interleaved": 1}, "partial": {"rotary": 4},
    "partial_interleaved_four_d": {"rotary": 4, "interleaved": 1, "four_d": True},
    "four_d_no_positions_interleaved": {"four_d": True, "positions": False, "interleaved": 1},
}


@pytest.mark.parametrize("dtype", (np.float32, np.float16), ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("case", ROTARY_CASES)
def test_rotary_embedding_matches_onnxruntime(case, dtype):
    check(*rotary_model(dtype=dtype, **ROTARY_CASES[case]), dtype)


@pytest.mark.parametrize("attrs, error, words", [
    ({"dtype": np.float64}, npinfer.UnsupportedOptionError, "not defined for double"),
    ({"rotary": 3}, npinfer.ModelFormatError, "rotary_embedding_dim=3"),
], ids=["double", "odd_rotary"])
def test_rotary_embedding_refusals_are_typed(attrs, error, words):
    with pytest.raises(error, match=words) as caught:
        run_npinfer(*rotary_model(**attrs))
    assert "RotaryEmbedding" in str(caught.value) and "opset 23" in str(caught.value)


# -- LinearAttention -------------------------------------------------------------------------

def linear_attention_model(dtype=np.float32, rule="gated_delta", q_heads=4, kv_heads=2, time=5, k_size=4, v_size=3,
                           past=False, decay="key", beta="head", past_type=None, seed=0, **attrs):
    """One LinearAttention node (opset 27): (model, feeds). decay: per "key" feature or per
    "head"; beta: per "head" or one "shared"; keys L2-normalized, decay < 0, beta in (0, 1)."""
    rng = np.random.default_rng(seed)
    key = rng.normal(size=(BATCH, time, kv_heads, k_size))
    key /= np.linalg.norm(key, axis=-1, keepdims=True)
    feeds = {"query": rng.normal(size=(BATCH, time, q_heads * k_size)), "key": key.reshape(BATCH, time, -1),
             "value": rng.normal(size=(BATCH, time, kv_heads * v_size))}
    names = ["query", "key", "value", "", "", ""]
    if past:
        names[3], feeds["past_state"] = "past_state", rng.normal(0, 0.5, (BATCH, kv_heads, k_size, v_size))
    if rule in ("gated", "gated_delta"):
        width = kv_heads * k_size if decay == "key" else kv_heads
        names[4], feeds["decay"] = "decay", -rng.uniform(0.05, 0.5, (BATCH, time, width))
    if rule in ("delta", "gated_delta"):
        names[5], feeds["beta"] = "beta", rng.uniform(0.1, 0.9, (BATCH, time, kv_heads if beta == "head" else 1))
    feeds = {name: value.astype(past_type if name == "past_state" and past_type else dtype) for name, value in feeds.items()}
    while names[-1] == "":
        names.pop()
    if rule != "gated_delta":
        attrs["update_rule"] = rule
    node = helper.make_node("LinearAttention", names, ["output", "present_state"], q_num_heads=q_heads,
                            kv_num_heads=kv_heads, **attrs)
    return graph_model([node], feeds, {"output": dtype, "present_state": dtype}, opset=27, ir_version=11), feeds


LINEAR_CASES = {
    "linear": {"rule": "linear"},
    "linear_decode_step": {"rule": "linear", "time": 1, "past": True},
    "gated_per_key": {"rule": "gated"},
    "gated_per_head": {"rule": "gated", "decay": "head"},
    "delta": {"rule": "delta"},
    "delta_shared_beta": {"rule": "delta", "beta": "shared"},
    "gated_delta": {},
    "gated_delta_per_head_decay_shared_beta": {"decay": "head", "beta": "shared"},
    "gated_delta_multi_head": {"q_heads": 2, "kv_heads": 2},
    "gated_delta_multi_query": {"q_heads": 4, "kv_heads": 1, "beta": "shared"},
    "gated_delta_past": {"past": True},
    "gated_delta_decode_step": {"past": True, "time": 1},
    "scale": {"scale": 0.4, "past": True},
    "chunk_size": {"chunk_size": 2, "time": 6},
}


@pytest.mark.parametrize("dtype", (np.float32, np.float16), ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("case", LINEAR_CASES)
def test_linear_attention_matches_function_body_and_reference(case, dtype):
    """ONNX Runtime 1.32 has no LinearAttention kernel: it inlines the function body, so it is
    checked both on that (through ONNX Runtime) and on the reference evaluator's implementation."""
    model, feeds = linear_attention_model(dtype=dtype, **LINEAR_CASES[case])
    check(model, feeds, dtype)
    check(model, feeds, dtype, judge=run_reference)


@pytest.mark.parametrize("case, error, words", [
    ({"dtype": np.float64}, npinfer.UnsupportedOptionError, "not defined for double"),
    ({"dtype": np.float16, "past": True, "past_type": np.float32}, npinfer.UnsupportedOptionError, "past_state of type float"),
    ({"rule": "retention"}, npinfer.ModelFormatError, "update_rule='retention'"),
    ({"q_heads": 3, "kv_heads": 2}, npinfer.ModelFormatError, "not a positive multiple"),
], ids=["double", "state_type", "update_rule", "heads"])
def test_linear_attention_refusals_are_typed(case, error, words):
    with pytest.raises(error, match=words) as caught:
        run_npinfer(*linear_attention_model(**case))
    assert "LinearAttention" in str(caught.value) and "opset 27" in str(caught.value)


def test_linear_attention_decay_for_the_linear_rule_is_malformed():
    model, feeds = linear_attention_model(rule="gated")
    model.graph.node[0].attribute.append(helper.make_attribute("update_rule", "linear"))
    with pytest.raises(npinfer.ModelFormatError, match="takes no decay input"):
        run_npinfer(model, feeds)
