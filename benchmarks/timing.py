"""Timing that tolerates a noisy machine: warm up, then the median over repeated blocks."""

from __future__ import annotations

import statistics
import time
from typing import Callable


def per_call_seconds(call: Callable[[], object], budget: float = 1.0, max_calls: int = 20000, min_blocks: int = 5) -> float:
    """Median seconds per call. Calls are timed in blocks sized to ~budget/20 each."""
    call()  # warm-up (allocations, caches, graph tracing)
    start = time.perf_counter()
    call()
    single = max(time.perf_counter() - start, 1e-7)
    per_block = max(1, min(max_calls // 20, int(budget / 20 / single)))
    blocks = []
    deadline = time.perf_counter() + budget
    while len(blocks) < min_blocks or (time.perf_counter() < deadline and len(blocks) < 20):
        start = time.perf_counter()
        for _ in range(per_block):
            call()
        blocks.append((time.perf_counter() - start) / per_block)
    return statistics.median(blocks)
