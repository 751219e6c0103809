"""Plain NumPy functions that `npinfer export` copies into a standalone script.

Each is self-contained (NumPy only), readable, and mirrors what the npinfer layer of the same
name computes; the export tests run the generated scripts against Keras on every model of the
test zoo that export supports. Weights use Keras's layout: W (features, G*units), U (units,
G*units), b (G*units,); LSTM gates i, f, c, o; GRU gates z, r, h.
"""

from __future__ import annotations

import numpy as np

from .layers.activations import softmax


def dense(x, kernel, bias=None, activation=None):
    """y = activation(x @ kernel + bias) on the last axis."""
    y = x @ kernel
    if bias is not None:
        y = y + bias
    return activation(y) if activation else y


def rnn(x, step, states, go_backwards=False, return_sequences=False, mask=None, zero_output_for_mask=False):
    """The one loop over time steps: `step(x_t, states)` returns (output, new states).
    With go_backwards the sequence is read last step first and the outputs keep that order.
    mask: (batch, time) booleans or None. At a masked step the states are held and the output
    repeats the previous one (zeros before the first step; always zeros with zero_output_for_mask)."""
    if mask is not None and mask.shape != x.shape[:2]:
        raise ValueError(f"mask has shape {mask.shape}, expected {x.shape[:2]} (batch, time)")
    outputs = []
    output = None
    steps = range(x.shape[1] - 1, -1, -1) if go_backwards else range(x.shape[1])
    for t in steps:
        new_output, new_states = step(x[:, t], states)
        if mask is None:
            output, states = new_output, new_states
        else:
            keep = mask[:, t, None]  # (batch, 1): this step is real
            states = [np.where(keep, new, old) for new, old in zip(new_states, states)]
            previous = np.zeros((), new_output.dtype) if zero_output_for_mask or output is None else output
            output = np.where(keep, new_output, previous)
        outputs.append(output)
    sequence = np.stack(outputs, axis=1) if return_sequences else outputs[-1]
    return sequence, states


def simple_rnn_step(W, U, b, activation):
    """h = activation(x_t W + h U + b), as in the article."""
    def step(x_t, states):
        (h,) = states
        h = activation(x_t @ W + h @ U + b)
        return h, [h]
    return step


def lstm_step(W, U, b, activation, recurrent_activation, projection=None):
    """z = x_t W + h U + b; i, f, o gates; c = f c + i activation(z_c); h = o activation(c).
    With `projection` P (units, projection_units), PyTorch's proj_size: h = (o activation(c)) P,
    and U is (projection_units, 4*units)."""
    units = W.shape[1] // 4

    def step(x_t, states):
        h, c = states
        z = x_t @ W + h @ U + b
        i = recurrent_activation(z[:, :units])
        f = recurrent_activation(z[:, units : 2 * units])
        candidate = activation(z[:, 2 * units : 3 * units])
        o = recurrent_activation(z[:, 3 * units :])
        c = f * c + i * candidate
        h = o * activation(c)
        if projection is not None:
            h = h @ projection  # (batch, projection_units)
        return h, [h, c]
    return step


def gru_step(W, U, b, activation, recurrent_activation, reset_after=True):
    """z, r gates; candidate from r applied after (reset_after) or before the recurrent
    product; h = z h + (1 - z) candidate. With reset_after, b holds [input bias; recurrent bias]."""
    units = U.shape[0]
    b_in, b_rec = (b[0], b[1]) if reset_after else (b, np.zeros_like(b))

    def step(x_t, states):
        (h,) = states
        x_part = x_t @ W + b_in
        if reset_after:
            inner = h @ U + b_rec
            z = recurrent_activation(x_part[:, :units] + inner[:, :units])
            r = recurrent_activation(x_part[:, units : 2 * units] + inner[:, units : 2 * units])
            candidate = activation(x_part[:, 2 * units :] + r * inner[:, 2 * units :])
        else:
            inner = h @ U[:, : 2 * units]
            z = recurrent_activation(x_part[:, :units] + inner[:, :units])
            r = recurrent_activation(x_part[:, units : 2 * units] + inner[:, units:])
            candidate = activation(x_part[:, 2 * units :] + (r * h) @ U[:, 2 * units :])
        h = z * h + (1 - z) * candidate
        return h, [h]
    return step


def zeros_states(x, sizes):
    return [np.zeros((x.shape[0], size), x.dtype) for size in sizes]


def merge(tensors, mode):
    """Bidirectional merge of the forward and backward outputs."""
    a, b = tensors
    if mode == "concat":
        return np.concatenate([a, b], axis=-1)
    if mode == "sum":
        return a + b
    if mode == "mul":
        return a * b
    return (a + b) / 2  # ave


def expanded_mask(mask, x):
    """A (batch, time) mask broadcast to x's shape, as Keras expands it."""
    return np.broadcast_to(mask.reshape(mask.shape + (1,) * (x.ndim - mask.ndim)), x.shape)


def masked_multiply(tensors, masks):
    """Keras 3 Multiply with masks (None: no mask): masked values count as 1; if every input
    has a mask, positions masked in all of them give 0."""
    total = None
    for x, m in zip(tensors, masks):
        value = x if m is None else np.where(expanded_mask(m, x), x, np.ones((), x.dtype))
        total = value if total is None else total * value
    if all(m is not None for m in masks):
        anywhere = np.logical_or.reduce([expanded_mask(m, x) for x, m in zip(tensors, masks)])
        total = np.where(anywhere, total, np.zeros((), total.dtype))
    return total


def masked_extreme(tensors, masks, op):
    """Keras 3 Maximum / Minimum (op np.maximum / np.minimum) with masks: masked values never win."""
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


def masked_mean(x, mask, axis, keepdims):
    """GlobalAveragePooling1D with a (batch, time) mask: the mean over the unmasked steps only
    (time on `axis`, 1 or 2)."""
    weights = (mask[:, :, None] if axis == 1 else mask[:, None, :]).astype(x.dtype)
    with np.errstate(invalid="ignore"):  # a row masked everywhere gives NaN, as in Keras
        return (np.sum(x * weights, axis=axis, keepdims=keepdims) / np.sum(weights, axis=axis, keepdims=keepdims)).astype(x.dtype)


def embedding(ids, table):
    """table[ids]; ids must be 0 .. len(table) - 1."""
    ids = np.asarray(ids).astype(np.int64)
    if ids.size and (ids.min() < 0 or ids.max() >= len(table)):
        raise ValueError(f"token ids must be 0..{len(table) - 1}")
    return table[ids]


def conv1d(x, kernel, bias, strides, padding, dilation, groups, activation):
    """1-D convolution, channels last: kernel (k, in / groups, filters); padding valid / same / causal."""
    k = kernel.shape[0]
    span = dilation * (k - 1) + 1
    steps = x.shape[1]
    if padding == "causal":
        x = np.pad(x, ((0, 0), (span - 1, 0), (0, 0)))
    elif padding == "same":
        out = -(-steps // strides)
        total = max((out - 1) * strides + span - steps, 0)
        x = np.pad(x, ((0, 0), (total // 2, total - total // 2), (0, 0)))
    out = (x.shape[1] - span) // strides + 1
    per_in, filters = kernel.shape[1], kernel.shape[2]
    per_out = filters // groups
    y = np.zeros((x.shape[0], out, filters), x.dtype)
    for j in range(k):
        window = x[:, j * dilation : j * dilation + (out - 1) * strides + 1 : strides]  # (batch, out, in)
        for g in range(groups):
            y[..., g * per_out : (g + 1) * per_out] += window[..., g * per_in : (g + 1) * per_in] @ kernel[j, :, g * per_out : (g + 1) * per_out]
    if bias is not None:
        y = y + bias
    return activation(y) if activation else y


def pool1d(x, size, strides, padding, kind):
    """Max or average over windows of the time axis; 'same' averages count real steps only."""
    steps = x.shape[1]
    left = right = 0
    if padding == "same":
        out = -(-steps // strides)
        total = max((out - 1) * strides + size - steps, 0)
        left, right = total // 2, total - total // 2
    out = (steps + left + right - size) // strides + 1
    rows = []
    for t in range(out):
        start, stop = max(t * strides - left, 0), min(t * strides - left + size, steps)
        window = x[:, start:stop]
        rows.append(window.max(axis=1) if kind == "max" else window.mean(axis=1))
    return np.stack(rows, axis=1)


def batch_normalization(x, mean, variance, gamma, beta, epsilon, axes):
    shape = [1] * x.ndim
    for a in axes:
        shape[a] = x.shape[a]
    scale = 1.0 / np.sqrt(variance.reshape(shape) + epsilon)
    if gamma is not None:
        scale = scale * gamma.reshape(shape)
    y = (x - mean.reshape(shape)) * scale
    return (y + beta.reshape(shape) if beta is not None else y).astype(x.dtype)


def layer_normalization(x, gamma, beta, epsilon, axes, rms_scaling=False):
    shape = [1] * x.ndim
    for a in axes:
        shape[a] = x.shape[a]
    variance = x.var(axis=tuple(axes), keepdims=True)
    inverse = 1.0 / np.sqrt(variance + np.asarray(epsilon, x.dtype))
    if rms_scaling:
        return x * inverse * gamma.reshape(shape)
    y = (x - x.mean(axis=tuple(axes), keepdims=True)) * inverse
    if gamma is not None:
        y = y * gamma.reshape(shape)
    return y + beta.reshape(shape) if beta is not None else y


def stacked_step(steps, counts):
    """StackedRNNCells: in each time step every cell runs in turn, its output the next one's
    input; states are the cells' states in order (counts[i] of them for cell i)."""
    def step(x_t, states):
        new_states, at = [], 0
        for cell_step, count in zip(steps, counts):
            x_t, updated = cell_step(x_t, states[at : at + count])  # x_t: (batch, units of this cell)
            new_states += updated
            at += count
        return x_t, new_states
    return step


def depthwise_conv1d(x, kernel, bias, strides, padding, dilation, activation):
    """Each input channel c convolved with its own `multiplier` filters, channels last:
    kernel (k, channels, multiplier); output channel c * multiplier + m. This is conv1d with
    groups = channels and the kernel seen as (k, 1, channels * multiplier)."""
    k, channels, multiplier = kernel.shape
    grouped = kernel.reshape(k, 1, channels * multiplier)  # (k, in / groups = 1, filters)
    return conv1d(x, grouped, bias, strides, padding, dilation, channels, activation)


def separable_conv1d(x, depthwise_kernel, pointwise_kernel, bias, strides, padding, dilation, activation):
    """Depthwise convolution (no bias), then a pointwise 1x1 convolution to `filters`, bias,
    activation: depthwise_kernel (k, channels, multiplier), pointwise_kernel (1, channels * multiplier, filters)."""
    y = depthwise_conv1d(x, depthwise_kernel, None, strides, padding, dilation, None)  # (batch, out, channels * multiplier)
    return dense(y, pointwise_kernel[0], bias, activation)  # (batch, out, filters)


def normalization(x, mean, variance, axes, invert=False):
    """Keras's preprocessing Normalization with stored statistics over `axes`:
    (x - mean) / max(sqrt(variance), 1e-7); `invert` undoes it: mean + x * max(sqrt(variance), 1e-7)."""
    shape = [1] * x.ndim  # mean and variance broadcast against x
    for a in axes:
        shape[a] = x.shape[a]
    mean = mean.reshape(shape)
    std = np.maximum(np.sqrt(variance.reshape(shape)), np.asarray(1e-7, variance.dtype))  # 1e-7: keras.backend.epsilon()
    if invert:
        return mean + x * std
    return (x - mean) / std


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
    result = a.reshape(batch, -1, a.shape[-1]) @ b.reshape(batch, b.shape[1], -1)  # (batch, m, n)
    shape = a.shape[1:-1] + b.shape[2:]
    return result.reshape((batch,) + shape) if shape else result.reshape(batch, 1)


# -- attention -------------------------------------------------------------------------------
# `softmax` is npinfer's activation (copied into the script with the activations).


def causal_mask(queries, keys):
    """(queries, keys) booleans: True where key index <= query index (what each query may see)."""
    return np.arange(queries)[:, None] >= np.arange(keys)[None, :]


def attend(scores, value, causal=False, query_mask=None, value_mask=None):
    """The shared end of Attention and AdditiveAttention: softmax over the keys of the
    scores (batch, Tq, Tv), then the weighted sum of value (batch, Tv, dim_v). 1e9 is
    subtracted from the scores of masked keys (value_mask (batch, Tv)) and, with `causal`,
    of later keys (as Keras does); rows of masked queries (query_mask (batch, Tq)) are zeroed.
    Returns the output (batch, Tq, dim_v) and the attention weights (batch, Tq, Tv)."""
    keep = None if value_mask is None else value_mask[:, None, :]  # (batch, 1, Tv)
    if causal:
        later = causal_mask(scores.shape[1], scores.shape[2])[None]  # (1, Tq, Tv)
        keep = later if keep is None else keep & later
    if keep is not None:
        scores = np.where(keep, scores, scores - np.asarray(1.0e9, scores.dtype))
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
                         query_mask=None, value_mask=None, key_mask=None):
    """Keras MultiHeadAttention over the sequence axis: query (batch, Tq, dq), value (batch,
    Tk, dv), key (batch, Tk, dk); kernels (features, heads, key_dim or value_dim), output
    kernel (heads, value_dim, out). Scaled dot-product attention in each head, the heads
    projected back. Keys a query may not see get the score -1e9: those masked by value_mask or
    key_mask (batch, Tk), every key of a query masked by query_mask (batch, Tq), and with
    `causal` later keys; Keras 3 also zeroes their weights when it returns the scores. Dropout
    does nothing at inference. Returns the output (batch, Tq, out) and the weights (batch, heads, Tq, Tk)."""
    key_dim = query_kernel.shape[-1]
    q = project_heads(query, query_kernel, query_bias) * np.asarray(1.0 / np.sqrt(key_dim), query.dtype)  # (batch, Tq, heads, key_dim)
    k = project_heads(key, key_kernel, key_bias)  # (batch, Tk, heads, key_dim)
    v = project_heads(value, value_kernel, value_bias)  # (batch, Tk, heads, value_dim)
    scores = np.einsum("bsnh,btnh->bnts", k, q)  # (batch, heads, Tq, Tk)
    keep = None if query_mask is None else query_mask[:, :, None]  # (batch, Tq, 1)
    for m in (value_mask, key_mask):
        if m is not None:
            keep = m[:, None, :] if keep is None else keep & m[:, None, :]  # (batch, Tq or 1, Tk)
    if causal:
        later = causal_mask(scores.shape[2], scores.shape[3])[None]  # (1, Tq, Tk)
        keep = later if keep is None else keep & later
    if keep is not None:
        keep = np.broadcast_to(keep, (scores.shape[0], scores.shape[2], scores.shape[3]))[:, None]  # (batch, 1, Tq, Tk)
        scores = np.where(keep, scores, np.asarray(-1.0e9, scores.dtype))
    weights = softmax(scores, axis=-1)  # (batch, heads, Tq, Tk)
    if keep is not None and return_scores and semantics == "keras3":
        weights = np.where(keep, weights, np.zeros((), scores.dtype))
    attended = np.einsum("bnts,bsnh->btnh", weights, v)  # (batch, Tq, heads, value_dim)
    result = np.einsum("btnh,nho->bto", attended, output_kernel)  # (batch, Tq, out)
    if output_bias is not None:
        result = result + output_bias
    return result, weights


# -- tensor operations of models converted from PyTorch (layers/tensor_ops.py) --------------------
# Their axes count the batch axis, as torch numbers them.


def checked_reshape(x, shape, expected):
    """x.reshape(shape), where the model was built for the result shape `expected` (None: any size)."""
    y = x.reshape(shape)
    if any(e is not None and e != g for e, g in zip(expected, y.shape)):
        raise ValueError(f"reshaping {x.shape} gives {y.shape}, but the model was built for {expected}")
    return y


def softmax_over(x, axis, log=False):
    """softmax (or log_softmax with `log`) over `axis`, an axis or a tuple of axes taken together."""
    shifted = x - np.max(x, axis=axis, keepdims=True)
    exp = np.exp(shifted)
    total = np.sum(exp, axis=axis, keepdims=True)
    return shifted - np.log(total) if log else exp / total


def truncate_to_int64(x):
    """Cast to int64, floats truncated toward zero (ONNX Cast)."""
    with np.errstate(invalid="ignore"):
        return np.trunc(x).astype(np.int64) if x.dtype.kind == "f" else x.astype(np.int64)
