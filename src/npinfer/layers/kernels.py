"""Step kernels: how a cell's step runs inside the one time loop (recurrent.run_over_time).

`GenericKernel` calls the cell's readable `step` (any activation; new arrays each step).
The fast kernels do the same arithmetic in place, in reused buffers, with as few NumPy calls
per step as we could get (at small batches the per-call overhead is the cost):
- gates reordered and the sigmoid columns of W, U and b pre-scaled by 1/2 when the layer is
  built (cells.fast_weights), so ONE tanh call serves every gate:
  sigmoid(x) = 0.5 * tanh(x / 2) + 0.5;
- the input bias folded into the hoisted input projection (a column of ones);
- states updated in place; each step's output written straight into its slot of the
  (time, batch, units) sequence buffer, which the next step reads as h.
Used when the cell has its default activations (tanh, sigmoid) and there is no mask.
NumPy calls per step: SimpleRNN 3, LSTM 9 (batch 1) or 10, GRU 12.
"""

from __future__ import annotations

import numpy as np

from . import workspace


class GenericKernel:
    """The cell's own step: any activation, masks handled by the loop."""

    def __init__(self, cell, states):
        self.cell = cell
        self.states = states

    def step(self, xw_t, out=None):
        self.states = self.cell.step(xw_t, self.states)
        output = self.cell.output(self.states)
        if out is not None:
            out[...] = output
        return output


class FastKernel:
    """Shared set-up. The h state lives in a reused buffer unless a step writes it elsewhere.

    With a batch of one every buffer is a 1-D vector: np.dot of a vector by a matrix costs
    about half of np.matmul on a (1, n) row here (2.2 against 4.8 us for 64 x 256), and
    constants are 0-d arrays of the model's dtype (a Python float costs ~1 us more per call)."""

    def __init__(self, cell, states, scratch: dict[str, int]):
        self.weights = cell.fast_weights()
        batch, units = states[0].shape
        dtype = states[0].dtype
        self.u = units
        self.vector = batch == 1
        self.product = np.dot if self.vector else np.matmul
        self.half = np.array(0.5, dtype)
        self.h = self.own_h = self.buffer(cell, "h", units, batch, dtype)
        for name, width in scratch.items():
            setattr(self, name, self.buffer(cell, name, width, batch, dtype))

        self.features = None  # set by fuse_input: the step then reads x_t itself

    def fuse_input(self, cell, features: int):
        """Large batches: the step computes [x_t, h, 1] @ [W; U; b] in ONE product instead of
        adding a hoisted (time, batch, G*units) projection — no big projection buffer to stream
        through memory, one pass fewer per step (LSTM(64), batch 256-1024: about 20% faster).
        h lives in the middle columns of that [x_t, h, 1] buffer."""
        batch = self.h.shape[0]
        self.features = features
        self.xh = workspace.buffer(cell, "xh", (batch, features + self.u + 1), self.h.dtype)  # (batch, F + units + 1)
        self.h_slot = self.xh[:, features : features + self.u]
        self.WU = cell.fused_weights()
        return self

    def start(self, states):
        """Set the states a run starts from (the kernel object is reused across calls).

        A step may leave h pointing into the caller's output sequence; h goes back to the
        kernel's own buffer first, or this would overwrite an output already returned."""
        if self.features is not None:
            self.xh[:, -1] = 1
            self.h = self.h_slot
        else:
            self.h = self.own_h
        self.h[...] = states[0].reshape(self.h.shape)
        return self

    def project_step(self, x_t):
        """z = [x_t, h, 1] @ [W; U; b] (fused input, see fuse_input)."""
        np.copyto(self.xh[:, : self.features], x_t)
        np.matmul(self.xh, self.WU, out=self.z)  # (batch, G*units)

    def buffer(self, cell, name, width, batch, dtype):
        array = workspace.buffer(cell, name, (batch, width), dtype)
        return array[0] if self.vector else array

    def as_states(self, *arrays):
        return [a.reshape(1, -1) if self.vector else a for a in arrays]

    @property
    def states(self):
        return self.as_states(self.h)


class SimpleRNNKernel(FastKernel):
    """h = tanh(xw_t + h U)."""

    def __init__(self, cell, states):
        super().__init__(cell, states, {"z": cell.units})
        self.U = self.weights["recurrent_kernel"]

    def step(self, xw_t, out=None):
        h = self.h if out is None else out
        self.product(self.h, self.U, out=self.z)  # (batch, units)
        self.z += xw_t
        np.tanh(self.z, out=h)
        self.h = h
        return h

    def step_input(self, x_t, out=None):
        """The step from x_t itself (fused input): h stays in its slot of [x_t, h, 1]."""
        self.project_step(x_t)
        np.tanh(self.z, out=self.h)
        if out is not None:
            np.copyto(out, self.h)
        return self.h


class LSTMKernel(FastKernel):
    """Gates in the order o, i, f, g; o, i, f pre-scaled so tanh(z) / 2 + 1/2 is their sigmoid.

    With a batch of one, c lives right after the gates in one buffer [o, i, f, g, c], so that
    [i, f] * [g, c] is ONE multiply and c = i g + f c one add: 9 NumPy calls per step instead
    of 10 (the per-call cost is the floor at batch 1)."""

    def __init__(self, cell, states):
        u = cell.units
        paired = states[0].shape[0] == 1
        super().__init__(cell, states, {"zc": 5 * u, "pair": 2 * u, "tmp": u} if paired else {"z": 4 * u, "tmp": u, "c": u})
        self.U = self.weights["recurrent_kernel"]
        self.paired = paired
        if paired:
            self.z, self.c = self.zc[: 4 * u], self.zc[4 * u :]  # z: the gates, contiguous for np.dot's out
            self.i_f, self.g_c = self.zc[u : 3 * u], self.zc[3 * u :]  # (2u,) each: [i, f] and [g, c]
        z = self.z
        self.sigmoids, self.o, self.i, self.f, self.g = (z[..., : 3 * u], z[..., :u], z[..., u : 2 * u],
                                                         z[..., 2 * u : 3 * u], z[..., 3 * u :])

    def start(self, states):
        self.c[...] = states[1].reshape(self.c.shape)
        return super().start(states)

    @property
    def states(self):
        return self.as_states(self.h, self.c)

    def step(self, xw_t, out=None):
        h = self.h if out is None else out
        z, c, tmp, half = self.z, self.c, self.tmp, self.half
        self.product(self.h, self.U, out=z)  # (batch, 4*units)
        z += xw_t
        np.tanh(z, out=z)
        self.sigmoids *= half
        self.sigmoids += half
        if self.paired:
            pair = self.pair
            np.multiply(self.i_f, self.g_c, out=pair)  # [i g, f c]
            np.add(pair[: self.u], pair[self.u :], out=c)
        else:
            c *= self.f
            np.multiply(self.i, self.g, out=tmp)
            c += tmp
        np.tanh(c, out=tmp)
        np.multiply(self.o, tmp, out=h)
        self.h = h
        return h

    def step_input(self, x_t, out=None):
        """The step from x_t itself (fused input, large batches only): h stays in its slot of [x_t, h, 1]."""
        z, c, tmp, half = self.z, self.c, self.tmp, self.half
        self.project_step(x_t)  # (batch, 4*units)
        np.tanh(z, out=z)
        self.sigmoids *= half
        self.sigmoids += half
        c *= self.f
        np.multiply(self.i, self.g, out=tmp)
        c += tmp
        np.tanh(c, out=tmp)
        np.multiply(self.o, tmp, out=self.h)
        if out is not None:
            np.copyto(out, self.h)
        return self.h


class GRUKernel(FastKernel):
    """Gates z, r, h; z and r pre-scaled. With reset_after, the recurrent bias of z and r is
    folded into the input projection and only the candidate's stays: r * (h U_h + b_h)."""

    def __init__(self, cell, states):
        u = cell.units
        super().__init__(cell, states, {"inner": 3 * u if cell.reset_after else 2 * u, "cand": u, "tmp": u})
        w = self.weights
        self.reset_after = cell.reset_after
        self.U = w["recurrent_kernel"]  # reset_after: (units, 3u); otherwise the z, r columns (units, 2u)
        self.U_h = w.get("recurrent_kernel_h")  # reset_after=False: the candidate's columns (units, u)
        self.b_h = w.get("recurrent_bias_h")  # reset_after with a bias: (u,)
        inner = self.inner
        self.zr, self.z_gate, self.r = inner[..., : 2 * u], inner[..., :u], inner[..., u : 2 * u]
        self.inner_h = inner[..., 2 * u :] if cell.reset_after else None

    def step(self, xw_t, out=None):
        h_prev = self.h
        h = h_prev if out is None else out
        u2 = 2 * self.u
        zr, cand, tmp, half = self.zr, self.cand, self.tmp, self.half
        if self.reset_after:
            self.product(h_prev, self.U, out=self.inner)  # (batch, 3u)
        else:
            self.product(h_prev, self.U, out=zr)  # (batch, 2u)
        zr += xw_t[..., :u2]
        np.tanh(zr, out=zr)
        zr *= half
        zr += half
        if self.reset_after:
            if self.b_h is not None:
                self.inner_h += self.b_h
            np.multiply(self.r, self.inner_h, out=cand)
        else:
            np.multiply(self.r, h_prev, out=tmp)
            self.product(tmp, self.U_h, out=cand)
        cand += xw_t[..., u2:]
        np.tanh(cand, out=cand)
        np.subtract(h_prev, cand, out=tmp)  # h = cand + z (h_prev - cand)
        tmp *= self.z_gate
        np.add(cand, tmp, out=h)
        self.h = h
        return h
