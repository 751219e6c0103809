"""Attention layers: Attention (dot or concat scores), AdditiveAttention, MultiHeadAttention.

Masks as Keras applies them: the value mask (and a causal mask) removes keys from the
softmax; Attention zeroes the rows of masked queries and its output carries the query mask.
"""

from __future__ import annotations

import numpy as np

from ..errors import ModelFormatError
from .activations import softmax
from .base import (
    REQUIRED,
    Layer,
    Values,
    format_shape,
    require_bool,
    require_positive_int,
)

BIG = 1.0e9  # what Keras subtracts from masked scores


def causal_mask(queries, keys, offset=0):
    """(queries, keys) booleans: True where key index <= query index + offset (what each query
    may see). offset: the keys before the first query (ONNX's bottom-right alignment over a
    cache); an array (..., 1, 1) gives one per batch, and the result its leading axes."""
    return np.arange(queries)[:, None] + offset >= np.arange(keys)[None, :]


def attend(scores, value, causal=False, query_mask=None, value_mask=None):
    """The shared end of Attention and AdditiveAttention: softmax over the keys of the
    scores (batch, Tq, Tv), then the weighted sum of value (batch, Tv, dim_v). BIG is
    subtracted from the scores of masked keys (value_mask (batch, Tv)) and, with `causal`,
    of later keys (as Keras does); rows of masked queries (query_mask (batch, Tq)) are zeroed.
    Returns the output (batch, Tq, dim_v) and the attention weights (batch, Tq, Tv)."""
    keep = None if value_mask is None else value_mask[:, None, :]  # (batch, 1, Tv)
    if causal:
        later = causal_mask(scores.shape[1], scores.shape[2])[None]  # (1, Tq, Tv)
        keep = later if keep is None else keep & later
    if keep is not None:
        scores = np.where(keep, scores, scores - np.asarray(BIG, scores.dtype))
    weights = softmax(scores, axis=-1)  # (batch, Tq, Tv)
    result = weights @ value
    if query_mask is not None:
        result = np.where(query_mask[:, :, None], result, np.zeros((), result.dtype))
    return result, weights


def attention(query, value, key, scale=None, concat_score_weight=None, score_mode="dot", causal=False, query_mask=None,
              value_mask=None):
    """Keras Attention (Luong-style): query (batch, Tq, dim), value (batch, Tv, dim_v), key
    (batch, Tv, dim). Scores: query . key (times the scalar `scale`), or with score_mode
    'concat': concat_score_weight * sum(tanh(scale * (query + key))). Dropout does nothing
    at inference. Masks as in attend(). Returns the output (batch, Tq, dim_v) and the weights (batch, Tq, Tv)."""
    if score_mode == "dot":
        scores = query @ key.transpose(0, 2, 1)  # (batch, Tq, Tv)
        if scale is not None:
            scores = scores * scale
    else:
        summed = query[:, :, None, :] + key[:, None, :, :]  # (batch, Tq, Tv, dim)
        if scale is not None:
            summed = summed * scale
        scores = concat_score_weight * np.sum(np.tanh(summed), axis=-1)  # (batch, Tq, Tv)
    return attend(scores, value, causal, query_mask, value_mask)


def additive_attention(query, value, key, scale=None, causal=False, query_mask=None, value_mask=None):
    """Keras AdditiveAttention (Bahdanau-style): scores = sum(scale * tanh(query + key)) over
    the features, `scale` (dim,). Shapes and masks as in attention(); returns (output, weights)."""
    summed = np.tanh(query[:, :, None, :] + key[:, None, :, :])  # (batch, Tq, Tv, dim)
    if scale is not None:
        summed = summed * scale
    return attend(np.sum(summed, axis=-1), value, causal, query_mask, value_mask)  # scores (batch, Tq, Tv)


def project_heads(x, kernel, bias=None):
    """x (batch, time, features) times kernel (features, heads, dim): (batch, time, heads, dim)."""
    y = np.einsum("btd,dnh->btnh", x, kernel)
    return y + bias if bias is not None else y  # bias (heads, dim)


def multi_head_attention(query, value, key, query_kernel, query_bias, key_kernel, key_bias, value_kernel, value_bias,
                         output_kernel, output_bias, causal=False, return_scores=False, semantics="keras3",
                         query_mask=None, value_mask=None, key_mask=None, attention_mask=None):
    """Keras MultiHeadAttention over the sequence axis: query (batch, Tq, dq), value (batch,
    Tk, dv), key (batch, Tk, dk); kernels (features, heads, key_dim or value_dim), output
    kernel (heads, value_dim, out). Scaled dot-product attention in each head, the heads
    projected back. Keys a query may not see: those masked by value_mask or key_mask (batch,
    Tk), every key of a query masked by query_mask (batch, Tq), where attention_mask (batch, Tq,
    Tk) is false, and with `causal` later keys. Keras 3 gives their scores -BIG (and zeroes their
    weights when it returns the scores); Keras 2 subtracts BIG, and reads an attention_mask
    without other masks as numbers: (1 - mask) * -BIG is added. Dropout does nothing at
    inference. Returns the output (batch, Tq, out) and the weights (batch, heads, Tq, Tk)."""
    key_dim = query_kernel.shape[-1]
    q = project_heads(query, query_kernel, query_bias) * np.asarray(1.0 / np.sqrt(key_dim), query.dtype)  # (batch, Tq, heads, key_dim)
    k = project_heads(key, key_kernel, key_bias)  # (batch, Tk, heads, key_dim)
    v = project_heads(value, value_kernel, value_bias)  # (batch, Tk, heads, value_dim)
    scores = np.einsum("bsnh,btnh->bnts", k, q)  # (batch, heads, Tq, Tk)
    keep = None if query_mask is None else query_mask[:, :, None]  # (batch, Tq, 1)
    for m in (value_mask, key_mask):
        if m is not None:
            m = m[:, None, :].astype(bool)  # (batch, 1, Tk)
            keep = m if keep is None else keep & m  # (batch, Tq or 1, Tk)
    if causal:
        later = causal_mask(scores.shape[2], scores.shape[3])[None]  # (1, Tq, Tk)
        keep = later if keep is None else keep & later
    if attention_mask is not None:  # Keras 2 reads it as numbers unless other masks join it
        joined = keep is not None or semantics == "keras3"
        keep = attention_mask if not joined else attention_mask.astype(bool) if keep is None else keep & attention_mask.astype(bool)
    if keep is not None:
        keep = np.broadcast_to(keep, (scores.shape[0], scores.shape[2], scores.shape[3]))[:, None]  # (batch, 1, Tq, Tk)
        if semantics == "keras3":
            scores = np.where(keep, scores, np.asarray(-BIG, scores.dtype))
        else:  # tf.keras's Softmax: (1 - mask) * -1e9 added to the scores
            scores = scores + (1 - keep.astype(scores.dtype)) * np.asarray(-BIG, scores.dtype)
    weights = softmax(scores, axis=-1)  # (batch, heads, Tq, Tk)
    if keep is not None and return_scores and semantics == "keras3":
        weights = np.where(keep, weights, np.zeros((), scores.dtype))  # Keras 3's Softmax(mask) path
    attended = np.einsum("bnts,bsnh->btnh", weights, v)  # (batch, Tq, heads, value_dim)
    result = np.einsum("btnh,nho->bto", attended, output_kernel)  # (batch, Tq, out)
    if output_bias is not None:
        result = result + output_bias
    return result, weights


class DenseAttention(Layer):
    """Attention and AdditiveAttention: inputs [query, value(, key)], call options
    use_causal_mask and return_attention_scores."""

    OPTIONS = {"use_scale": False, "score_mode": "dot"}
    CALL_OPTIONS = {"use_causal_mask": False, "return_attention_scores": False}

    @classmethod
    def weight_names(cls, config):
        if cls is AdditiveAttention:
            return ["scale"] if config.get("use_scale", True) else []
        names = ["scale"] if config.get("use_scale", False) else []
        return names + (["concat_score_weight"] if config.get("score_mode", "dot") == "concat" else [])

    def build_call(self, input_shapes, kwarg_shapes, options):
        self.expect_inputs(input_shapes, count=None, rank=3)
        if len(input_shapes) not in (2, 3):
            raise ModelFormatError(f"layer '{self.name}' ({self.class_name}) takes [query, value] or [query, value, key]")
        require_bool(self, "use_scale")
        if self.config.get("score_mode", "dot") not in ("dot", "concat"):
            raise self.refuse("score_mode", self.config["score_mode"], "dot, concat")
        for key in ("use_causal_mask", "return_attention_scores"):
            if not isinstance(options[key], bool):
                raise self.refuse(key, options[key], "true or false")
        query, value = input_shapes[0], input_shapes[1]
        key = input_shapes[2] if len(input_shapes) == 3 else value
        dim = query[-1]
        if "scale" in self.weights:
            self.expect_weight("scale", (dim,)) if isinstance(self, AdditiveAttention) else self.expect_scalar("scale")
        if "concat_score_weight" in self.weights:
            self.expect_scalar("concat_score_weight")
        if key[-1] != dim and dim is not None:
            raise ModelFormatError(f"layer '{self.name}': query {format_shape(query)} and key {format_shape(key)} differ in size")
        out = (None, query[1], value[2])
        self.scores_with = self.scoring(Values(self.weights, self.dtype))
        return [out, (None, query[1], key[1])] if options["return_attention_scores"] else [out]

    def expect_scalar(self, key):
        if self.weights[key].size != 1:
            self.expect_weight(key, ())
        self.weights[key] = self.weights[key].reshape(())

    def call(self, inputs, ctx):
        query, value = inputs[0], inputs[1]
        key = inputs[2] if len(inputs) == 3 else value
        result, weights = self.FUNCTION(query, value, key, **self.scores_with, causal=ctx.options["use_causal_mask"],
                                        query_mask=ctx.mask(0), value_mask=ctx.mask(1))
        return [result, weights] if ctx.options["return_attention_scores"] else [result]

    def scoring(self, get) -> dict:
        """The weights and options FUNCTION takes besides query, value, key and masks."""
        return {"scale": get.weight("scale"), "concat_score_weight": get.weight("concat_score_weight"),
                "score_mode": self.config.get("score_mode", "dot")}

    def export(self, e):
        query, value = e.inputs[0], e.inputs[1]
        key = e.inputs[2] if len(e.inputs) == 3 else value
        masks = {name: m for name, m in zip(("query_mask", "value_mask"), e.masks) if m is not None}
        scores = e.outputs[1] if e.options["return_attention_scores"] else "_"
        e.line(f"{e.outputs[0]}, {scores} = " + e.call(self.FUNCTION, query, value, key, **self.scoring(e),
                                                       causal=e.options["use_causal_mask"], **masks))

    def export_masks(self, e):
        return [e.mask] + [None] * (len(e.outputs) - 1)

    def compute_masks(self, inputs, ctx, outputs):
        return [ctx.mask(0)] + [None] * (len(outputs) - 1)


class Attention(DenseAttention):
    """Luong-style: scores = query . key (times `scale`), or the concat form."""

    FUNCTION = staticmethod(attention)


class AdditiveAttention(DenseAttention):
    """Bahdanau-style: scores = sum(scale * tanh(query + key))."""

    OPTIONS = {"use_scale": True}
    FUNCTION = staticmethod(additive_attention)

    def scoring(self, get):
        return {"scale": get.weight("scale")}


class MultiHeadAttention(Layer):
    """Projections of query, key and value into heads; scaled dot-product attention per head;
    the heads projected back. Inputs [query, value(, key)]; masks of query, value and key,
    an attention_mask tensor and use_causal_mask all restrict what each query sees."""

    OPTIONS = {"num_heads": REQUIRED, "key_dim": REQUIRED, "value_dim": None, "use_bias": True,
               "output_shape": None, "semantics": "keras3"}
    CALL_KWARGS = frozenset({"attention_mask", "query_mask", "value_mask", "key_mask"})
    CALL_OPTIONS = {"use_causal_mask": False, "return_attention_scores": False}

    @classmethod
    def weight_names(cls, config):
        parts = ("query", "key", "value", "output")
        if config.get("use_bias", True):
            return [f"{p}/{w}" for p in parts for w in ("kernel", "bias")]
        return [f"{p}/kernel" for p in parts]

    def build_call(self, input_shapes, kwarg_shapes, options):
        self.expect_inputs(input_shapes, count=None, rank=3)
        if len(input_shapes) not in (2, 3):
            raise ModelFormatError(f"layer '{self.name}' (MultiHeadAttention) takes query, value and optionally key")
        heads = require_positive_int(self, "num_heads")
        key_dim = require_positive_int(self, "key_dim")
        value_dim = self.config["value_dim"] if self.config["value_dim"] is not None else key_dim
        require_bool(self, "use_bias")
        query, value = input_shapes[0], input_shapes[1]
        key = input_shapes[2] if len(input_shapes) == 3 else value
        out = self.config["output_shape"]
        out = query[-1] if out is None else out
        out = out[0] if isinstance(out, list) and len(out) == 1 else out
        if isinstance(out, bool) or not isinstance(out, int):
            raise self.refuse("output_shape", self.config["output_shape"], "an integer (one output axis)")
        self.expect_weight("query/kernel", (query[-1], heads, key_dim))
        self.expect_weight("key/kernel", (key[-1], heads, key_dim))
        self.expect_weight("value/kernel", (value[-1], heads, value_dim))
        self.expect_weight("output/kernel", (heads, value_dim, out))
        if self.config["use_bias"]:
            for part, shape in (("query", (heads, key_dim)), ("key", (heads, key_dim)), ("value", (heads, value_dim)), ("output", (out,))):
                self.expect_weight(f"{part}/bias", shape)
        for flag in ("use_causal_mask", "return_attention_scores"):
            if not isinstance(options[flag], bool):
                raise self.refuse(flag, options[flag], "true or false")
        result = (None, query[1], out)
        return [result, (None, heads, query[1], key[1])] if options["return_attention_scores"] else [result]

    def call(self, inputs, ctx):
        query, value = inputs[0], inputs[1]
        key = inputs[2] if len(inputs) == 3 else value
        masks = {"query_mask": ctx.mask(0), "value_mask": self._mask(ctx.kwargs, ctx.mask(1), "value_mask"),
                 "key_mask": self._mask(ctx.kwargs, ctx.mask(2), "key_mask") if len(inputs) == 3 else None,
                 "attention_mask": self._mask(ctx.kwargs, None, "attention_mask")}
        result, weights = multi_head_attention(query, value, key, *self._kernels(self.weights.get),
                                               causal=ctx.options["use_causal_mask"],
                                               return_scores=ctx.options["return_attention_scores"],
                                               semantics=self.config["semantics"], **masks)
        return [result, weights] if ctx.options["return_attention_scores"] else [result]

    @staticmethod
    def _mask(kwargs: dict, propagated, name: str):
        """A mask given as a call argument (Keras 3 ignores an explicit query_mask), else the propagated one."""
        return kwargs[name][0] if name in kwargs else propagated

    @staticmethod
    def _kernels(weight) -> list:
        return [weight(f"{part}/{kind}") for part in ("query", "key", "value", "output") for kind in ("kernel", "bias")]

    def export(self, e):
        query, value = e.inputs[0], e.inputs[1]
        key = e.inputs[2] if len(e.inputs) == 3 else value
        semantics = self.config["semantics"]
        if semantics not in ("keras2", "keras3"):
            raise e.refuse(f"semantics {semantics!r}")
        masks = {"query_mask": e.mask, "value_mask": self._mask(e.kwargs, e.masks[1] if len(e.masks) > 1 else None, "value_mask"),
                 "key_mask": self._mask(e.kwargs, e.masks[2] if len(e.masks) > 2 else None, "key_mask") if len(e.inputs) == 3 else None,
                 "attention_mask": self._mask(e.kwargs, None, "attention_mask")}
        returns_scores = e.options["return_attention_scores"]
        call = e.call(multi_head_attention, query, value, key, *self._kernels(e.weight), causal=e.options["use_causal_mask"],
                      return_scores=returns_scores, semantics=semantics, **{k: m for k, m in masks.items() if m is not None})
        e.line(f"{e.outputs[0]}, {e.outputs[1] if returns_scores else '_'} = {call}")

    def export_masks(self, e):
        return [e.mask] + [None] * (len(e.outputs) - 1)

    def compute_masks(self, inputs, ctx, outputs):
        return [ctx.mask(0)] + [None] * (len(outputs) - 1)

    def clears_input_masks(self) -> bool:
        """Keras 3 removes the masks of its input tensors once it has run (later readers see none)."""
        return self.config["semantics"] == "keras3"
