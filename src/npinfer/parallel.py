"""Splitting a large batch over CPU cores with Python threads.

NumPy's matrix products and ufuncs release the GIL, so two threads each running the model
on half the batch use both cores for the element-wise gate math too. BLAS must then use ONE
thread per calling thread, or four threads fight over two cores (two threads with BLAS left
at two threads each measured slower than one thread).

The BLAS thread count is set per calling thread through OpenBLAS's
`openblas_set_num_threads_local` (OpenBLAS >= 0.3.27, as NumPy's wheels bundle it), found
with ctypes among the libraries NumPy ships. Where it is not found (another BLAS), batches
are not split: correct either way, only the speed differs.
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import TYPE_CHECKING, Callable, Iterator

import numpy as np

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

# ctypes, glob and concurrent.futures are imported where first needed (large batches only):
# load + predict of a small model then starts faster.

MIN_ROWS_PER_THREAD = 128  # below this the hand-off costs more than the second core gives
MIN_WORK = 2e7  # multiply-adds in the recurrent layers: below this one thread measured faster
# Convolutions: a thread's share of one call (multiply-adds) from which two threads measured
# faster than one (benchmarks/: the image CNN and ConvLSTM2D, batches 2 to 32)
MIN_CALL_WORK = 1e7

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_blas_local_threads: Callable[[int], int] | None | bool = None  # False: looked, not found


def _find_blas_setter():
    """openblas_set_num_threads_local from NumPy's bundled OpenBLAS, or None."""
    import ctypes
    import glob

    base = os.path.dirname(os.path.dirname(os.path.abspath(np.__file__)))
    for pattern in ("numpy.libs/libscipy_openblas*.so*", "numpy.libs/libopenblas*.so*", "numpy/.dylibs/libscipy_openblas*.dylib"):
        for path in glob.glob(os.path.join(base, pattern)):
            try:
                library = ctypes.CDLL(path)
                setter = library.openblas_set_num_threads_local
            except (OSError, AttributeError):
                continue
            setter.argtypes = [ctypes.c_int]
            setter.restype = ctypes.c_int
            return setter
    return None


def workers() -> int:
    """How many threads a large batch is split over (1 when BLAS threads cannot be pinned)."""
    global _blas_local_threads
    if _blas_local_threads is None:
        with _lock:
            if _blas_local_threads is None:
                _blas_local_threads = _find_blas_setter() or False
    if not _blas_local_threads or os.environ.get("NPINFER_THREADS") == "1":
        return 1
    wanted = os.environ.get("NPINFER_THREADS")
    count = int(wanted) if wanted and wanted.isdigit() else (os.cpu_count() or 1)
    return max(1, min(count, 8))


@contextlib.contextmanager
def single_threaded_blas() -> Iterator[None]:
    """BLAS uses one thread for calls made from this thread, inside the block."""
    setter = _blas_local_threads
    previous = setter(1) if setter else None
    try:
        yield
    finally:
        if setter:
            setter(previous)


def _pool_of(count: int) -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None or _pool._max_workers < count:
            from concurrent.futures import ThreadPoolExecutor

            _pool = ThreadPoolExecutor(max_workers=count, thread_name_prefix="npinfer")
        return _pool


def run_tiles(run: Callable[[int], list[np.ndarray]], starts: range, work_per_row: float,
              call_work_per_row: float = 0.0) -> list[np.ndarray]:
    """`run(start)` for each tile start (tiles.tile_size rows from it), joined in order: in
    threads when the batch is large enough, else one after the other on the calling thread.

    Each tile is computed alone, whoever computes it: a matrix product can round a row
    differently for another number of rows, so splitting on tile boundaries is what keeps
    the numbers the same bit for bit for any thread count (or predict batch_size).

    work_per_row: multiply-adds per sample in the recurrent layers, whose steps are many small
    calls (the article's SimpleRNN(3): ~100; LSTM(64) over 50 steps: ~16 million); splitting
    the article model's batch of 1024 measured slower than not. call_work_per_row: multiply-adds
    per sample in each call of the convolutions, whose calls are few and large: split while
    each thread's share of a call is at least MIN_CALL_WORK."""
    rows = starts.stop
    count = 1
    if rows >= 2 * MIN_ROWS_PER_THREAD and rows * work_per_row >= MIN_WORK:
        count = rows // MIN_ROWS_PER_THREAD
    if call_work_per_row:
        count = max(count, int(rows * call_work_per_row // MIN_CALL_WORK))
    if count >= 2:  # (before workers(), which reads the environment)
        count = min(count, workers(), len(starts))
    if count < 2:
        results = [run(start) for start in starts]
    else:
        def job(start: int) -> list[np.ndarray]:
            with single_threaded_blas():
                return run(start)

        results = list(_pool_of(count).map(job, starts))
    return [np.concatenate(pieces, axis=0) for pieces in zip(*results)]
