"""ONNX operators: attention family (tensor tier) — Attention (opsets 23, 24, 25) and
RotaryEmbedding (opset 23), in the type of their inputs.

Attention follows the operator's function body step by step (so float16 rounds as the
reference does): Q and K each scaled by sqrt(scale), Q K^T, the softcap, the additive bias
(a numeric mask cast to the query's type and added, a bool mask as 0 / -inf, the causal and window frontiers bottom-right
aligned after the cache, the padding of nonpad_kv_seqlen), the softmax (optionally in
softmax_precision), a fully masked row made zeros, then the product with V. Grouped-query
attention repeats each K / V head for its group of query heads. The causal frontier is the
layer tier's causal_mask (layers/attention.py) and the softmax tensor_ops.softmax_over.
"""

from __future__ import annotations

import numpy as np

from ..layers.attention import causal_mask
from ..layers.tensor_ops import softmax_over
from .elementwise import same_type
from .registry import Call, operator
from .values import FLOATS, NUMBERS, numpy_dtype, type_name

MODES = (0, 1, 2, 3)  # qk_matmul_output: Q K^T, after the softcap, with the bias, after the softmax


def split_heads(x: np.ndarray, heads: int) -> np.ndarray:
    """(batch, time, heads * size) -> (batch, heads, time, size)."""
    batch, time, hidden = x.shape
    return x.reshape(batch, time, heads, hidden // heads).transpose(0, 2, 1, 3)


def merge_heads(y: np.ndarray) -> np.ndarray:
    """(batch, heads, time, size) -> (batch, time, heads * size)."""
    batch, heads, time, size = y.shape
    return y.transpose(0, 2, 1, 3).reshape(batch, time, heads * size)


def _heads(call: Call, q, k, v):
    """Q, K, V as (batch, heads, time, size), and whether they came in 3-D."""
    if not q.ndim == k.ndim == v.ndim or q.ndim not in (3, 4):
        raise call.malformed(f"takes Q, K, V all of rank 3 or all of rank 4, got {q.ndim}, {k.ndim}, {v.ndim}")
    if q.ndim == 4:
        for name in ("q_num_heads", "kv_num_heads"):
            given = call.attr(name, None)
            actual = q.shape[1] if name == "q_num_heads" else k.shape[1]
            if given is not None and int(given) != actual:
                raise call.malformed(f"has {name}={given} for 4-D inputs with {actual} heads")
        return q, k, v, False
    q_heads, kv_heads = call.attr("q_num_heads", None), call.attr("kv_num_heads", None)
    if q_heads is None or kv_heads is None:
        raise call.malformed("takes 3-D Q, K, V only with q_num_heads and kv_num_heads")
    q_heads, kv_heads = int(q_heads), int(kv_heads)
    if q_heads < 1 or kv_heads < 1 or q.shape[2] % q_heads or k.shape[2] % kv_heads or v.shape[2] % kv_heads:
        raise call.malformed(f"cannot split hidden sizes {q.shape[2]}, {k.shape[2]}, {v.shape[2]} into "
                             f"{q_heads} / {kv_heads} heads")
    return split_heads(q, q_heads), split_heads(k, kv_heads), split_heads(v, kv_heads), True


def _mask_bias(call: Call, mask, kv: int, dtype) -> np.ndarray:
    """attn_mask as an additive bias (..., q, kv): bool True -> 0, False -> -inf; a mask of
    another type (ONNX's U: any number) cast to the query's type, as the function body does; a
    mask shorter than the keys padded with -inf (keys it does not cover are masked)."""
    if mask.dtype != np.bool_ and mask.dtype not in NUMBERS:
        raise call.refuse(f"an attn_mask of type {type_name(mask.dtype)} (ONNX: bool or a number)")
    if mask.ndim == 0 or mask.shape[-1] > kv:
        raise call.malformed(f"has an attn_mask of shape {list(mask.shape)} for {kv} keys")
    if mask.dtype == np.bool_:
        mask = np.where(mask, np.zeros((), dtype), np.asarray(-np.inf, dtype))
    else:
        mask = mask.astype(dtype, copy=False)
    if mask.shape[-1] < kv:
        mask = np.pad(mask, [(0, 0)] * (mask.ndim - 1) + [(0, kv - mask.shape[-1])], constant_values=-np.inf)
    return mask


def attention_bias(call: Call, mask, queries: int, keys: int, offset, batch: int, nonpad, dtype) -> np.ndarray:
    """The additive bias (..., queries, keys) of 0 and -inf (plus a float mask's values).
    offset: the keys before the first query (a number, or (batch, 1, 1, 1) per batch)."""
    zero, minus = np.zeros((), dtype), np.asarray(-np.inf, dtype)
    bias = np.zeros((queries, keys), dtype)
    if mask is not None:
        bias = bias + _mask_bias(call, mask, keys, dtype)
    allowed = causal_mask(queries, keys, offset) if call.attr("is_causal", 0) else None
    left, right = int(call.attr("left_window_size", -1)), int(call.attr("right_window_size", -1))
    if left < -1 or right < -1:
        raise call.malformed(f"has left_window_size={left}, right_window_size={right} (each -1 or at least 0)")
    if left >= 0 or right >= 0:  # query at position p = offset + i sees p - left <= j <= p + right
        distance = np.arange(queries)[:, None] + offset - np.arange(keys)[None, :]  # p - j
        window = np.ones_like(distance, bool)
        if left >= 0:
            window &= distance <= left
        if right >= 0:
            window &= -distance <= right
        allowed = window if allowed is None else allowed & window
    if allowed is not None:
        bias = bias + np.where(allowed, zero, minus)
    if nonpad is not None:  # keys past each row's count are padding
        padding = np.arange(keys)[None, :] < nonpad[:, None]  # (batch, keys)
        bias = bias + np.where(padding, zero, minus).reshape(batch, 1, 1, keys)
    return bias


def _softcapped(scores: np.ndarray, softcap: float) -> np.ndarray:
    return np.tanh(scores / softcap) * softcap if softcap > 0 else scores


@operator("Attention", attributes=("is_causal", "kv_num_heads", "q_num_heads", "qk_matmul_output_mode", "scale", "softcap",
                                   "softmax_precision", "left_window_size", "right_window_size"))
def attention(call: Call, q, k, v, mask=None, past_key=None, past_value=None, nonpad=None):
    """Y (batch, q_heads, q, v_size) [3-D: (batch, q, q_heads * v_size)], present_key,
    present_value (batch, kv_heads, past + kv, size), qk_matmul_output (batch, q_heads, q, keys)."""
    if call.opset < 25 and (call.has("left_window_size") or call.has("right_window_size")):
        raise call.malformed("has window sizes, which Attention takes from opset 25")
    if call.opset < 24 and nonpad is not None:
        raise call.malformed("has nonpad_kv_seqlen, which Attention takes from opset 24")
    dtype = same_type(call, [a for a in (q, k, past_key) if a is not None], FLOATS)  # T1
    value_type = same_type(call, [a for a in (v, past_value) if a is not None], FLOATS)  # T2
    if value_type != dtype:
        raise call.refuse(f"V of type {type_name(value_type)} with Q / K of type {type_name(dtype)} (ONNX allows "
                          "T2 != T1; its function body and ONNX Runtime do not run it, and npinfer does not guess)")
    mode = int(call.attr("qk_matmul_output_mode", 0))
    if mode not in MODES:
        raise call.malformed(f"has qk_matmul_output_mode={mode} (0 to 3)")
    softcap = float(call.attr("softcap", 0.0))  # mode 0 gives Q K^T before it (spec, function body, ONNX Runtime)
    q, k, v, three_d = _heads(call, q, k, v)
    batch, q_heads, queries, size = q.shape
    if (past_key is None) != (past_value is None):
        raise call.malformed("takes past_key and past_value together")
    past = 0
    if past_key is not None:
        if nonpad is not None:
            raise call.malformed("takes nonpad_kv_seqlen only without past_key / past_value")
        if past_key.ndim != 4 or past_value.ndim != 4:
            raise call.malformed("takes 4-D past_key and past_value")
        past = past_key.shape[2]
        call.admit((batch, k.shape[1], past + k.shape[2], size), dtype, "present_key")
        k, v = np.concatenate([past_key, k], axis=2), np.concatenate([past_value, v], axis=2)  # (batch, kv_heads, past + kv, size)
    present_key, present_value = k, v
    kv_heads, keys = k.shape[1], k.shape[2]
    if k.shape[3] != size or v.shape[1] != kv_heads or k.shape[0] != batch or v.shape[:3] != k.shape[:3]:
        raise call.malformed(f"has Q, K, V of shapes {list(q.shape)}, {list(k.shape)}, {list(v.shape)} (as heads)")
    if q_heads % kv_heads:
        raise call.malformed(f"has {q_heads} query heads, not a multiple of {kv_heads} key / value heads")
    call.admit((batch, q_heads, queries, keys), dtype, "the attention scores")
    offset = past
    if nonpad is not None:
        if nonpad.dtype != np.int64 or nonpad.shape != (batch,):
            raise call.malformed(f"takes nonpad_kv_seqlen int64 of shape [{batch}], got {type_name(nonpad.dtype)}{list(nonpad.shape)}")
        if np.any(nonpad < 0) or np.any(nonpad > keys):
            raise call.malformed(f"has nonpad_kv_seqlen {nonpad.tolist()} outside 0..{keys}")
        offset = (nonpad - queries).reshape(batch, 1, 1, 1)  # each row's keys before its queries
    bias = attention_bias(call, mask, queries, keys, offset, batch, nonpad, dtype)
    if q_heads != kv_heads:  # grouped-query attention: each K / V head serves q_heads / kv_heads query heads
        k, v = np.repeat(k, q_heads // kv_heads, axis=1), np.repeat(v, q_heads // kv_heads, axis=1)
    scale = call.attr("scale", None)
    root = np.asarray(_root_scale(size, scale), dtype)  # on Q and on K
    scores = np.matmul(q * root, k.transpose(0, 1, 3, 2) * root)  # (batch, q_heads, queries, keys)
    capped = _softcapped(scores, softcap)
    biased = capped + bias
    precision = call.attr("softmax_precision", None)
    work = biased if precision is None else biased.astype(_precision(call, precision))
    weights = softmax_over(work, -1)
    masked_rows = np.isneginf(np.max(bias, axis=-1, keepdims=True))  # (..., queries, 1): no key to attend
    weights = np.where(masked_rows, np.zeros((), weights.dtype), weights).astype(dtype)
    y = np.matmul(weights, v)  # (batch, q_heads, queries, v_size)
    qk = (scores, capped, biased, weights)[mode].astype(dtype)
    return (merge_heads(y) if three_d else y), present_key, present_value, np.ascontiguousarray(qk)


def _root_scale(size: int, scale) -> np.float32:
    """sqrt(scale), scale 1 / sqrt(head size) by default, in float32 as the function body computes
    it (then cast to the inputs' type; ONNX Runtime's kernel does the same, double included)."""
    one = np.float32(1)
    return np.sqrt(one / np.sqrt(np.float32(size)) if scale is None else np.float32(scale))


def _precision(call: Call, code) -> np.dtype:
    dtype = numpy_dtype(int(code), f"{call.label}: softmax_precision")
    if dtype not in FLOATS:
        raise call.malformed(f"has softmax_precision {type_name(dtype)}, not a float type")
    return dtype


# -- RotaryEmbedding -----------------------------------------------------------------------

def rotate(x: np.ndarray, cos: np.ndarray, sin: np.ndarray, interleaved: bool) -> np.ndarray:
    """Rotary embedding of x (batch, time, heads, rotary) by cos / sin (batch, time, 1, rotary / 2):
    the halves (or, interleaved, the even and odd features) as the real and imaginary parts."""
    x1, x2 = (x[..., 0::2], x[..., 1::2]) if interleaved else np.split(x, 2, axis=-1)
    real = cos * x1 - sin * x2
    imaginary = sin * x1 + cos * x2
    if interleaved:
        return np.stack([real, imaginary], axis=-1).reshape(x.shape)
    return np.concatenate([real, imaginary], axis=-1)


ROTARY_TYPES = (np.dtype(np.float16), np.dtype(np.float32))  # ONNX: float16, float, bfloat16 (no double)


@operator("RotaryEmbedding", attributes=("interleaved", "num_heads", "rotary_embedding_dim"))
def rotary_embedding(call: Call, x, cos, sin, position_ids=None):
    """x (batch, heads, time, size) or (batch, time, heads * size) with num_heads; cos / sin
    (positions, rotary / 2) read at position_ids (batch, time), or (batch, time, rotary / 2)."""
    dtype = same_type(call, (x, cos, sin), ROTARY_TYPES)
    if x.ndim == 4:
        rows = x.transpose(0, 2, 1, 3)  # (batch, time, heads, size)
    elif x.ndim == 3:
        heads = int(call.attr("num_heads", 0))
        if heads < 1 or x.shape[2] % heads:
            raise call.malformed(f"takes a 3-D input of hidden size {x.shape[2]} only with num_heads dividing it")
        rows = x.reshape(x.shape[0], x.shape[1], heads, x.shape[2] // heads)
    else:
        raise call.malformed(f"takes an input of rank 3 or 4, got shape {list(x.shape)}")
    batch, time, _, size = rows.shape
    rotary = int(call.attr("rotary_embedding_dim", 0)) or size
    if rotary % 2 or rotary > size:
        raise call.malformed(f"has rotary_embedding_dim={rotary} for heads of size {size} (even, at most the size)")
    if position_ids is not None:
        if position_ids.dtype != np.int64 or position_ids.shape != (batch, time):
            raise call.malformed(f"takes int64 position_ids of shape [{batch}, {time}]")
        if cos.ndim != 2 or sin.shape != cos.shape or np.any(position_ids < 0) or np.any(position_ids >= cos.shape[0]):
            raise call.malformed(f"reads positions {position_ids.min()}..{position_ids.max()} of caches {list(cos.shape)}")
        cos, sin = cos[position_ids], sin[position_ids]  # (batch, time, rotary / 2)
    if cos.shape != (batch, time, rotary // 2) or sin.shape != cos.shape:
        raise call.malformed(f"has cos / sin caches of shape {list(cos.shape)}, expected [{batch}, {time}, {rotary // 2}]")
    rotated = rotate(rows[..., :rotary], cos[:, :, None], sin[:, :, None], bool(call.attr("interleaved", 0)))
    out = np.concatenate([rotated, rows[..., rotary:]], axis=-1).astype(dtype, copy=False)  # (batch, time, heads, size)
    return np.ascontiguousarray(out.transpose(0, 2, 1, 3) if x.ndim == 4 else out.reshape(x.shape))


# -- LinearAttention -------------------------------------------------------------------------

UPDATE_RULES = {"linear": (False, False), "gated": (True, False), "delta": (False, True), "gated_delta": (True, True)}
LINEAR_TYPES = (np.dtype(np.float16), np.dtype(np.float32))  # ONNX also defines bfloat16, which npinfer lacks


def _per_head(call: Call, x, name: str, batch: int, time: int, sizes: dict) -> np.ndarray:
    """decay / beta (batch, time, n) as (batch, heads or 1, time, size or 1), n one of `sizes`
    {n: (heads, size)} (a scalar per head, or a value per key feature)."""
    if x.ndim != 3 or x.shape[:2] != (batch, time) or x.shape[2] not in sizes:
        raise call.malformed(f"has {name} of shape {list(x.shape)}, expected [{batch}, {time}, n] with n in {sorted(sizes)}")
    heads, size = sizes[x.shape[2]]
    return x.reshape(batch, time, heads, size).transpose(0, 2, 1, 3).astype(np.float32)  # (batch, heads, time, size)


@operator("LinearAttention", attributes=("chunk_size", "kv_num_heads", "q_num_heads", "scale", "update_rule"))
def linear_attention(call: Call, q, k, v, past_state=None, decay=None, beta=None):
    """output (batch, time, q_heads * v_size) and present_state (batch, kv_heads, k_size, v_size):
    token by token, S = exp(g) S (gated), v = beta (v - S^T k) (delta), S += k v^T, o = scale q^T S;
    each K / V head's state read by its group of query heads. Computed in float32 (as the
    operator's function body and the reference do) and rounded to the inputs' type once."""
    gated, delta = _update_rule(call)
    dtype = same_type(call, [a for a in (q, k, v, decay, beta) if a is not None], LINEAR_TYPES)
    for name, given in (("decay", decay), ("beta", beta)):
        needed = gated if name == "decay" else delta
        if needed != (given is not None):
            raise call.malformed(f"{'needs a' if needed else 'takes no'} {name} input for update_rule '{call.string('update_rule', 'gated_delta')}'")
    q_heads, kv_heads = int(call.attr("q_num_heads")), int(call.attr("kv_num_heads"))
    if q_heads < 1 or kv_heads < 1 or q_heads % kv_heads:
        raise call.malformed(f"has q_num_heads={q_heads}, not a positive multiple of kv_num_heads={kv_heads}")
    if not q.ndim == k.ndim == v.ndim == 3 or q.shape[:2] != k.shape[:2] or v.shape[:2] != k.shape[:2]:
        raise call.malformed(f"takes query, key, value (batch, time, heads * size), got {list(q.shape)}, {list(k.shape)}, {list(v.shape)}")
    if q.shape[2] % q_heads or v.shape[2] % kv_heads or k.shape[2] != kv_heads * (q.shape[2] // q_heads):
        raise call.malformed(f"cannot split query, key, value sizes {q.shape[2]}, {k.shape[2]}, {v.shape[2]} into "
                             f"{q_heads} / {kv_heads} heads of one key size")
    batch, time = q.shape[:2]
    k_size, v_size = q.shape[2] // q_heads, v.shape[2] // kv_heads
    state_shape = call.admit((batch, kv_heads, k_size, v_size), np.float32, "the recurrent state")
    call.admit((batch, time, q_heads * v_size), np.float32, "the output")
    if past_state is None:
        state = np.zeros(state_shape, np.float32)
    elif past_state.dtype != dtype:
        raise call.refuse(f"a past_state of type {type_name(past_state.dtype)} with inputs of type {type_name(dtype)} "
                          "(the reference keeps the state's type, the function body the query's: npinfer does not guess)")
    elif past_state.shape != state_shape:
        raise call.malformed(f"has past_state of shape {list(past_state.shape)}, expected {list(state_shape)}")
    else:
        state = past_state.astype(np.float32)  # a copy: updated in place below
    group = q_heads // kv_heads
    qs = q.reshape(batch, time, kv_heads, group, k_size).transpose(0, 2, 3, 1, 4).astype(np.float32)  # (b, kv_heads, group, t, k)
    ks, vs = (split_heads(x, kv_heads).astype(np.float32) for x in (k, v))  # (batch, kv_heads, time, size)
    if gated:
        gates = np.exp(_per_head(call, decay, "decay", batch, time, {kv_heads: (kv_heads, 1), kv_heads * k_size: (kv_heads, k_size)}))
    if delta:
        rates = _per_head(call, beta, "beta", batch, time, {kv_heads: (kv_heads, 1), 1: (1, 1)})  # (batch, heads or 1, time, 1)
    scale = float(call.attr("scale", 0.0)) or 1 / np.sqrt(k_size)
    out = np.empty((batch, kv_heads, group, time, v_size), np.float32)
    for t in range(time):
        key, value = ks[:, :, t], vs[:, :, t]  # (batch, kv_heads, k_size), (batch, kv_heads, v_size)
        if gated:
            state *= gates[:, :, t, :, None]  # a gate per head or per key feature, over the values
        if delta:
            value = rates[:, :, t] * (value - np.einsum("bhkv,bhk->bhv", state, key))
        state += key[..., :, None] * value[..., None, :]  # the outer product k v^T
        out[:, :, :, t] = scale * np.einsum("bhgk,bhkv->bhgv", qs[:, :, :, t], state)
    output = out.transpose(0, 3, 1, 2, 4).reshape(batch, time, q_heads * v_size)  # query head h reads K / V head h // group
    return output.astype(dtype), state.astype(dtype)


def _update_rule(call: Call) -> tuple:
    """(gated, delta) of the update_rule attribute."""
    rule = call.string("update_rule", "gated_delta")
    if rule not in UPDATE_RULES:
        raise call.malformed(f"has update_rule={rule!r} (one of {', '.join(UPDATE_RULES)})")
    return UPDATE_RULES[rule]
