"""ONNX CausalConvWithState (opset 27, tensor tier): the stateful causal depthwise 1-D
convolution of Gated DeltaNet and Mamba blocks, in the type of its inputs.

The carried state (the last k - 1 positions, zeros at the start) goes before the input, each
channel is convolved with its own kernel over the valid positions (layers/conv.depthwise_conv,
the layer tier's math, summed in float32 for float16 as ops/nn.py's Conv does), the bias is
added, the result rounded to the input's type, then SiLU (in float32, as the operator's function
body and the reference do) if asked; the new state is the last k - 1 positions of the padded input.
"""

from __future__ import annotations

import numpy as np

from ..layers.activations import silu
from ..layers.conv import channels_first, channels_last, depthwise_conv
from .elementwise import same_type
from .nn import accumulator
from .registry import Call, operator

TYPES = (np.dtype(np.float16), np.dtype(np.float32))  # ONNX also defines bfloat16, which npinfer lacks
ACTIVATIONS = ("none", "silu", "swish")


@operator("CausalConvWithState", attributes=("activation",))
def causal_conv_with_state(call: Call, x, w, b=None, past_state=None):
    """x (batch, channels, length), w (channels, 1, k), b (channels), past_state (batch,
    channels, k - 1) -> output (batch, channels, length), present_state (batch, channels, k - 1)."""
    activation = call.string("activation", "none")
    if activation not in ACTIVATIONS:
        raise call.malformed(f"has activation={activation!r} (one of {', '.join(ACTIVATIONS)})")
    dtype = same_type(call, [a for a in (x, w, b, past_state) if a is not None], TYPES)
    if x.ndim != 3 or w.ndim != 3 or w.shape[:2] != (x.shape[1], 1) or w.shape[2] < 1:
        raise call.malformed(f"takes input (batch, channels, length) and weight (channels, 1, k), "
                             f"got {list(x.shape)}, {list(w.shape)}")
    batch, channels, length = x.shape
    carry = w.shape[2] - 1  # the positions a step carries to the next
    if b is not None and b.shape != (channels,):
        raise call.malformed(f"has a bias of shape {list(b.shape)} for {channels} channels")
    if past_state is not None and past_state.shape != (batch, channels, carry):
        raise call.malformed(f"has past_state of shape {list(past_state.shape)}, expected {[batch, channels, carry]}")
    call.admit((batch, channels, length + carry), accumulator(dtype), "the padded input")
    start = np.zeros((batch, channels, carry), dtype) if past_state is None else past_state
    padded = np.concatenate([start, x], axis=2)  # (batch, channels, carry + length)
    acc = accumulator(dtype)
    kernel = w.transpose(2, 0, 1).astype(acc)  # (k, channels, 1): one filter per channel
    bias = None if b is None else b.astype(acc)
    y = depthwise_conv(channels_last(padded.astype(acc)), kernel, bias, (1,), "valid", (1,), None)  # (batch, length, channels)
    y = channels_first(y).astype(dtype)  # (batch, channels, length)
    if activation != "none":
        y = silu(y.astype(np.float32)).astype(dtype)
    return np.ascontiguousarray(y), np.ascontiguousarray(padded[:, :, length:])  # the last `carry` positions
