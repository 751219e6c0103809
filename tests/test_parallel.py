"""Large batches split over threads give the numbers one thread gives; one Model serves many threads."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from npinfer import Model, parallel
from npinfer.spec import Call, LayerSpec, ModelSpec


def _recurrent_model(kind: str, units=32, steps=40, features=8) -> Model:
    rng = np.random.default_rng(1)
    gates = {"LSTM": 4, "GRU": 3, "SimpleRNN": 1}[kind]
    weights = {
        "kernel": rng.normal(0, 0.3, (features, gates * units)).astype(np.float32),
        "recurrent_kernel": rng.normal(0, 0.3, (units, gates * units)).astype(np.float32),
        "bias": rng.normal(0, 0.3, (2, gates * units) if kind == "GRU" else (gates * units,)).astype(np.float32),
    }
    layers = [LayerSpec("x", "InputLayer", {"shape": [None, steps, features], "dtype": "float32"}),
              LayerSpec("r", kind, {"units": units, "return_sequences": True}, weights, [Call([("x", 0, 0)])])]
    return Model(ModelSpec("m", layers, [("x", 0, 0)], [("r", 0, 0)]))


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "SimpleRNN"])
def test_split_batch_equals_one_thread(kind, monkeypatch):
    model = _recurrent_model(kind)
    x = np.random.default_rng(2).normal(size=(600, 40, 8)).astype(np.float32)
    monkeypatch.setattr(parallel, "MIN_WORK", 0)  # split even this small model
    split = model.predict(x)
    monkeypatch.setenv("NPINFER_THREADS", "1")
    whole = model.predict(x)
    # bit for bit: threads split on tile boundaries, and each tile is computed alone (OpenBLAS
    # rounds a part's edge columns its own way, so halves of the batch differed by up to 1.4e-5)
    assert np.array_equal(split, whole)
    assert split.flags.c_contiguous or split.shape[0] == 600


def _feedforward_model(kind: str) -> Model:
    """Dense(64, relu) -> Dense(3) on 20 features, or Conv1D(32, 5) -> pooling -> Dense(1) on (100, 8)."""
    rng = np.random.default_rng(8)
    f32 = lambda *shape: rng.normal(0, 0.3, shape).astype(np.float32)
    if kind == "Dense":
        layers = [LayerSpec("x", "InputLayer", {"shape": [None, 20], "dtype": "float32"}),
                  LayerSpec("d", "Dense", {"units": 64, "activation": "relu"}, {"kernel": f32(20, 64), "bias": f32(64)}, [Call([("x", 0, 0)])])]
    else:
        layers = [LayerSpec("x", "InputLayer", {"shape": [None, 100, 8], "dtype": "float32"}),
                  LayerSpec("c", "Conv1D", {"filters": 32, "kernel_size": 5, "activation": "relu"}, {"kernel": f32(5, 8, 32), "bias": f32(32)},
                            [Call([("x", 0, 0)])]),
                  LayerSpec("d", "GlobalAveragePooling1D", {}, {}, [Call([("c", 0, 0)])])]
    layers.append(LayerSpec("o", "Dense", {"units": 3}, {"kernel": f32(layers[-1].config.get("units", 32), 3), "bias": f32(3)},
                            [Call([("d", 0, 0)])]))
    return Model(ModelSpec("m", layers, [("x", 0, 0)], [("o", 0, 0)]))


@pytest.mark.parametrize("kind, rows", [("SimpleRNN", 600), ("LSTM", 600), ("GRU", 600), ("Dense", 4500), ("Conv1D", 600)])
def test_batch_size_and_threads_give_the_same_bits(kind, rows, monkeypatch):
    """README's promise: predict(x, batch_size=b) is predict(x) bit for bit, for any b and any
    thread count (the batch is computed in fixed tiles, whatever chunks or threads compute them)."""
    from npinfer import tiles

    model = _recurrent_model(kind) if kind in ("SimpleRNN", "LSTM", "GRU") else _feedforward_model(kind)
    shape = model.input_shape[1:]
    x = np.random.default_rng(9).normal(size=(rows,) + shape).astype(np.float32)
    tile = tiles.tile_size(model, [x])
    assert tile < rows  # several tiles (256 for the recurrent models, 4096 for Dense, 128 for Conv1D)
    monkeypatch.setattr(parallel, "MIN_WORK", 0)  # threads even for Dense
    pools = []
    pool_of = parallel._pool_of
    monkeypatch.setattr(parallel, "_pool_of", lambda count: pools.append(count) or pool_of(count))
    whole = model.predict(x)
    for threads in ("2", "1"):
        monkeypatch.setenv("NPINFER_THREADS", threads)
        for batch_size in (1, 7, 64, tile + 1, 1000, None):
            got = model.predict(x, batch_size=batch_size)
            assert got.dtype == whole.dtype and np.array_equal(got, whole), (threads, batch_size)
    assert pools and set(pools) == {2}  # threads ran (with NPINFER_THREADS=2 only)
    assert np.array_equal(model.predict(x[tile : 2 * tile]), whole[tile : 2 * tile])  # a tile's bits are its own


def _window_model(kind: str) -> tuple[Model, tuple]:
    """A Conv2D or ConvLSTM2D model big enough per sample for threads (call_work_per_row)."""
    rng = np.random.default_rng(5)
    if kind == "Conv2D":
        shape, config = [24, 24, 8], {"filters": 16, "kernel_size": [3, 3], "padding": "same", "activation": "relu"}
        weights = {"kernel": rng.normal(0, 0.3, (3, 3, 8, 16)), "bias": rng.normal(0, 0.3, (16,))}
    else:
        shape, config = [4, 12, 12, 4], {"filters": 8, "kernel_size": [3, 3], "padding": "same", "return_sequences": True}
        weights = {"kernel": rng.normal(0, 0.3, (3, 3, 4, 32)), "recurrent_kernel": rng.normal(0, 0.3, (3, 3, 8, 32)),
                   "bias": rng.normal(0, 0.3, (32,))}
    layers = [LayerSpec("x", "InputLayer", {"shape": [None] + shape, "dtype": "float32"}),
              LayerSpec("w", kind, config, {k: v.astype(np.float32) for k, v in weights.items()}, [Call([("x", 0, 0)])])]
    return Model(ModelSpec("m", layers, [("x", 0, 0)], [("w", 0, 0)])), tuple(shape)


@pytest.mark.parametrize("kind", ["Conv2D", "ConvLSTM2D"])
def test_convolutions_split_a_small_batch_and_equal_one_thread(kind, monkeypatch):
    """Convolutions split from a few rows (each thread's share of a call >= MIN_CALL_WORK), not
    from 2 * MIN_ROWS_PER_THREAD as the recurrent layers do; the numbers are one thread's."""
    model, shape = _window_model(kind)
    x = np.random.default_rng(6).normal(size=(12,) + shape).astype(np.float32)
    assert model.call_work_per_row > 0
    monkeypatch.setattr(parallel, "MIN_CALL_WORK", model.call_work_per_row * 3)  # 12 rows: 3 tiles of 4 (each a share of 4 * call_work)
    pools = []
    pool_of = parallel._pool_of
    monkeypatch.setattr(parallel, "_pool_of", lambda count: pools.append(count) or pool_of(count))
    monkeypatch.setattr(parallel, "workers", lambda: 2)
    split = model.predict(x)
    assert pools == [2]  # two threads ran
    monkeypatch.setattr(parallel, "workers", lambda: 1)
    whole = model.predict(x)
    assert pools == [2]
    assert np.array_equal(split, whole)
    monkeypatch.setattr(parallel, "workers", lambda: 2)
    model.predict(x[:2])
    assert pools == [2]  # 2 rows: one tile, a share below MIN_CALL_WORK


def test_call_work_counts_each_call_of_a_shared_convolution():
    """A Conv2D shared by a 16x16 and a 4x4 input: the work is the average of its two calls."""
    rng = np.random.default_rng(7)
    weights = {"kernel": rng.normal(size=(3, 3, 2, 4)).astype(np.float32), "bias": np.zeros(4, np.float32)}
    config = {"filters": 4, "kernel_size": [3, 3], "padding": "same"}
    layers = [LayerSpec("a", "InputLayer", {"shape": [None, 16, 16, 2], "dtype": "float32"}),
              LayerSpec("b", "InputLayer", {"shape": [None, 4, 4, 2], "dtype": "float32"}),
              LayerSpec("c", "Conv2D", config, weights, [Call([("a", 0, 0)]), Call([("b", 0, 0)])])]
    model = Model(ModelSpec("m", layers, [("a", 0, 0), ("b", 0, 0)], [("c", 0, 0), ("c", 1, 0)]))
    assert model.call_work_per_row == (16 * 16 + 4 * 4) * 72 / 2


def test_one_model_from_eight_threads_matches_serial_calls():
    model = _recurrent_model("LSTM")
    rng = np.random.default_rng(3)
    inputs = [rng.normal(size=(batch, 40, 8)).astype(np.float32) for batch in (1, 3, 17, 64)]
    expected = [model.predict(x) for x in inputs]
    failures = []

    def worker(seed: int) -> None:
        for call in range(100):
            k = (seed + call) % len(inputs)
            if not np.array_equal(model.predict(inputs[k]), expected[k]):
                failures.append((seed, call))

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


def test_workers_is_at_least_one(monkeypatch):
    assert parallel.workers() >= 1
    monkeypatch.setenv("NPINFER_THREADS", "1")
    assert parallel.workers() == 1


@pytest.mark.parametrize("batch", [1, 3, 80])  # 80: the fused-input kernels (recurrent.FUSED_MIN_BATCH) for LSTM
@pytest.mark.parametrize("kind", ["LSTM", "GRU", "SimpleRNN"])
def test_a_later_call_never_changes_an_earlier_result(kind, batch):
    # the step kernels are reused across calls; the first result's last step must survive the second call
    model = _recurrent_model(kind, steps=5)
    x = np.random.default_rng(4).normal(size=(batch, 5, 8)).astype(np.float32)
    first = model.predict(x)
    kept = first.copy()
    model.predict(2 * x)
    assert np.array_equal(first, kept)


@pytest.mark.parametrize("options", [{}, {"go_backwards": True}, {"return_sequences": False, "return_state": True}])
@pytest.mark.parametrize("kind, units, batch", [("LSTM", 32, 96), ("SimpleRNN", 128, 96), ("SimpleRNN", 3, 1), ("LSTM", 8, 1), ("SimpleRNN", 3, 40)])
def test_fused_input_steps_equal_the_hoisted_projection(kind, units, batch, options, monkeypatch):
    """Wide layers at large batches and narrow layers at small ones compute [x_t; h; 1] against
    [W; U; b] (recurrent.fuses_input); the numbers are those of the hoisted projection path
    (to rounding), states included."""
    from npinfer.layers import recurrent

    model = _recurrent_model(kind, units=units)
    model.spec.layers[1].config.update(options)
    model.spec.layers[1].weights["recurrent_kernel"] *= 0.5 if kind == "LSTM" else 0.25  # a contracting recurrence: rounding does not grow over 40 steps
    x = np.random.default_rng(5).normal(size=(batch, 40, 8)).astype(np.float32)
    cell = Model(model.spec).get_layer("r").cell
    assert recurrent.fuses_input(cell, batch)
    fused = Model(model.spec).predict(x)
    monkeypatch.setattr(recurrent, "fuses_input", lambda cell, batch: False)
    hoisted = Model(model.spec).predict(x)
    for a, b in zip(fused if isinstance(fused, list) else [fused], hoisted if isinstance(hoisted, list) else [hoisted]):
        assert a.dtype == b.dtype == np.float32 and a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)  # float32 rounding in another summation order (the parity bound)


def test_tiles_fit_the_activation_limit():
    """Limits.max_activation_bytes bounds what is computed at once: a batch far over it runs in
    tiles no larger than the limit allows (the same numbers), and a model of which one sample is
    over the limit is refused before running, naming the layer."""
    from npinfer import Limits, tiles
    from npinfer.errors import ResourceLimitError

    spec = _feedforward_model("Dense").spec
    reference = Model(spec)
    x = np.random.default_rng(10).normal(size=(1000, 20)).astype(np.float32)
    for samples in (300, 10):
        limited = Model(spec, limits=Limits(max_activation_bytes=64 * 4 * samples))  # this many samples of Dense(64)
        assert tiles.tile_size(limited, [x]) <= samples
        np.testing.assert_allclose(limited.predict(x), reference.predict(x), rtol=0, atol=1e-5)  # other tiles: rounding
    tiny = Model(spec, limits=Limits(max_activation_bytes=64 * 4 - 1))  # not one sample
    with pytest.raises(ResourceLimitError, match="even one sample does not fit"):
        tiny.predict(x)


def test_an_output_that_mixes_the_samples_is_computed_in_one_pass():
    """A traced model may reduce over the batch (x.sum(0)): tiles would give one row per tile,
    so the batch is then run whole and the sum is over every sample."""
    rng = np.random.default_rng(11)
    layers = [LayerSpec("x", "InputLayer", {"shape": [None, 20], "dtype": "float32"}),
              LayerSpec("d", "Dense", {"units": 4}, {"kernel": rng.normal(size=(20, 4)).astype(np.float32),
                                                     "bias": np.zeros(4, np.float32)}, [Call([("x", 0, 0)])]),
              LayerSpec("s", "tensor.Reduce", {"op": "sum", "axes": [0], "keepdims": True}, {}, [Call([("d", 0, 0)])])]
    model = Model(ModelSpec("m", layers, [("x", 0, 0)], [("s", 0, 0)]))
    x = rng.normal(size=(5000, 20)).astype(np.float32)  # two tiles of a Dense model (4096 + 904)
    got = model.predict(x)
    assert got.shape == (1, 4)
    np.testing.assert_allclose(got, (x @ model.spec.layers[1].weights["kernel"]).sum(0, keepdims=True), rtol=1e-4)
