"""Attention layers: Attention (dot or concat scores), AdditiveAttention, MultiHeadAttention.

Masks as Keras applies them: the value mask (and a causal mask) removes keys from the
softmax; Attention zeroes the rows of masked queries and its output carries the query mask.
"""

from __future__ import annotations

import math

import numpy as np

from ..errors import ModelFormatError
from .activations import softmax
from .base import REQUIRED, Layer, format_shape, require_bool, require_positive_int

BIG = 1.0e9  # what Keras subtracts from masked scores


def causal_mask(queries: int, keys: int) -> np.ndarray:
    """(queries, keys): True where key index <= query index (Keras's cumsum construction)."""
    return np.arange(queries)[:, None] >= np.arange(keys)[None, :]


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
        return [out, (None, query[1], key[1])] if options["return_attention_scores"] else [out]

    def expect_scalar(self, key):
        if self.weights[key].size != 1:
            self.expect_weight(key, ())
        self.weights[key] = self.weights[key].reshape(())

    def scores(self, query, key):
        """(batch, Tq, Tv) scores."""
        if self.config.get("score_mode", "dot") == "dot":
            s = query @ key.transpose(0, 2, 1)
            return s * self.weights["scale"] if "scale" in self.weights else s
        summed = query[:, :, None, :] + key[:, None, :, :]  # (batch, Tq, Tv, dim)
        if "scale" in self.weights:
            summed = summed * self.weights["scale"]
        return self.weights["concat_score_weight"] * np.sum(np.tanh(summed), axis=-1)

    def call(self, inputs, ctx):
        query, value = inputs[0], inputs[1]
        key = inputs[2] if len(inputs) == 3 else value
        query_mask, value_mask = ctx.mask(0), ctx.mask(1)
        scores = self.scores(query, key)  # (batch, Tq, Tv)
        keep = None if value_mask is None else value_mask[:, None, :]
        if ctx.options["use_causal_mask"]:
            causal = causal_mask(scores.shape[1], scores.shape[2])[None]
            keep = causal if keep is None else keep & causal
        if keep is not None:
            scores = np.where(keep, scores, scores - np.asarray(BIG, scores.dtype))
        weights = softmax(scores, axis=-1)
        result = weights @ value  # (batch, Tq, dim_v)
        if query_mask is not None:
            result = np.where(query_mask[:, :, None], result, np.zeros((), result.dtype))
        return [result, weights] if ctx.options["return_attention_scores"] else [result]

    def compute_masks(self, inputs, ctx, outputs):
        return [ctx.mask(0)] + [None] * (len(outputs) - 1)


class Attention(DenseAttention):
    """Luong-style: scores = query . key (times `scale`), or the concat form."""


class AdditiveAttention(DenseAttention):
    """Bahdanau-style: scores = sum(scale * tanh(query + key))."""

    OPTIONS = {"use_scale": True}

    def scores(self, query, key):
        summed = np.tanh(query[:, :, None, :] + key[:, None, :, :])  # (batch, Tq, Tv, dim)
        if "scale" in self.weights:
            summed = summed * self.weights["scale"]
        return np.sum(summed, axis=-1)


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
        self.scale = 1.0 / math.sqrt(key_dim)
        result = (None, query[1], out)
        return [result, (None, heads, query[1], key[1])] if options["return_attention_scores"] else [result]

    def _project(self, x, part):
        y = np.einsum("btd,dnh->btnh", x, self.weights[f"{part}/kernel"])  # (batch, time, heads, dim)
        return y + self.weights[f"{part}/bias"] if self.config["use_bias"] else y

    def call(self, inputs, ctx):
        query, value = inputs[0], inputs[1]
        key = inputs[2] if len(inputs) == 3 else value
        q = self._project(query, "query") * np.asarray(self.scale, query.dtype)  # (batch, Tq, heads, key_dim)
        k = self._project(key, "key")  # (batch, Tk, heads, key_dim)
        v = self._project(value, "value")  # (batch, Tk, heads, value_dim)
        scores = np.einsum("bsnh,btnh->bnts", k, q)  # (batch, heads, Tq, Tk)
        keep = self._attention_mask(inputs, ctx, scores.shape)
        returning_scores = ctx.options["return_attention_scores"]
        if keep is not None:
            scores = np.where(keep[:, None], scores, np.asarray(-BIG, scores.dtype))
        probabilities = softmax(scores, axis=-1)
        if keep is not None and returning_scores and self.config["semantics"] == "keras3":
            probabilities = np.where(keep[:, None], probabilities, np.zeros((), scores.dtype))  # Keras 3's Softmax(mask) path
        attended = np.einsum("bnts,bsnh->btnh", probabilities, v)  # (batch, Tq, heads, value_dim)
        result = np.einsum("btnh,nho->bto", attended, self.weights["output/kernel"])
        if self.config["use_bias"]:
            result = result + self.weights["output/bias"]
        return [result, probabilities] if returning_scores else [result]

    def _attention_mask(self, inputs, ctx, shape):
        """(batch, Tq, Tk) booleans, or None when nothing is masked."""
        query_mask = self._mask(ctx, "query_mask", 0)
        value_mask = self._mask(ctx, "value_mask", 1)
        key_mask = self._mask(ctx, "key_mask", 2) if len(inputs) == 3 else None
        keep = None
        if query_mask is not None:
            keep = query_mask[:, :, None]
        for m in (value_mask, key_mask):
            if m is not None:
                keep = m[:, None, :] if keep is None else keep & m[:, None, :]
        if "attention_mask" in ctx.kwargs:
            given = ctx.kwargs["attention_mask"][0].astype(bool)
            keep = given if keep is None else keep & given
        if ctx.options["use_causal_mask"]:
            causal = causal_mask(shape[2], shape[3])[None]
            keep = causal if keep is None else keep & causal
        return None if keep is None else np.broadcast_to(keep, (shape[0], shape[2], shape[3]))

    def _mask(self, ctx, name, index):
        if name in ctx.kwargs and name != "query_mask":  # Keras 3 ignores an explicit query_mask
            return ctx.kwargs[name][0].astype(bool)
        return ctx.mask(index)

    def compute_masks(self, inputs, ctx, outputs):
        return [ctx.mask(0)] + [None] * (len(outputs) - 1)

    def clears_input_masks(self) -> bool:
        """Keras 3 removes the masks of its input tensors once it has run (later readers see none)."""
        return self.config["semantics"] == "keras3"
