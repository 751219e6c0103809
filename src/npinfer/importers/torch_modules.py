"""PyTorch modules -> npinfer layers: each converter reads a module's hyper-parameters and
weights and adds layers to the Builder (torch_graph.py). Gate orders and weight layouts are
converted here, never in the layers:

- nn.LSTM gates i, f, g, o = npinfer's i, f, c, o; kernel = W_ih^T, bias = b_ih + b_hh.
- nn.GRU gates r, z, n -> npinfer z, r, h (reset_after: the candidate's recurrent bias stays
  inside r * (h U_h + b_hh_n)), bias (2, 3 units) = [b_ih; b_hh].
- nn.RNN: SimpleRNN with tanh or relu.
- nn.Conv1d weight (out, in/groups, k) -> (k, in/groups, out), channels first.
"""

from __future__ import annotations

import numpy as np

from ..errors import UnsupportedLayerError, UnsupportedOptionError
from .toolkit import emit
from .toolkit.activations import TORCH_FORMS
from .toolkit.layout import per_axis
from .toolkit.refusals import option_refused as _refuse


def _array(tensor) -> np.ndarray:
    return tensor.detach().cpu().numpy().astype(np.float32) if tensor.is_floating_point() else tensor.detach().cpu().numpy()


# -- layers: one function each, from plain values (the module forms and F.* both call them) -----

def linear_layer(builder, x, weight: np.ndarray, bias: np.ndarray | None):
    """y = x W^T + b; weight (out, in)."""
    return emit.dense(builder, x, np.ascontiguousarray(weight.T), bias)  # kernel (in, out)


def linear(builder, module, x):
    return linear_layer(builder, x, _array(module.weight), None if module.bias is None else _array(module.bias))


def embedding_layer(builder, x, table: np.ndarray, max_norm, where):
    if max_norm is not None:
        raise _refuse(where, "max_norm", max_norm, "None (max_norm rescales the table while it is read)")
    return emit.embedding(builder, x, table)


def embedding(builder, module, x):
    return embedding_layer(builder, x, _array(module.weight), module.max_norm, module)


def conv_layer(builder, x, weight: np.ndarray, bias: np.ndarray | None, stride, padding, dilation, groups: int, where):
    """A torch convolution (weight (out, in/groups, *k)) -> Conv1D / 2D / 3D (channels_first),
    padding as a tensor.Pad before."""
    n = weight.ndim - 2
    kernel, dilation = weight.shape[2:], per_axis(dilation, n)
    if padding == "same":
        pads = [(d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2) for k, d in zip(kernel, dilation)]
    elif padding == "valid":
        pads = [(0, 0)] * n
    elif isinstance(padding, str):
        raise _refuse(where, "padding", padding, "'same', 'valid' or sizes")
    else:
        pads = [(p, p) for p in per_axis(padding, n)]
    return emit.conv(builder, x, weight, bias, per_axis(stride, n), dilation, groups, pads)


def conv(builder, module, x):
    """nn.Conv1d / 2d / 3d."""
    if module.padding_mode != "zeros":
        raise _refuse(module, "padding_mode", module.padding_mode, "'zeros'")
    bias = None if module.bias is None else _array(module.bias)
    return conv_layer(builder, x, _array(module.weight), bias, module.stride, module.padding, module.dilation, module.groups, module)


def conv_transpose_layer(builder, x, weight: np.ndarray, bias: np.ndarray | None, stride, padding, output_padding, groups: int,
                         dilation, where):
    """A transposed torch convolution (weight (in, out, *k)) -> Conv1D / 2D / 3DTranspose
    ('valid' with output_padding), then `padding` cut from both ends of each axis, as torch does."""
    if groups != 1:
        raise _refuse(where, "groups", groups, "1")
    n = weight.ndim - 2
    cut = [(c, c) for c in per_axis(padding, n)]
    return emit.conv_transpose(builder, x, weight, bias, per_axis(stride, n), per_axis(dilation, n), per_axis(output_padding, n), cut)


def conv_transpose(builder, module, x):
    """nn.ConvTranspose1d / 2d / 3d."""
    if module.padding_mode != "zeros":
        raise _refuse(module, "padding_mode", module.padding_mode, "'zeros'")
    bias = None if module.bias is None else _array(module.bias)
    return conv_transpose_layer(builder, x, _array(module.weight), bias, module.stride, module.padding, module.output_padding,
                                module.groups, module.dilation, module)


def pool_layer(builder, x, kind: str, n: int, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
               return_indices=False, count_include_pad=True, divisor_override=None, where="pool"):
    """Max ("Max") or average ("Average") pooling over n axes of x (batch, channels, *spatial)
    -> Max / AveragePooling (channels_first) after an explicit pad (-inf for max; zeros,
    counted, for the average: count_include_pad)."""
    if ceil_mode:
        raise _refuse(where, "ceil_mode", True, "False")
    if kind == "Max" and (return_indices or any(d != 1 for d in per_axis(dilation, n))):
        raise _refuse(where, "dilation / return_indices", (dilation, return_indices), "1 and False")
    pads = per_axis(padding, n)
    if kind == "Average" and (divisor_override is not None or (not count_include_pad and any(pads))):
        raise _refuse(where, "count_include_pad / divisor_override", (count_include_pad, divisor_override),
                      "count_include_pad=True (or no padding) and no divisor_override")
    return emit.pool(builder, x, kind, per_axis(kernel_size, n), per_axis(stride or kernel_size, n), [(p, p) for p in pads])


def pool(builder, module, x):
    """nn.MaxPool1d / 2d / 3d and nn.AvgPool1d / 2d / 3d."""
    name = type(module).__name__
    kind = "Max" if name.startswith("Max") else "Average"
    options = {"dilation": module.dilation, "return_indices": module.return_indices} if kind == "Max" else \
        {"count_include_pad": module.count_include_pad, "divisor_override": getattr(module, "divisor_override", None)}
    return pool_layer(builder, x, kind, int(name[-2]), module.kernel_size, module.stride, module.padding,
                      ceil_mode=module.ceil_mode, where=module, **options)


def adaptive_pool_layer(builder, x, kind: str, n: int, output_size, shape, varied, where):
    """Adaptive max / average pooling over n axes: to 1 per axis -> the global pool (kept
    axes); to other sizes that divide the input's (fixed) sizes -> pooling with that window."""
    spatial = tuple(shape[2:])
    size = tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size,) * n
    out = tuple(s if o is None else int(o) for o, s in zip(size, spatial))
    if all(o == 1 for o in out):
        return emit.global_pool(builder, x, kind, n)
    if varied is not None and tuple(varied[2:]) != spatial:
        raise _refuse(where, "output_size", output_size, "1 on every axis, when the input's spatial sizes vary")
    if any(s % o for s, o in zip(spatial, out)):
        raise _refuse(where, "output_size", output_size, f"sizes dividing the input's {spatial}, or 1")
    window = [s // o for s, o in zip(spatial, out)]
    return emit.pool(builder, x, kind, window, window)


def adaptive_pool(builder, module, x, shape, varied):
    """nn.AdaptiveAvgPool1d / 2d / 3d and nn.AdaptiveMaxPool1d / 2d / 3d."""
    name = type(module).__name__
    if getattr(module, "return_indices", False):
        raise _refuse(module, "return_indices", True, "False")
    kind = "Max" if name.startswith("AdaptiveMax") else "Average"
    return adaptive_pool_layer(builder, x, kind, int(name[-2]), module.output_size, shape, varied, module)


def layer_norm_layer(builder, x, axes: int, weight: np.ndarray | None, bias: np.ndarray | None, eps: float):
    """Normalized over the last `axes` axes, then scaled by weight and shifted by bias."""
    return emit.layer_norm(builder, x, list(range(-axes, 0)), weight, bias, eps)


def layer_norm(builder, module, x):
    return layer_norm_layer(builder, x, len(module.normalized_shape), None if module.weight is None else _array(module.weight),
                            None if module.bias is None else _array(module.bias), module.eps)


def batch_norm_layer(builder, x, mean: np.ndarray, variance: np.ndarray, weight: np.ndarray | None,
                     bias: np.ndarray | None, eps: float):
    """Normalized over axis 1 (channels) with the running statistics; weight and bias each
    optional (F.batch_norm), absent ones are 1 and 0."""
    return emit.batch_norm(builder, x, mean, variance, weight, bias, eps)


def batch_norm(builder, module, x):
    if module.running_mean is None:
        raise _refuse(module, "track_running_stats", False, "True (without running statistics eval mode uses the batch's own)")
    affine = module.affine
    return batch_norm_layer(builder, x, _array(module.running_mean), _array(module.running_var),
                            _array(module.weight) if affine else None, _array(module.bias) if affine else None, module.eps)


# -- recurrent ----------------------------------------------------------------------------------

def recurrent(builder, module, x, hx):
    """nn.RNN / nn.LSTM / nn.GRU: one npinfer layer per layer and direction. Returns the
    sequence output and, lazily, h_n (and c_n): (layers * directions, batch, units)."""
    kind = type(module).__name__
    if kind not in ("RNN", "LSTM", "GRU") or module.mode not in ("RNN_TANH", "RNN_RELU", "LSTM", "GRU"):
        raise UnsupportedLayerError(f"{kind} (mode {module.mode}) is not supported; supported: nn.RNN, nn.LSTM, nn.GRU")
    directions = 2 if module.bidirectional else 1
    units, layers = int(module.hidden_size), int(module.num_layers)
    projection = int(getattr(module, "proj_size", 0) or 0)
    if builder.rank(x) != 3:
        raise UnsupportedOptionError(f"{kind}: an unbatched input (rank {builder.rank(x)}) is not supported; give a batch")
    if not module.batch_first:
        x = builder.add("to_batch_first", "tensor.Transpose", {"perm": [1, 0, 2]}, [x])[0]
    initial = _initial_states(builder, kind, hx, layers * directions)
    finals: list[list] = []  # per layer and direction: [h] or [h, c]
    for layer in range(layers):
        outputs = []
        for direction in range(directions):
            suffix = f"l{layer}" + ("_reverse" if direction else "")
            index = layer * directions + direction
            config, weights = _cell(module, kind, suffix, units, projection)
            config.update(return_sequences=True, return_state=True, go_backwards=bool(direction))
            kwargs = {"initial_state": [state[index] for state in initial]} if initial else {}
            refs = builder.add(suffix, {"RNN": "SimpleRNN"}.get(kind, kind), config, [x], weights, kwargs)
            sequence = refs[0]
            if direction:  # go_backwards returns the steps last-to-first; torch aligns them with the input
                sequence = emit.reverse(builder, sequence, 1, 3, base="unreverse")  # (batch, time, units)
            outputs.append(sequence)
            finals.append(refs[1:])
        x = outputs[0] if directions == 1 else builder.add("concat", "tensor.Concat", {"axis": -1}, outputs)[0]
    sequence = x if module.batch_first else builder.add("to_time_major", "tensor.Transpose", {"perm": [1, 0, 2]}, [x])[0]

    def stacked(position: int):
        return lambda: builder.add("h_n" if position == 0 else "c_n", "tensor.Stack", {"axis": 0}, [f[position] for f in finals])[0]

    if kind == "LSTM":
        return builder.tuple([sequence, builder.tuple([builder.lazy(stacked(0)), builder.lazy(stacked(1))])])
    return builder.tuple([sequence, builder.lazy(stacked(0))])


def _initial_states(builder, kind, hx, count):
    """[h_states] or [h_states, c_states], each a list of (batch, units) refs, or None."""
    if hx is None:
        return None
    parts = builder.items(hx) if kind == "LSTM" else [hx]
    if len(parts) != (2 if kind == "LSTM" else 1):
        raise UnsupportedOptionError(f"{kind}: the initial state must be {'(h_0, c_0)' if kind == 'LSTM' else 'h_0'}")
    states = []
    for part in parts:
        tensor = builder.tensor(part, f"{kind} initial state")
        if builder.rank(tensor) != 3:
            raise UnsupportedOptionError(f"{kind}: an unbatched initial state is not supported")
        states.append([builder.add("state", "tensor.Index", {"items": [{"index": i}, "ellipsis"]}, [tensor])[0] for i in range(count)])
    return states


def _cell(module, kind, suffix, units, projection):
    """Config and canonical weights of one layer and direction."""
    w_ih = _array(getattr(module, f"weight_ih_{suffix}"))  # (G*units, in)
    w_hh = _array(getattr(module, f"weight_hh_{suffix}"))  # (G*units, units or projection)
    bias = module.bias
    b_ih = _array(getattr(module, f"bias_ih_{suffix}")) if bias else None
    b_hh = _array(getattr(module, f"bias_hh_{suffix}")) if bias else None
    config = {"units": units, "use_bias": bool(bias)}
    if kind == "GRU":
        order = np.concatenate([np.arange(units, 2 * units), np.arange(0, units), np.arange(2 * units, 3 * units)])  # r,z,n -> z,r,h
        w_ih, w_hh = w_ih[order], w_hh[order]
        weights = {"kernel": w_ih.T, "recurrent_kernel": w_hh.T}
        if bias:
            weights["bias"] = np.stack([b_ih[order], b_hh[order]])
        config["reset_after"] = True
    else:
        weights = {"kernel": w_ih.T, "recurrent_kernel": w_hh.T}
        if bias:
            weights["bias"] = b_ih + b_hh
        if kind == "RNN":
            config["activation"] = {"name": "relu" if module.nonlinearity == "relu" else "tanh"}
        elif projection:
            config["projection_units"] = projection
            weights["projection_kernel"] = _array(getattr(module, f"weight_hr_{suffix}")).T  # (units, projection)
    return config, {k: np.ascontiguousarray(v) for k, v in weights.items()}


MODULES = {
    "Linear": linear, "Embedding": embedding, "LayerNorm": layer_norm,
    **{f"Conv{n}d": conv for n in (1, 2, 3)}, **{f"ConvTranspose{n}d": conv_transpose for n in (1, 2, 3)},
    **{f"{kind}Pool{n}d": pool for kind in ("Max", "Avg") for n in (1, 2, 3)},
    **{f"BatchNorm{n}d": batch_norm for n in (1, 2, 3)},
}
SHAPED = {f"Adaptive{kind}Pool{n}d": adaptive_pool for kind in ("Avg", "Max") for n in (1, 2, 3)}  # converters that read the input's shape
RECURRENT = ("RNN", "LSTM", "GRU")
PASS_THROUGH = ("Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout", "Identity")
ACTIVATIONS = tuple(TORCH_FORMS)


def supported_modules() -> list[str]:
    """torch.nn module classes from_torch converts."""
    return sorted(list(MODULES) + list(SHAPED) + list(RECURRENT) + list(PASS_THROUGH) + list(ACTIVATIONS) +
                  ["Softmax", "LogSoftmax", "Flatten", "Sequential", "ModuleList (indexed in forward)"])
