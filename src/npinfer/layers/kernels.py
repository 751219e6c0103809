"""Step kernels: how a cell's step runs inside the one time loop (recurrent.run_over_time).

`GenericKernel` calls the cell's readable `step` (any activation; new arrays each step).
The fast kernels do the same arithmetic in place, in reused buffers, with as few NumPy calls
per step as we could get (at small batches the per-call overhead is the cost):
- gates reordered and the sigmoid columns of W, U and b pre-scaled by 1/2 when the layer is
  built (cells.fast_weights), so ONE tanh call serves every gate:
  sigmoid(x) = 0.5 * tanh(x / 2) + 0.5;
- the input bias folded into the hoisted input projection (a row of ones);
- GATE-MAJOR buffers: a batch of B is kept as (width, B) — units on the first axis, the batch
  on the last — so each gate (z[:u], z[u:2u], ...) is ONE contiguous block. In the usual
  (B, width) layout a gate is a strided column slice, and NumPy's element-wise calls on it
  ran 2-4x slower; LSTM(64) over 50 steps, whole recurrence: batch 8 1090 -> 860 us, 32
  2340 -> 1440 us, 128 8800 -> 5600 us, 512 28.3 -> 22.2 ms. The recurrent product becomes
  U^T (G*units, units) @ h (units, B). A batch of one is kept as 1-D vectors (np.dot of a
  vector by a matrix is the cheapest product there: 2.1 us against 2.5-3.3 us for the others
  for 64 x 256);
- states updated in place; each step's h written straight into its slot of the
  (time, units, batch) sequence buffer, which the next step reads as h;
- each kernel's step is a closure over its buffers (made once per kernel): no attribute
  lookups per step (LSTM(64) batch 1, 50 steps: 430 -> 345 us).
Used when the cell has its default activations (tanh, sigmoid) and there is no mask.
NumPy calls per step: SimpleRNN 3, LSTM 9, GRU 12 (11 with reset_after and no bias).
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


def transposed(weights: dict, key: str) -> np.ndarray:
    """weights[key].T as a contiguous array, made once and kept in the same dict."""
    name = f"{key}/T"
    if name not in weights:
        weights[name] = np.ascontiguousarray(weights[key].T)
    return weights[name]


class FastKernel:
    """Shared set-up: gate-major buffers, the start states, the loop over the steps.

    A subclass makes `self.step(x_t, h, out)`: from this step's input and the previous h it
    writes the new h into `out` (which may be h itself). Inputs per step: the hoisted
    projection (G*units, batch) — or, with fuse_input, x_t itself (features, batch)."""

    def __init__(self, cell, states, scratch: dict[str, int]):
        self.weights = cell.fast_weights()
        batch, units = states[0].shape
        dtype = states[0].dtype
        self.u = units
        self.vector = batch == 1
        self.half = np.array(0.5, dtype)  # a 0-d array of the model's dtype: a Python float costs ~1 us more per call
        self.h = self.own_h = self.buffer(cell, "h", units, batch, dtype)
        for name, width in scratch.items():
            setattr(self, name, self.buffer(cell, name, width, batch, dtype))
        self.features = None  # set by fuse_input: each step then reads x_t itself
        self.step = None  # made by the subclass

    def buffer(self, cell, name, width, batch, dtype):
        """(width,) for a batch of one, else (width, batch): gate-major."""
        return workspace.buffer(cell, name, (width,) if batch == 1 else (width, batch), dtype)

    def preactivation(self, z):
        """A function (x_t, h) -> z = x_t-part + h U written into z, for this kernel's inputs:
        the hoisted projection (added), or x_t itself (fused: [x_t; h; 1] against [W; U; b])."""
        if self.features is not None:
            x_in, xh = self.xh[: self.features], self.xh
            if self.vector:
                WU, dot = self.WU, np.dot

                def fused_vector(x_t, h):
                    x_in[...] = x_t  # (np.copyto costs ~0.3 us more per call)
                    dot(xh, WU, z)  # (G*units,)

                return fused_vector
            WU_T, matmul = transposed(self.weights, "fused"), np.matmul

            def fused(x_t, h):
                x_in[...] = x_t
                matmul(WU_T, xh, z)  # (G*units, batch)

            return fused
        add = np.add
        if self.vector:
            U, dot = self.weights["recurrent_kernel"], np.dot

            def vector(xw_t, h):
                dot(h, U, z)  # (G*units,)
                add(z, xw_t, z)

            return vector
        U_T, matmul = transposed(self.weights, "recurrent_kernel"), np.matmul

        def gate_major(xw_t, h):
            matmul(U_T, h, z)  # (G*units, batch)
            add(z, xw_t, z)

        return gate_major

    def fuse_input(self, cell, features: int):
        """The step computes [W; U; b]^T @ [x_t; h; 1] in ONE product instead of adding a
        hoisted (time, G*units, batch) projection. Large batches: no big projection buffer to
        stream through memory. A batch of one with a narrow layer: no projection call at all
        (the article's SimpleRNN(3), batch 1: see recurrent.fuses_input). h lives in the middle
        rows of that [x_t; h; 1] buffer."""
        self.features = features
        shape = (features + self.u + 1,) + self.h.shape[1:]  # (F + units + 1[, batch])
        self.xh = workspace.buffer(cell, "xh", shape, self.h.dtype)
        self.own_h = self.xh[features : features + self.u]
        self.WU = cell.fused_weights()  # (F + units + 1, G*units)
        self.build()
        return self

    def start(self, states):
        """Set the states a run starts from (the kernel object is reused across calls).

        A run may leave h pointing into the caller's output sequence; h goes back to the
        kernel's own buffer first, or this would overwrite an output already returned."""
        if self.features is not None:
            self.xh[-1] = 1
        self.h = self.own_h
        self.h[...] = self.gate_major(states[0])
        return self

    def gate_major(self, state):
        """(batch, size) -> this kernel's layout: (size,) or (size, batch)."""
        return state.reshape(-1) if self.vector else state.T

    def as_states(self, *arrays):
        """This kernel's layout -> (batch, size) views."""
        return [a.reshape(1, -1) if self.vector else a.T for a in arrays]

    @property
    def states(self):
        return self.as_states(self.h)

    def run(self, inputs, rows, backwards: bool):
        """All steps over `inputs` (time, ...) — read last step first when `backwards`; the
        k-th step's h goes to rows[k] when rows is given (time, units[, batch]). Returns the
        last h (a view of a kernel buffer or of rows)."""
        step, h = self.step, self.h
        if backwards:
            inputs = inputs[::-1]
        if rows is None:
            for x_t in inputs:
                step(x_t, h, h)
        elif self.features is not None:  # fused: h must stay in its slot of [x_t; h; 1]
            for x_t, row in zip(inputs, rows):
                step(x_t, h, h)
                row[...] = h
        else:
            for x_t, row in zip(inputs, rows):
                step(x_t, h, row)
                h = row
        self.h = h
        return h


class SimpleRNNKernel(FastKernel):
    """h = tanh(x_t W + b + h U)."""

    def __init__(self, cell, states):
        super().__init__(cell, states, {"z": cell.units})
        self.build()

    def build(self):
        z, pre, tanh = self.z, self.preactivation(self.z), np.tanh

        def step(x_t, h, out):
            pre(x_t, h)
            tanh(z, out)

        self.step = step


class LSTMKernel(FastKernel):
    """Gates in the order o, i, f, g; o, i, f pre-scaled so tanh(z) / 2 + 1/2 is their sigmoid.

    c lives right after the gates in one buffer [o, i, f, g, c] (rows), so that [i, f] * [g, c]
    is ONE multiply and c = i g + f c one add: 9 NumPy calls per step."""

    def __init__(self, cell, states):
        u = cell.units
        super().__init__(cell, states, {"zc": 5 * u, "pair": 2 * u, "tmp": u})
        self.c = self.zc[4 * u :]
        self.build()

    def build(self):
        u, zc, pair, tmp, half = self.u, self.zc, self.pair, self.tmp, self.half
        z, c = zc[: 4 * u], zc[4 * u :]  # z: the gates, contiguous for the product's out
        sigmoids, o = z[: 3 * u], z[:u]
        i_f, g_c = zc[u : 3 * u], zc[3 * u :]  # (2u[, batch]) each: [i; f] and [g; c]
        ig, fc = pair[:u], pair[u:]
        pre = self.preactivation(z)
        tanh, multiply, add = np.tanh, np.multiply, np.add

        def step(x_t, h, out):
            pre(x_t, h)
            tanh(z, z)
            multiply(sigmoids, half, sigmoids)
            add(sigmoids, half, sigmoids)
            multiply(i_f, g_c, pair)  # [i g; f c]
            add(ig, fc, c)
            tanh(c, tmp)
            multiply(o, tmp, out)

        self.step = step

    def start(self, states):
        self.c[...] = self.gate_major(states[1])
        return super().start(states)

    @property
    def states(self):
        return self.as_states(self.h, self.c)


class GRUKernel(FastKernel):
    """Gates z, r, h; z and r pre-scaled. With reset_after, the recurrent bias of z and r is
    folded into the input projection and only the candidate's stays: r * (h U_h + b_h)."""

    def __init__(self, cell, states):
        u = cell.units
        super().__init__(cell, states, {"inner": 3 * u if cell.reset_after else 2 * u, "cand": u, "tmp": u})
        self.reset_after = cell.reset_after
        self.build()

    def build(self):
        u, w, vector = self.u, self.weights, self.vector
        inner, cand, tmp, half = self.inner, self.cand, self.tmp, self.half
        zr, z_gate, r = inner[: 2 * u], inner[:u], inner[u : 2 * u]
        inner_h = inner[2 * u :]
        b_h = w.get("recurrent_bias_h")  # reset_after with a bias: (u,)
        if b_h is not None and not vector:
            b_h = b_h[:, None]  # (u, 1): added to every column
        if vector:  # reset_after: U (units, 3u); otherwise its z, r columns (units, 2u) and the candidate's (units, u)
            U, U_h = w["recurrent_kernel"], w.get("recurrent_kernel_h")
        else:
            U, U_h = transposed(w, "recurrent_kernel"), (None if self.reset_after else transposed(w, "recurrent_kernel_h"))
        reset_after = self.reset_after
        tanh, multiply, add, subtract = np.tanh, np.multiply, np.add, np.subtract
        product = np.dot if vector else np.matmul
        recurrent = inner if reset_after else zr

        def step(xw_t, h, out):
            if vector:
                product(h, U, recurrent)
            else:
                product(U, h, recurrent)  # (3u or 2u, batch)
            add(zr, xw_t[: 2 * u], zr)
            tanh(zr, zr)
            multiply(zr, half, zr)
            add(zr, half, zr)
            if reset_after:
                if b_h is not None:
                    add(inner_h, b_h, inner_h)
                multiply(r, inner_h, cand)
            else:
                multiply(r, h, tmp)
                if vector:
                    product(tmp, U_h, cand)
                else:
                    product(U_h, tmp, cand)
            add(cand, xw_t[2 * u :], cand)
            tanh(cand, cand)
            subtract(h, cand, tmp)  # h = cand + z (h - cand)
            multiply(tmp, z_gate, tmp)
            add(cand, tmp, out)

        self.step = step
