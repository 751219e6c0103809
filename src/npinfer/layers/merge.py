"""Merge layers: several inputs in, one output. Masks combine as in Keras: element-wise merges
AND their inputs' masks; Concatenate joins them along the concatenation axis."""

from __future__ import annotations

import numpy as np

from ..errors import ModelFormatError, UnsupportedOptionError
from .base import Layer, broadcast_shapes, format_shape, require_bool


def expanded_mask(mask, x):
    """A (batch, time) mask broadcast to x's shape, as Keras expands it."""
    return np.broadcast_to(mask.reshape(mask.shape + (1,) * (x.ndim - mask.ndim)), x.shape)


def masked_multiply(tensors, masks):
    """Keras 3 Multiply with masks (None: no mask): masked values count as 1; if every input
    has a mask, positions masked in all of them give 0 (keras/src/layers/merging/multiply.py)."""
    total = None
    for x, m in zip(tensors, masks):
        value = x if m is None else np.where(expanded_mask(m, x), x, np.ones((), x.dtype))
        total = value if total is None else total * value
    if all(m is not None for m in masks):
        anywhere = np.logical_or.reduce([expanded_mask(m, x) for x, m in zip(tensors, masks)])
        total = np.where(anywhere, total, np.zeros((), total.dtype))
    return total


def masked_extreme(tensors, masks, op):
    """Keras 3 Maximum / Minimum (op np.maximum / np.minimum) with masks: masked values never
    win (keras/src/layers/merging/base_merge.py)."""
    out, out_mask = tensors[0], None if masks[0] is None else expanded_mask(masks[0], tensors[0])
    for x, m in zip(tensors[1:], masks[1:]):
        m = None if m is None else expanded_mask(m, x)
        if m is not None:
            x = np.where(m, x, out)
        if out_mask is not None:
            out = np.where(out_mask, out, x)
        out_mask = out_mask | m if out_mask is not None and m is not None else None
        out = op(out, x)
    return out


def same_rank(tensors):
    """Inputs of lower rank get axes of size 1 after the batch axis, as Keras's merges expand
    them (axis 1, until every input has the highest rank): (batch, 12) with (batch, 10, 12)
    -> (batch, 1, 12), which broadcasts to (batch, 10, 12)."""
    rank = max(x.ndim for x in tensors)
    return [x if x.ndim == rank else x.reshape(x.shape[:1] + (1,) * (rank - x.ndim) + x.shape[1:]) for x in tensors]


def elementwise_merge(tensors, kind, masks=None):
    """Add, Subtract, Multiply, Average, Maximum or Minimum of the tensors (of lower rank
    expanded first, `same_rank`). `masks` (Keras 3, when one is present): Multiply, Maximum
    and Minimum keep masked values out; an expanded input's mask is not used, as in Keras
    (its expanded tensor carries none)."""
    rank = max(x.ndim for x in tensors)
    if masks is not None:
        masks = [m if x.ndim == rank else None for x, m in zip(tensors, masks)]
    tensors = same_rank(tensors)
    if masks is not None and kind == "Multiply":
        return masked_multiply(tensors, masks)
    if masks is not None and kind in ("Maximum", "Minimum"):
        return masked_extreme(tensors, masks, np.maximum if kind == "Maximum" else np.minimum)
    if kind == "Subtract":
        return tensors[0] - tensors[1]
    reduce = {"Add": np.add, "Multiply": np.multiply, "Maximum": np.maximum, "Minimum": np.minimum, "Average": np.add}[kind]
    total = reduce(tensors[0], tensors[1])
    for x in tensors[2:]:
        total = reduce(total, x)
    return total / np.asarray(len(tensors), total.dtype) if kind == "Average" else total


def merge_mask(masks, semantics):
    """The mask of an element-wise merge: Keras 3 ORs the masks when every input has one (else
    none); Keras 2 ANDs the masks there are."""
    present = [m for m in masks if m is not None]
    if not present or (semantics == "keras3" and len(present) != len(masks)):
        return None
    return (np.logical_or if semantics == "keras3" else np.logical_and).reduce(present)


def concatenate_mask(tensors, masks, axis, semantics):
    """The mask of Concatenate: a missing mask counts as all true, each mask is expanded to its
    input's shape, the masks are joined on `axis`, then reduced over the last axis: with
    `any` in Keras 3, `all` in Keras 2."""
    full = []
    for x, m in zip(tensors, masks):
        if m is None:
            full.append(np.ones(x.shape, bool))
        elif m.ndim < x.ndim:
            full.append(np.broadcast_to(m[..., None], x.shape))
        else:
            full.append(m)
    reduce = np.any if semantics == "keras3" else np.all
    return reduce(np.concatenate(full, axis=axis), axis=-1)


def l2_normalize(x, axes, semantics, epsilon):
    """x / ||x||_2 over `axes`. Keras 3 caps 1 / ||x|| at 1 / epsilon; Keras 2
    (tf.linalg.l2_normalize) floors ||x||^2 at 1e-12."""
    squares = np.sum(x * x, axis=axes, keepdims=True)
    if semantics == "keras3":
        with np.errstate(divide="ignore"):
            return x * np.minimum(1.0 / np.sqrt(squares), np.asarray(1.0 / epsilon, x.dtype))
    return x / np.sqrt(np.maximum(squares, np.asarray(1e-12, x.dtype)))


def dot(a, b, axes, normalize, semantics):
    """Batched dot product of a and b over a's axis axes[0] and b's axis axes[1], after an
    L2 normalization over those axes with `normalize`. The result keeps a's other axes, then
    b's; (batch, 1) if none are left."""
    if normalize:
        a = l2_normalize(a, axes[0], semantics, 1e-7)
        b = l2_normalize(b, axes[1], semantics, 1e-7)
    a = np.moveaxis(a, axes[0], -1)  # (batch, ..., k)
    b = np.moveaxis(b, axes[1], 1)  # (batch, k, ...)
    batch = a.shape[0]
    result = np.matmul(a.reshape(batch, -1, a.shape[-1]), b.reshape(batch, b.shape[1], -1))  # (batch, m, n)
    shape = a.shape[1:-1] + b.shape[2:]
    return result.reshape((batch,) + shape) if shape else result.reshape(batch, 1)


SEMANTICS = ("keras3", "keras2")


def check_semantics(layer: Layer) -> str:
    value = layer.config["semantics"]
    if value not in SEMANTICS:
        raise layer.refuse("semantics", value, ", ".join(SEMANTICS))
    return value


class ElementwiseMerge(Layer):
    """Add, Subtract, Multiply, Average, Maximum, Minimum.

    Masks: Keras 2 ANDs the masks that exist and computes on the raw values. Keras 3 ORs
    them (no mask unless every input has one), and Multiply / Maximum / Minimum skip masked
    values (Multiply treats them as 1; Maximum / Minimum never let them win)."""

    OPTIONS = {"semantics": "keras3"}
    TIME_LOCAL = True

    def build(self, input_shapes):
        self.expect_inputs(input_shapes, count=None)
        check_semantics(self)
        if self.class_name == "Subtract" and len(input_shapes) != 2:
            raise ModelFormatError(f"layer '{self.name}' (Subtract) needs exactly 2 inputs, got {len(input_shapes)}")
        if len(input_shapes) < 2:
            raise ModelFormatError(f"layer '{self.name}' ({self.class_name}) needs at least 2 inputs, got {len(input_shapes)}")
        # Keras's _compute_elemwise_op_output_shape: the shapes after the batch axis, aligned on the right
        self.ranks = [len(s) for s in input_shapes]
        try:
            return [(None,) + broadcast_shapes(self, [tuple(s[1:]) for s in input_shapes])]
        except ModelFormatError:
            raise ModelFormatError(
                f"layer '{self.name}' ({self.class_name}) cannot combine shapes {', '.join(map(format_shape, input_shapes))} "
                "(Keras aligns the axes after the batch axis on the right; each pair must be equal or 1)") from None

    def mask_problem(self, masks) -> str | None:
        """Masks Keras cannot combine either, on inputs of different ranks: every input masked
        (Keras 3 ORs the masks), masked inputs of different ranks (Keras 2 ANDs them)."""
        masked = [r for r, m in zip(self.ranks, masks) if m is not None]
        if len(set(self.ranks)) == 1 or not masked:
            return None
        if len(masked) == len(masks) if self.config["semantics"] == "keras3" else len(set(masked)) > 1:
            return f"it merges inputs of ranks {', '.join(map(str, self.ranks))} with masks on inputs of ranks {', '.join(map(str, masked))}"
        return None

    def call(self, inputs, ctx):
        problem = self.mask_problem(ctx.masks)
        if problem:
            raise UnsupportedOptionError(f"layer '{self.name}' ({self.class_name}): {problem}, which npinfer does not support; "
                                         "supported: masks Keras combines (Keras 3: not on every input; Keras 2: on inputs of one rank)")
        masked = self.config["semantics"] == "keras3" and any(m is not None for m in ctx.masks)
        return [elementwise_merge(inputs, self.class_name, ctx.masks if masked else None)]

    def compute_masks(self, inputs, ctx, outputs):
        return [merge_mask(ctx.masks, self.config["semantics"])]

    def export(self, e):
        problem = self.mask_problem(e.masks)
        if problem:
            raise e.refuse(problem)
        masked = self.config["semantics"] == "keras3" and any(m is not None for m in e.masks)
        return [e.call(elementwise_merge, e.inputs, self.class_name, *([e.masks] if masked else []))]

    def export_masks(self, e):
        present = [m for m in e.masks if m is not None]  # what merge_mask will find, known here
        if not present or (self.config["semantics"] == "keras3" and len(present) != len(e.masks)):
            return [None]
        (mask,) = e.assign(e.call(merge_mask, e.masks, self.config["semantics"]), "m_" + e.outputs[0][2:])
        return [mask]


class Concatenate(Layer):
    """Inputs joined along `axis` (batch is axis 0)."""

    OPTIONS = {"axis": -1, "semantics": "keras3"}

    def build(self, input_shapes):
        self.expect_inputs(input_shapes, count=None)
        axis = self.config["axis"]
        rank = len(input_shapes[0])
        if len(input_shapes) < 2 or any(len(s) != rank for s in input_shapes):
            raise ModelFormatError(
                f"layer '{self.name}' (Concatenate) needs 2 or more inputs of one rank, got {', '.join(map(format_shape, input_shapes))}"
            )
        if isinstance(axis, bool) or not isinstance(axis, int) or not -rank <= axis < rank or axis % rank == 0:
            raise self.refuse("axis", axis, f"a non-batch axis of a rank-{rank} input")
        check_semantics(self)
        self.axis = axis % rank
        self.TIME_LOCAL = self.axis == rank - 1
        out = []
        for i in range(rank):
            dims = [s[i] for s in input_shapes]
            if i == self.axis:
                out.append(None if None in dims else sum(dims))
            else:
                known = {d for d in dims if d is not None}
                if len(known) > 1:
                    raise ModelFormatError(
                        f"layer '{self.name}' (Concatenate) cannot join {', '.join(map(format_shape, input_shapes))} on axis {self.axis}"
                    )
                out.append(known.pop() if known else None)
        out[0] = None
        return [tuple(out)]

    def call(self, inputs, ctx):
        return [np.concatenate(inputs, axis=self.axis)]

    def compute_masks(self, inputs, ctx, outputs):
        if all(m is None for m in ctx.masks):
            return [None]
        return [concatenate_mask(inputs, ctx.masks, self.axis, self.config["semantics"])]

    def export(self, e):
        return [f"np.concatenate([{', '.join(e.inputs)}], axis={int(self.axis)!r})"]

    def export_masks(self, e):
        if all(m is None for m in e.masks):
            return [None]
        (mask,) = e.assign(e.call(concatenate_mask, e.inputs, e.masks, self.axis, self.config["semantics"]), "m_" + e.outputs[0][2:])
        return [mask]


class Dot(Layer):
    """Dot product of two inputs along `axes` (batched), optionally L2-normalized first."""

    OPTIONS = {"axes": -1, "normalize": False, "semantics": "keras3"}
    MASKING = "drop"
    FUNCTION = staticmethod(dot)

    def build(self, input_shapes):
        self.expect_inputs(input_shapes, count=2, min_rank=2)
        require_bool(self, "normalize")
        check_semantics(self)
        axes = self.config["axes"]
        axes = [axes, axes] if isinstance(axes, int) and not isinstance(axes, bool) else axes
        a, b = input_shapes
        if not (isinstance(axes, list) and len(axes) == 2 and all(isinstance(x, int) and not isinstance(x, bool) for x in axes)):
            raise self.refuse("axes", self.config["axes"], "an integer or a pair of integers")
        self.axes = [axes[0] % len(a), axes[1] % len(b)]
        if 0 in self.axes or (a[self.axes[0]] is not None and b[self.axes[1]] is not None and a[self.axes[0]] != b[self.axes[1]]):
            raise ModelFormatError(f"layer '{self.name}' (Dot) cannot contract {format_shape(a)} and {format_shape(b)} on axes {self.axes}")
        out = [d for i, d in enumerate(a) if i != self.axes[0]] + [d for i, d in enumerate(b) if i not in (0, self.axes[1])]
        return [tuple(out) if len(out) > 1 else (None, 1)]

    def arguments(self, get):
        return [self.axes, self.config["normalize"], self.config["semantics"]]
