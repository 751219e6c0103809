"""Bit-reproducible batch scoring: the samples of a file are computed in fixed tiles.

A matrix product's rounding can depend on how many rows it multiplies at once (OpenBLAS
takes a matrix-vector path for one row or one output column, and its unrolled loops treat
the last rows apart), so model.predict on 1,000 windows and on the same windows split
1+999 can differ by one unit in the last place. File scoring therefore never lets the
chunking decide the batches: sample i is always computed in tile i // tile, a batch of
exactly the `tile` samples from tile_index * tile (the last tile shorter), with
single-threaded BLAS and no further splitting. `tile` depends only on the model and the
sample shape, and divides CHUNK_UNIT, so chunks cut on multiples of CHUNK_UNIT start on tile
boundaries. The same tile gets the same bits in any process, so the predictions for a file
are identical whatever --chunk-rows, Dask partitioning, worker count or thread count
computed them. Tiles run in parallel threads (one BLAS thread each). model.predict computes
the same tiles (Model._run), so it gives these bits too, for any batch_size.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from . import parallel
from .parallel import MIN_ROWS_PER_THREAD, MIN_WORK, _pool_of, single_threaded_blas, workers

CHUNK_UNIT = 4096  # the largest tile: large enough that per-call overhead is a small part of it
# The smallest tile of a recurrent model. LSTM(64) over 50 steps, measured interleaved in one
# process (2 cores): batch 1024 in tiles of 512 / 256 / 128: 17.4 / 17.1 / 18.8 ms (more tiles,
# more per-step calls); but a batch of 256-511 rows is then one or two tiles: batch 256 in one
# tile of 256 takes 8.2 ms where two threads on tiles of 128 take 4.7 ms.
SMALLEST_TILE = 2 * MIN_ROWS_PER_THREAD
TILE_WORK = MIN_WORK / 2  # recurrent multiply-adds per tile above which tiles get smaller
TILE_BYTES = 64 << 20  # the largest activation of one tile (bytes) above which tiles get smaller


def chunk_size(chunk_rows: int) -> int:
    """Samples per chunk: chunk_rows rounded down to a multiple of CHUNK_UNIT (at least one)."""
    return CHUNK_UNIT * max(1, chunk_rows // CHUNK_UNIT)


def smallest_tile(model) -> int:
    """The smallest tile this model gets for any sample shape (a batch up to it is one tile)."""
    recurrent = model.work_per_row([]) > 0  # (one step's work: 0 when no layer is recurrent)
    return _tile(model, float("inf") if recurrent else 0.0)


def tile_size(model, arrays: list[np.ndarray]) -> int:
    """Samples per tile for this model and sample shape (never the batch): a power of two up to
    4096, small enough that most batches large enough for threads (parallel.run_tiles) have
    two tiles or more, large enough that per-call overhead stays small: recurrent models down to 256 (a tile's recurrent work at most TILE_WORK,
    half of MIN_WORK), convolutions down to 1 (the smallest tile whose share of a call reaches
    MIN_CALL_WORK, from which a thread's share measured worth it),
    and a tile's largest activation at most TILE_BYTES and the model's Limits."""
    return _tile(model, model.work_per_row(arrays))  # work: from the sample shape, not the batch


def _tile(model, work: float) -> int:
    """The tile for `work` recurrent multiply-adds per sample (the rules of tile_size)."""
    call_work = model.call_work_per_row
    sample_bytes = max(model.sample_activation_bytes, 1)
    budget = min(TILE_BYTES, model.limits.max_activation_bytes)
    tile = CHUNK_UNIT
    while tile > SMALLEST_TILE and tile * work > TILE_WORK:
        tile //= 2
    while tile > 1 and ((tile // 2) * call_work >= parallel.MIN_CALL_WORK or tile * sample_bytes > budget):
        tile //= 2
    return tile


def retiled(chunks: Iterator[np.ndarray], size: int, first_extra: int = 0) -> Iterator[np.ndarray]:
    """The same rows re-cut into pieces of `size` rows, the first `first_extra` rows longer
    (the look_back - 1 rows its first window starts in), the last piece shorter."""
    pending: list[np.ndarray] = []
    held = 0
    want = size + first_extra
    for chunk in chunks:
        pending.append(chunk)
        held += len(chunk)
        while held >= want:
            joined = pending[0] if len(pending) == 1 else np.concatenate(pending)
            yield joined[:want]
            rest = joined[want:]
            pending, held, want = ([rest] if len(rest) else []), len(rest), size
    if held:
        yield pending[0] if len(pending) == 1 else np.concatenate(pending)


def piece_lengths(total_rows: int, size: int, look_back: int | None) -> list[int]:
    """Row counts of the pieces `retiled` cuts `total_rows` rows into (for Dask partitions)."""
    lengths, start = [], 0
    want = size + (look_back - 1 if look_back else 0)
    while start < total_rows:
        lengths.append(min(want, total_rows - start))
        start += lengths[-1]
        want = size
    return lengths


def predict_tiles(model, x):
    """model.predict(x) computed tile by tile; x's first sample must start a chunk (its index
    in the file a multiple of CHUNK_UNIT). Returns what model.predict returns (an array, or a list)."""
    arrays = model.prepare_inputs(x)
    rows = arrays[0].shape[0]
    size = tile_size(model, arrays)
    starts = range(0, rows, size)

    def tile(start: int) -> list[np.ndarray]:
        with single_threaded_blas():
            return model.evaluate([a[start : start + size] for a in arrays])

    count = min(workers(), len(starts))
    if model.stateful or count < 2:  # a stateful model's tiles follow one another
        results = [tile(s) for s in starts]
    else:
        results = list(_pool_of(count).map(tile, starts))
    if not results:
        results = [model.evaluate(arrays)]
    outputs = [r[0] if len(results) == 1 else np.concatenate(r, axis=0) for r in zip(*results)]
    return outputs[0] if len(outputs) == 1 else outputs
