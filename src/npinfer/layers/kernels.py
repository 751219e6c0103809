"""The fast path of the recurrent layers: in-place step kernels, tested equal to the readable
steps of cells.py (recurrent.rnn runs those; tests/test_fast_paths.py compares the two).

A cell's weights are laid out for the kernels here, once (FastKernel.layout):
- gates reordered and the sigmoid columns of W, U and b pre-scaled by 1/2, so ONE tanh call
  serves every gate: sigmoid(x) = 0.5 * tanh(x / 2) + 0.5;
- the input bias folded into the hoisted input projection (a row of ones);
- GATE-MAJOR buffers: a batch of B is kept as (width, B) — units on the first axis, the batch
  on the last — so each gate (z[:u], z[u:2u], ...) is ONE contiguous block (element-wise calls
  on the strided column slices of a (B, width) layout are several times slower). The
  recurrent product becomes U^T (G*units, units) @ h (units, B). A batch of one is kept as
  1-D vectors (np.dot of a vector by a matrix is the cheapest product there);
- states updated in place; each step's h written straight into its slot of the
  (time, units, batch) sequence buffer, which the next step reads as h;
- each kernel's step is a closure over its buffers (made once per kernel): no attribute
  lookups per step.
- ONNX's `clip` (the gates' pre-activations bounded to [-clip, clip]) is one np.clip per
  pre-activation block, before its tanh; a pre-scaled sigmoid column's bound is halved with it
  (clip(x, -b, b) / 2 = clip(x / 2, -b/2, b/2), exactly). The cell state is never clipped.
Used when the cell has its default activations (tanh, sigmoid), none of ONNX's extra options
but clip, and there is no mask. NumPy calls per step: SimpleRNN 3, LSTM 9, GRU 12 (11 with
reset_after and no bias), one more per clipped block (SimpleRNN 1, LSTM 1, GRU 2).
benchmarks/ measures them against ONNX Runtime.
"""

from __future__ import annotations

import numpy as np

from . import workspace


def transposed(weights: dict, key: str) -> np.ndarray:
    """weights[key].T as a contiguous array, made once and kept in the same dict."""
    name = f"{key}/T"
    if name not in weights:
        weights[name] = np.ascontiguousarray(weights[key].T)
    return weights[name]


class FastCell:
    """What a fast kernel runs: weights in the kernels' layout (made once), buffers, and the
    loop over the time steps. fast_cell(cell) makes one for a Cell whose readable step its
    kernel computes exactly; paired.py makes one for two directions at once."""

    def __init__(self, kernel_class, units: int, gates: int, weights: dict, dtype, reset_after=None, clip=None):
        self.kernel_class = kernel_class
        self.units, self.gates = units, gates
        self.weights = weights
        self.dtype = np.dtype(dtype)
        self.reset_after = reset_after
        self.clip = clip  # ONNX's bound on the gates' pre-activations, None: none

    def fused_weights(self) -> np.ndarray:
        """[W; U; b] in the fast gate order: (features + units + 1, G*units), made once."""
        weights = self.weights
        if "fused" not in weights:
            weights["fused"] = np.ascontiguousarray(np.vstack([weights["kernel"], weights["recurrent_kernel"],
                                                               weights["bias"][None, :]]), self.dtype)
        return weights["fused"]

    def projection(self, x: np.ndarray) -> np.ndarray:
        """x @ kernel + bias for all steps, gate-major as the fast kernels read it:
        (batch, time, F) -> (time, G*units, batch). A batch of one: one (time, F) @ (F, G*units)
        product plus the bias, (time, G*units, 1). Larger batches: per step
        [W; b]^T (G*units, F + 1) @ [x_t^T; 1] (F + 1, batch), all steps in ONE batched product
        into a reused buffer (the bias rides on a row of ones)."""
        batch, steps, features = x.shape
        weights = self.weights
        if batch == 1:
            return (np.matmul(x[0], weights["kernel"]) + weights["bias"])[:, :, None]
        kernel_t = transposed(weights, "kernel_with_bias")  # (G*units, F + 1)
        x_ones = workspace.buffer(self, "x_ones", (steps, features + 1, batch), self.dtype)
        x_ones[:, :features] = x.transpose(1, 2, 0)
        x_ones[:, features] = 1
        xw = workspace.buffer(self, "xw", (steps, kernel_t.shape[0], batch), self.dtype)
        np.matmul(kernel_t, x_ones, out=xw)
        return xw

    def inputs(self, x: np.ndarray) -> np.ndarray:
        """x (batch, time, F) as the fused-input kernels read it: (time, F, batch), in a reused buffer."""
        batch, steps, features = x.shape
        if x.dtype == self.dtype and x.transpose(1, 2, 0).flags.c_contiguous:  # already so: a gate-major sequence output
            return x.transpose(1, 2, 0)
        x_t = workspace.buffer(self, "x_t", (steps, features, batch), self.dtype)
        x_t[...] = x.transpose(1, 2, 0)
        return x_t

    def kernel(self, states, features: int | None = None):
        """The step kernel for this batch size (made once per thread), started from `states`;
        with `features`, one that reads each step's input itself (FastKernel.fuse_input)."""
        batch = states[0].shape[0]

        def make():
            kernel = self.kernel_class(self, states)
            return kernel if features is None else kernel.fuse_input(self, features)

        return workspace.cached(self, ("kernel", batch, states[0].dtype, features), make).start(states)

    def run(self, x, states, sizes, return_sequences: bool, go_backwards: bool, want_states: bool, fused: bool):
        """The recurrence over x (batch, time, F) from `states` (None: zeros of `sizes`), as
        recurrent.rnn computes it: (last output (batch, units), the sequence (batch, time, units)
        or None, final states or None unless `want_states`), fresh arrays. `fused`: each step
        reads x_t itself ([x_t; h; 1] against [W; U; b]) instead of a hoisted projection."""
        batch, steps = x.shape[0], x.shape[1]
        if states is None:
            states = [np.zeros((batch, size), x.dtype) for size in sizes]
        # the kernels keep h gate-major, so the sequence is (time, units, batch)
        sequence = np.empty((steps, self.units, batch), x.dtype) if return_sequences else None
        if fused:
            kernel, inputs = self.kernel(states, features=x.shape[2]), self.inputs(x)  # (time, F, batch)
        else:
            kernel, inputs = self.kernel(states), self.projection(x)  # (time, G*units, batch)
        rows = sequence
        if batch == 1:  # a batch of one runs on vectors
            inputs = inputs[:, :, 0]
            rows = None if sequence is None else sequence[:, :, 0]
        output = kernel.run(inputs, rows, go_backwards)
        states = [s.copy() for s in kernel.states] if want_states else None
        output = kernel.as_states(output)[0].copy()  # (batch, units)
        return output, (None if sequence is None else sequence.transpose(2, 0, 1)), states


def fast_cell(cell) -> FastCell | None:
    """The FastCell of a Cell whose readable step its kernel computes exactly, else None."""
    if not cell.runs_fast():
        return None
    kernel_class = cell.FAST_KERNEL
    return FastCell(kernel_class, cell.units, cell.GATES, kernel_class.layout(cell), cell.dtype,
                    getattr(cell, "reset_after", None), cell.config["clip"])


class FastKernel:
    """Shared set-up: gate-major buffers, the start states, the loop over the steps.

    A subclass makes `self.step(x_t, h, out)`: from this step's input and the previous h it
    writes the new h into `out` (which may be h itself). Inputs per step: the hoisted
    projection (G*units, batch) — or, with fuse_input, x_t itself (features, batch)."""

    SIGMOID_GATES = 0  # leading gates (in the fast order) that use the recurrent activation

    @staticmethod
    def order(units: int) -> np.ndarray:
        """Column order of the gates in the fast layout (Keras's order by default)."""
        return None

    @classmethod
    def layout(cls, cell) -> dict:
        """The cell's weights for this kernel, made once: columns reordered, sigmoid columns
        halved, the input bias as the last row of the input kernel."""
        u, g = cell.units, cell.GATES
        order = cls.order(u)
        order = np.arange(g * u) if order is None else order
        scale = np.ones(g * u, cell.dtype)
        scale[: cls.SIGMOID_GATES * u] = 0.5
        bias = cls.input_bias(cell)[order] * scale
        kernel = cell.w["kernel"][:, order] * scale
        weights = {
            "kernel_with_bias": np.ascontiguousarray(np.vstack([kernel, bias[None, :]]), cell.dtype),
            "kernel": np.ascontiguousarray(kernel, cell.dtype),
            "bias": np.ascontiguousarray(bias, cell.dtype),
            "recurrent_kernel": np.ascontiguousarray(cell.w["recurrent_kernel"][:, order] * scale, cell.dtype),
        }
        weights.update(cls.extras(cell, weights))
        return weights

    @staticmethod
    def input_bias(cell) -> np.ndarray:
        """The bias added to the input projection, (G*units,)."""
        return cell.bias()

    @staticmethod
    def extras(cell, weights: dict) -> dict:
        return {}

    def __init__(self, fast, states, scratch: dict[str, int]):
        self.weights = fast.weights
        batch, units = states[0].shape
        dtype = states[0].dtype
        self.u = units
        self.vector = batch == 1
        self.half = np.array(0.5, dtype)  # a 0-d array of the model's dtype: a Python float costs more per call
        self.h = self.own_h = self.buffer(fast, "h", units, batch, dtype)
        for name, width in scratch.items():
            setattr(self, name, self.buffer(fast, name, width, batch, dtype))
        self.features = None  # set by fuse_input: each step then reads x_t itself
        self.step = None  # made by the subclass
        self.clip = fast.clip

    def bounds(self, sigmoid_width: int, width: int):
        """ONNX's clip of a pre-activation block of `width` rows whose first `sigmoid_width` are
        pre-scaled sigmoid columns (their bound halved): (low, high) broadcasting over the block
        in this kernel's layout, or None without a clip."""
        if self.clip is None:
            return None
        high = np.full(width, self.clip, self.h.dtype)
        high[:sigmoid_width] *= self.half
        high = high if self.vector else high[:, None]  # (width,) or (width, 1)
        return -high, high

    def buffer(self, fast, name, width, batch, dtype):
        """(width,) for a batch of one, else (width, batch): gate-major."""
        return workspace.buffer(fast, name, (width,) if batch == 1 else (width, batch), dtype)

    def preactivation(self, z):
        """A function (x_t, h) -> z = x_t-part + h U written into z, for this kernel's inputs:
        the hoisted projection (added), or x_t itself (fused: [x_t; h; 1] against [W; U; b])."""
        if self.features is not None:
            x_in, xh = self.xh[: self.features], self.xh
            if self.vector:
                WU, dot = self.WU, np.dot

                def fused_vector(x_t, h):
                    x_in[...] = x_t  # (np.copyto measured slower per call)
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

    def fuse_input(self, fast, features: int):
        """The step computes [W; U; b]^T @ [x_t; h; 1] in ONE product instead of adding a
        hoisted (time, G*units, batch) projection. Large batches: no big projection buffer to
        stream through memory. A batch of one with a narrow layer: no projection call at all
        (the article's SimpleRNN(3), batch 1: see recurrent.fuses_input). h lives in the middle
        rows of that [x_t; h; 1] buffer."""
        self.features = features
        shape = (features + self.u + 1,) + self.h.shape[1:]  # (F + units + 1[, batch])
        self.xh = workspace.buffer(fast, "xh", shape, self.h.dtype)
        self.own_h = self.xh[features : features + self.u]
        self.WU = fast.fused_weights()  # (F + units + 1, G*units)
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

    def __init__(self, fast, states):
        super().__init__(fast, states, {"z": fast.units})
        self.build()

    def build(self):
        z, pre, tanh, clip = self.z, self.preactivation(self.z), np.tanh, np.clip
        bounds = self.bounds(0, self.u)

        def step(x_t, h, out):
            pre(x_t, h)
            if bounds:
                clip(z, *bounds, out=z)
            tanh(z, out)

        self.step = step


class LSTMKernel(FastKernel):
    """Gates in the order o, i, f, g; o, i, f pre-scaled so tanh(z) / 2 + 1/2 is their sigmoid.

    c lives right after the gates in one buffer [o, i, f, g, c] (rows), so that [i, f] * [g, c]
    is ONE multiply and c = i g + f c one add: 9 NumPy calls per step."""

    SIGMOID_GATES = 3

    @staticmethod
    def order(units):
        u = units  # Keras (i, f, c, o) -> (o, i, f, c): the three sigmoid gates first, [i, f] next to c's gate
        return np.concatenate([np.arange(3 * u, 4 * u), np.arange(0, 2 * u), np.arange(2 * u, 3 * u)])

    def __init__(self, fast, states):
        u = fast.units
        super().__init__(fast, states, {"zc": 5 * u, "pair": 2 * u, "tmp": u})
        self.c = self.zc[4 * u :]
        self.build()

    def build(self):
        u, zc, pair, tmp, half = self.u, self.zc, self.pair, self.tmp, self.half
        z, c = zc[: 4 * u], zc[4 * u :]  # z: the gates, contiguous for the product's out
        sigmoids, o = z[: 3 * u], z[:u]
        i_f, g_c = zc[u : 3 * u], zc[3 * u :]  # (2u[, batch]) each: [i; f] and [g; c]
        ig, fc = pair[:u], pair[u:]
        pre = self.preactivation(z)
        tanh, multiply, add, clip = np.tanh, np.multiply, np.add, np.clip
        bounds = self.bounds(3 * u, 4 * u)  # o, i, f halved; g whole; never c

        def step(x_t, h, out):
            pre(x_t, h)
            if bounds:
                clip(z, *bounds, out=z)
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

    SIGMOID_GATES = 2

    @staticmethod
    def input_bias(cell):
        bias = cell.bias()
        if not cell.reset_after:
            return bias
        bias = bias[0].copy()
        bias[: 2 * cell.units] += cell.bias()[1][: 2 * cell.units]  # z and r simply add the recurrent bias
        return bias

    @staticmethod
    def extras(cell, weights):
        u = cell.units
        if cell.reset_after:
            return {"recurrent_bias_h": np.ascontiguousarray(cell.w["bias"][1][2 * u :])} if cell.use_bias else {}
        full = weights["recurrent_kernel"]
        return {"recurrent_kernel": np.ascontiguousarray(full[:, : 2 * u]), "recurrent_kernel_h": np.ascontiguousarray(full[:, 2 * u :])}

    def __init__(self, fast, states):
        u = fast.units
        super().__init__(fast, states, {"inner": 3 * u if fast.reset_after else 2 * u, "cand": u, "tmp": u})
        self.reset_after = fast.reset_after
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
        clip, zr_bounds, cand_bounds = np.clip, self.bounds(2 * u, 2 * u), self.bounds(0, u)

        def step(xw_t, h, out):
            if vector:
                product(h, U, recurrent)
            else:
                product(U, h, recurrent)  # (3u or 2u, batch)
            add(zr, xw_t[: 2 * u], zr)
            if zr_bounds:
                clip(zr, *zr_bounds, out=zr)
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
            if cand_bounds:
                clip(cand, *cand_bounds, out=cand)
            tanh(cand, cand)
            subtract(h, cand, tmp)  # h = cand + z (h - cand)
            multiply(tmp, z_gate, tmp)
            add(cand, tmp, out)

        self.step = step
