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


def interleaved_per_call_seconds(calls: dict[str, Callable[[], object]], budget: float = 1.0, rounds: int = 5) -> dict[str, float]:
    """Median seconds per call of each runtime, timed in `rounds` alternating rounds (the order
    rotating each round) — so a burst of load from other processes on this shared machine hits
    every runtime alike instead of the one being timed at that moment; each round's time is
    per_call_seconds' median over blocks, the result the median over rounds."""
    names = list(calls)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:
            times[name].append(per_call_seconds(calls[name], budget=budget / rounds, min_blocks=3))
    return {name: statistics.median(values) for name, values in times.items()}
