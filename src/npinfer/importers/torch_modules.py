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


def _array(tensor) -> np.ndarray:
    return tensor.detach().cpu().numpy().astype(np.float32) if tensor.is_floating_point() else tensor.detach().cpu().numpy()


def _refuse(module, option: str, value, supported: str) -> UnsupportedOptionError:
    return UnsupportedOptionError(f"{type(module).__name__}: {option}={value!r} is not supported; supported: {supported}")


# -- activations ------------------------------------------------------------------------------

def activation_of_module(module) -> dict | None:
    """The canonical activation of an activation module, or None if it is not one."""
    name = type(module).__name__
    simple = {"ReLU": "relu", "ReLU6": "relu6", "SELU": "selu", "Sigmoid": "sigmoid", "Tanh": "tanh", "SiLU": "silu",
              "Mish": "mish", "Softsign": "softsign", "Tanhshrink": "tanh_shrink", "LogSigmoid": "log_sigmoid",
              "Hardswish": "hard_silu", "Identity": "linear"}
    if name in simple:
        return {"name": simple[name]} if name != "Hardswish" else {"name": "hard_silu", "slope": 1.0 / 6.0}
    if name == "LeakyReLU":
        return {"name": "leaky_relu", "negative_slope": float(module.negative_slope)}
    if name in ("ELU", "CELU"):
        return {"name": name.lower(), "alpha": float(module.alpha)}
    if name == "GELU":
        return gelu(module.approximate, module)
    if name == "Hardsigmoid":
        return {"name": "hard_sigmoid", "slope": 1.0 / 6.0}
    if name == "Softplus":
        return softplus(module.beta, module.threshold, module)
    if name == "Hardtanh":
        if (module.min_val, module.max_val) != (-1.0, 1.0):
            raise _refuse(module, "min_val, max_val", (module.min_val, module.max_val), "-1.0, 1.0")
        return {"name": "hard_tanh"}
    if name in ("Softshrink", "Hardshrink"):
        return {"name": "soft_shrink" if name == "Softshrink" else "hard_shrink", "threshold": float(module.lambd)}
    if name == "GLU":
        return {"name": "glu", "axis": int(module.dim)}
    return None


def gelu(approximate: str, where) -> dict:
    if approximate not in ("none", "tanh"):
        raise _refuse(where, "approximate", approximate, "'none', 'tanh'")
    return {"name": "gelu", "approximate": approximate == "tanh"}


def softplus(beta, threshold, where) -> dict:
    if beta != 1:
        raise _refuse(where, "beta", beta, "1")
    if threshold < 15:  # above it torch returns x; log1p(exp(x)) equals x in float32 from ~17 on
        raise _refuse(where, "threshold", threshold, "15 or more (the default is 20)")
    return {"name": "softplus"}


# -- layers -------------------------------------------------------------------------------------

def linear(builder, module, x):
    weights = {"kernel": _array(module.weight).T}  # (in, out)
    if module.bias is not None:
        weights["bias"] = _array(module.bias)
    return builder.add(None, "Dense", {"units": int(module.out_features), "use_bias": module.bias is not None}, [x], weights)[0]


def embedding(builder, module, x):
    if module.max_norm is not None:
        raise _refuse(module, "max_norm", module.max_norm, "None (max_norm rescales the table while it is read)")
    table = _array(module.weight)
    return builder.add(None, "Embedding", {"input_dim": table.shape[0], "output_dim": table.shape[1]}, [x],
                       {"embeddings": table})[0]


def _pad(builder, x, pads, fill=0.0):
    """x (batch, channels, *spatial) padded with `fill` by (before, after) per spatial axis."""
    if not any(before or after for before, after in pads):
        return x
    return builder.add("pad", "tensor.Pad", {"pads": [[0, 0], [0, 0]] + [list(p) for p in pads], "value": fill}, [x])[0]


def _per_axis(value, n: int) -> tuple:
    return tuple(int(v) for v in value) if isinstance(value, (tuple, list)) else (int(value),) * n


def conv(builder, module, x):
    """nn.Conv1d / 2d / 3d -> Conv1D / 2D / 3D (channels_first), padding as a tensor.Pad before."""
    if module.padding_mode != "zeros":
        raise _refuse(module, "padding_mode", module.padding_mode, "'zeros'")
    n = len(module.kernel_size)
    if module.padding == "same":
        pads = [(d * (k - 1) // 2, d * (k - 1) - d * (k - 1) // 2) for k, d in zip(module.kernel_size, module.dilation)]
    elif module.padding == "valid":
        pads = [(0, 0)] * n
    else:
        pads = [(p, p) for p in _per_axis(module.padding, n)]
    x = _pad(builder, x, pads)
    weights = {"kernel": np.ascontiguousarray(_array(module.weight).transpose(*range(2, n + 2), 1, 0))}  # (*k, in/groups, out)
    if module.bias is not None:
        weights["bias"] = _array(module.bias)
    config = {"filters": int(module.out_channels), "kernel_size": list(module.kernel_size), "strides": list(module.stride),
              "dilation_rate": list(module.dilation), "groups": int(module.groups), "padding": "valid",
              "data_format": "channels_first", "use_bias": module.bias is not None}
    return builder.add(None, f"Conv{n}D", config, [x], weights)[0]


def conv_transpose(builder, module, x):
    """nn.ConvTranspose1d / 2d / 3d -> Conv1D / 2D / 3DTranspose ('valid' with output_padding),
    then `padding` cut from both ends of each axis, as torch does."""
    if module.padding_mode != "zeros":
        raise _refuse(module, "padding_mode", module.padding_mode, "'zeros'")
    if module.groups != 1:
        raise _refuse(module, "groups", module.groups, "1")
    n = len(module.kernel_size)
    weights = {"kernel": np.ascontiguousarray(_array(module.weight).transpose(*range(2, n + 2), 1, 0))}  # (*k, out, in)
    if module.bias is not None:
        weights["bias"] = _array(module.bias)
    config = {"filters": int(module.out_channels), "kernel_size": list(module.kernel_size), "strides": list(module.stride),
              "dilation_rate": list(module.dilation), "padding": "valid", "output_padding": list(module.output_padding),
              "data_format": "channels_first", "use_bias": module.bias is not None}
    y = builder.add(None, f"Conv{n}DTranspose", config, [x], weights)[0]
    cut = _per_axis(module.padding, n)
    if not any(cut):
        return y
    items = [{"slice": [None, None, None]}] * 2 + [{"slice": [c, -c if c else None, None]} for c in cut]
    return builder.add("crop", "tensor.Index", {"items": items}, [y])[0]


def pool(builder, module, x):
    """nn.MaxPool1d / 2d / 3d and nn.AvgPool1d / 2d / 3d -> Max / AveragePooling (channels_first)
    after an explicit pad (-inf for max; zeros, counted, for the average: count_include_pad)."""
    kind = "Max" if type(module).__name__.startswith("Max") else "Average"
    n = int(type(module).__name__[-2])
    if module.ceil_mode:
        raise _refuse(module, "ceil_mode", True, "False")
    if kind == "Max" and (module.return_indices or any(d != 1 for d in _per_axis(module.dilation, n))):
        raise _refuse(module, "dilation / return_indices", (module.dilation, module.return_indices), "1 and False")
    pads = _per_axis(module.padding, n)
    if kind == "Average" and (getattr(module, "divisor_override", None) is not None or (not module.count_include_pad and any(pads))):
        raise _refuse(module, "count_include_pad / divisor_override", (module.count_include_pad, module.divisor_override),
                      "count_include_pad=True (or no padding) and no divisor_override")
    x = _pad(builder, x, [(p, p) for p in pads], float("-inf") if kind == "Max" else 0.0)
    size = _per_axis(module.kernel_size, n)
    config = {"pool_size": list(size), "strides": list(_per_axis(module.stride or module.kernel_size, n)), "padding": "valid",
              "data_format": "channels_first"}
    return builder.add(None, f"{kind}Pooling{n}D", config, [x])[0]


def adaptive_average_pool(builder, module, x, shape, varied):
    """nn.AdaptiveAvgPool1d / 2d / 3d: to 1 per axis -> the global average (kept axes); to other
    sizes that divide the input's (fixed) sizes -> AveragePooling with that window."""
    n = int(type(module).__name__[-2])
    spatial = tuple(shape[2:])
    size = module.output_size
    size = tuple(size) if isinstance(size, (tuple, list)) else (size,) * n
    out = tuple(s if o is None else int(o) for o, s in zip(size, spatial))
    if all(o == 1 for o in out):
        return builder.add(None, f"GlobalAveragePooling{n}D", {"data_format": "channels_first", "keepdims": True}, [x])[0]
    if varied is not None and tuple(varied[2:]) != spatial:
        raise _refuse(module, "output_size", module.output_size, "1 on every axis, when the input's spatial sizes vary")
    if any(s % o for s, o in zip(spatial, out)):
        raise _refuse(module, "output_size", module.output_size, f"sizes dividing the input's {spatial}, or 1")
    window = [s // o for s, o in zip(spatial, out)]
    config = {"pool_size": window, "strides": window, "padding": "valid", "data_format": "channels_first"}
    return builder.add(None, f"AveragePooling{n}D", config, [x])[0]


def layer_norm(builder, module, x):
    axes = list(range(-len(module.normalized_shape), 0))
    config = {"axis": axes, "epsilon": float(module.eps), "scale": module.weight is not None, "center": module.bias is not None}
    weights = {}
    if module.weight is not None:
        weights["gamma"] = _array(module.weight)
    if module.bias is not None:
        weights["beta"] = _array(module.bias)
    return builder.add(None, "LayerNormalization", config, [x], weights)[0]


def batch_norm(builder, module, x):
    if module.running_mean is None:
        raise _refuse(module, "track_running_stats", False, "True (without running statistics eval mode uses the batch's own)")
    config = {"axis": 1, "epsilon": float(module.eps), "center": module.affine, "scale": module.affine}
    weights = {"moving_mean": _array(module.running_mean), "moving_variance": _array(module.running_var)}
    if module.affine:
        weights["gamma"], weights["beta"] = _array(module.weight), _array(module.bias)
    return builder.add(None, "BatchNormalization", config, [x], weights)[0]


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
                sequence = builder.add("unreverse", "tensor.Index", {"items": [{"slice": [None, None, None]},
                                                                               {"slice": [None, None, -1]}]}, [sequence])[0]
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
SHAPED = {f"AdaptiveAvgPool{n}d": adaptive_average_pool for n in (1, 2, 3)}  # converters that read the input's shape
RECURRENT = ("RNN", "LSTM", "GRU")
PASS_THROUGH = ("Dropout", "Dropout1d", "AlphaDropout", "Identity")
ACTIVATIONS = ("ReLU", "ReLU6", "LeakyReLU", "ELU", "CELU", "SELU", "GELU", "Sigmoid", "Tanh", "SiLU", "Mish", "Softplus",
               "Softsign", "Hardsigmoid", "Hardswish", "Hardtanh", "Tanhshrink", "LogSigmoid", "Softshrink", "Hardshrink", "GLU")


def supported_modules() -> list[str]:
    """torch.nn module classes from_torch converts."""
    return sorted(list(MODULES) + list(SHAPED) + list(RECURRENT) + list(PASS_THROUGH) + list(ACTIVATIONS) +
                  ["Softmax", "LogSoftmax", "Flatten", "Sequential", "ModuleList (indexed in forward)"])
