"""Both directions of a Bidirectional layer in ONE time loop, for small batches.

At small batches a recurrent step costs its NumPy calls (about a microsecond each), not its
arithmetic, and Bidirectional ran two loops: twice the calls. Here the forward and backward
cells become one cell of 2*units whose gates hold [forward units | backward units] side by
side, gate by gate, with a block-diagonal recurrent kernel (each direction's h feeds only its
own gates) and an input projection whose backward half is read in reverse time. The fast step
kernels (kernels.py) run it unchanged: one loop, the same calls per step as ONE direction.
The block-diagonal product does twice the multiply-adds, which is why this is used for small
batches only (PAIRED_MAX_BATCH). Used when both directions are the same kind of cell with a
fast kernel, there is no mask, no initial state and no carried state.
"""

from __future__ import annotations

import numpy as np

from . import workspace
from .cells import Cell
from .kernels import FastCell

# One loop measured faster than two up to this batch (benchmarks/: Conv1D -> Bidirectional(LSTM(32)))
PAIRED_MAX_BATCH = 16


class PairedDirections:
    """A forward and a backward cell (same class, units, options) run as one cell of 2*units:
    what run_over_time needs of a cell (sizes, and `fast`: the kernels' set-up)."""

    FUSES_INPUT = False

    def __init__(self, forward: Cell, backward: Cell):
        self.owner = forward.owner
        self.state_sizes = [2 * s for s in forward.state_sizes]
        self.output_size = 2 * forward.output_size
        self.fast = PairedFastCell(forward.fast, backward.fast)

    @staticmethod
    def can_pair(forward: Cell, backward: Cell) -> bool:
        same = type(forward) is type(backward) and forward.units == backward.units and forward.use_bias == backward.use_bias
        return (same and forward.fast is not None and backward.fast is not None
                and getattr(forward, "reset_after", None) == getattr(backward, "reset_after", None)
                and forward.fast.clip == backward.fast.clip)

    def split(self, array: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(..., 2*size) -> the forward (..., size) and backward (..., size) halves."""
        half = array.shape[-1] // 2
        return array[..., :half], array[..., half:]


class PairedFastCell(FastCell):
    """The two directions' fast weights side by side per gate, recurrent kernels block-diagonal;
    the projection's backward half read in reverse time."""

    def __init__(self, forward: FastCell, backward: FastCell):
        self.forward, self.backward = forward, backward
        f, b, u = forward.weights, backward.weights, forward.units
        weights = {"recurrent_kernel": _block_diagonal(f["recurrent_kernel"], b["recurrent_kernel"], u)}
        if "recurrent_kernel_h" in f:  # GRU reset_after=False: the candidate's own kernel
            weights["recurrent_kernel_h"] = _block_diagonal(f["recurrent_kernel_h"], b["recurrent_kernel_h"], u)
        if "recurrent_bias_h" in f:  # GRU reset_after=True with a bias
            weights["recurrent_bias_h"] = np.concatenate([f["recurrent_bias_h"], b["recurrent_bias_h"]])
        super().__init__(forward.kernel_class, 2 * u, forward.gates, weights, forward.dtype, forward.reset_after, forward.clip)

    def projection(self, x: np.ndarray) -> np.ndarray:
        """(batch, time, F) -> (time, G*2u, batch), gate-major as the kernels read it: per gate,
        the forward projection of step t above the backward projection of step time-1-t."""
        steps, batch = x.shape[1], x.shape[0]
        u, gates = self.forward.units, self.gates
        xw = workspace.buffer(self, "xw", (steps, gates, 2, u, batch), self.dtype)
        xw[:, :, 0] = self.forward.projection(x).reshape(steps, gates, u, batch)
        xw[:, :, 1] = self.backward.projection(x)[::-1].reshape(steps, gates, u, batch)
        return xw.reshape(steps, gates * 2 * u, batch)


def _block_diagonal(a: np.ndarray, b: np.ndarray, u: int) -> np.ndarray:
    """Forward (u, n*u) and backward (u, n*u) gate blocks -> (2u, n*2u): per gate
    [[a_gate, 0], [0, b_gate]], so each direction's h reaches only its own gates."""
    n = a.shape[1] // u
    out = np.zeros((2 * u, n, 2, u), a.dtype)
    out[:u, :, 0] = a.reshape(u, n, u)
    out[u:, :, 1] = b.reshape(u, n, u)
    return out.reshape(2 * u, n * 2 * u)
