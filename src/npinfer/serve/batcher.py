"""Dynamic batching: concurrent requests to one model gathered into one predict.

Requests wait in a queue; the model's loop takes the oldest and every compatible one behind
it (same shapes past the batch axis) until `max_batch_size` rows are gathered or the oldest
has waited `max_delay` seconds (Triton's max_queue_delay_microseconds), runs them as one
predict on a worker thread (off the event loop) and hands each caller exactly its rows.
A stateful or time-major model runs each request alone, in arrival order; with batching off
(max_batch_size 1) a stateless model runs requests side by side on the worker threads."""

from __future__ import annotations

import asyncio
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .errors import RequestError


class _Job:
    __slots__ = ("arrays", "arrived", "future", "key", "rows")

    def __init__(self, arrays, arrived, future):
        self.arrays = arrays  # prepared inputs, batch first
        self.rows = arrays[0].shape[0] if arrays[0].ndim else 1
        self.key = tuple((a.shape[1:], a.dtype.str) for a in arrays)
        self.arrived = arrived
        self.future = future


class Batcher:
    """One model's queue and the loop that runs it."""

    def __init__(self, model, name: str, metrics, max_batch_size: int = 32, max_delay_s: float = 0.002,
                 max_queue: int = 1024, threads: int = 2):
        self.model, self.name, self.metrics = model, name, metrics
        self.max_batch_size, self.max_delay, self.max_queue = max_batch_size, max_delay_s, max_queue
        self.serial = bool(model.stateful) or not model.batch_first  # one at a time, in order
        self.batching = max_batch_size > 1 and not self.serial
        self.pending = 0  # requests queued or running
        self._queue: deque = deque()
        self._queued_rows = 0
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._executor = ThreadPoolExecutor(1 if self.serial or self.batching else threads, thread_name_prefix=f"npinfer-{name}")

    def start(self) -> None:
        self._wake = asyncio.Event()
        if self.batching or self.serial:
            self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self._executor.shutdown(wait=True)

    async def submit(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        """The model's outputs for these prepared inputs (a 503 when the queue is full)."""
        if self.pending >= self.max_queue:
            raise RequestError(503, f"model '{self.name}' has {self.pending} requests waiting (--max-queue {self.max_queue}); try again later")
        loop = asyncio.get_running_loop()
        self.pending += 1
        try:
            if not (self.batching or self.serial):
                self.metrics.batch_size.observe(arrays[0].shape[0] if arrays[0].ndim else 1, self.name)
                self.metrics.batch_requests.observe(1, self.name)
                return await loop.run_in_executor(self._executor, self._predict, arrays)
            job = _Job(arrays, loop.time(), loop.create_future())
            self._queue.append(job)
            self._queued_rows += job.rows
            if len(self._queue) == 1 or self._queued_rows >= self.max_batch_size:
                self._wake.set()
            return await job.future
        finally:
            self.pending -= 1

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while not self._queue:
                self._wake.clear()
                await self._wake.wait()
            if self.batching:
                deadline = self._queue[0].arrived + self.max_delay
                while self._queued_rows < self.max_batch_size and (left := deadline - loop.time()) > 0:
                    self._wake.clear()
                    try:
                        await asyncio.wait_for(self._wake.wait(), left)
                    except asyncio.TimeoutError:
                        break
            jobs = self._take()
            rows = sum(j.rows for j in jobs)
            self.metrics.batch_size.observe(rows, self.name)
            self.metrics.batch_requests.observe(len(jobs), self.name)
            try:
                outcomes = await loop.run_in_executor(self._executor, self._run, jobs)
            except BaseException as err:  # cancelled at shutdown: fail what was taken
                for job in jobs:
                    if not job.future.done():
                        job.future.set_exception(err if isinstance(err, Exception) else RequestError(503, "the server is stopping"))
                raise
            for job, outcome in zip(jobs, outcomes):
                if job.future.done():  # the caller went away
                    continue
                if isinstance(outcome, BaseException):
                    job.future.set_exception(outcome)
                else:
                    job.future.set_result(outcome)

    def _take(self) -> list[_Job]:
        """The oldest job and the compatible ones behind it, up to max_batch_size rows."""
        first = self._queue.popleft()
        jobs, rows = [first], first.rows
        if self.batching:
            while self._queue and self._queue[0].key == first.key and rows + self._queue[0].rows <= self.max_batch_size:
                job = self._queue.popleft()
                jobs.append(job)
                rows += job.rows
        self._queued_rows -= rows
        return jobs

    def _run(self, jobs: list[_Job]) -> list:
        """On the worker thread: one predict over the jobs' rows, split back; each job's own
        error (or, when the joint run fails, each job run alone)."""
        if len(jobs) == 1:
            return [self._outcome(jobs[0].arrays)]
        arrays = [np.concatenate(parts, axis=0) for parts in zip(*(j.arrays for j in jobs))]
        try:
            results = self._predict(arrays)
        except Exception:  # noqa: BLE001 (any failure: each job runs alone and gets its own error)
            return [self._outcome(j.arrays) for j in jobs]
        total = arrays[0].shape[0]
        if not all(r.ndim and r.shape[0] == total for r in results):  # an output without the batch axis
            return [self._outcome(j.arrays) for j in jobs]
        outcomes, start = [], 0
        for job in jobs:
            outcomes.append([r[start : start + job.rows] for r in results])
            start += job.rows
        return outcomes

    def _outcome(self, arrays):
        try:
            return self._predict(arrays)
        except Exception as err:  # noqa: BLE001 (handed to the caller's future)
            return err

    def _predict(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        result = self.model.predict(arrays if len(arrays) > 1 else arrays[0])
        return list(result) if isinstance(result, list) else [result]
