"""Prometheus text exposition: request counters, latency and batch-size histograms."""

from __future__ import annotations

import bisect
from collections import defaultdict

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class Histogram:
    """Cumulative buckets, sum and count, one series per label tuple."""

    def __init__(self, name: str, help: str, labels: tuple, buckets: tuple):
        self.name, self.help, self.labels, self.buckets = name, help, labels, buckets
        self._series: dict = {}

    def observe(self, value: float, *labels) -> None:
        series = self._series.get(labels)
        if series is None:
            series = self._series[labels] = [[0] * (len(self.buckets) + 1), 0.0]
        series[0][bisect.bisect_left(self.buckets, value)] += 1
        series[1] += value

    def lines(self) -> list[str]:
        out = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        for labels, (counts, total) in sorted(self._series.items()):
            base = _labels(self.labels, labels)
            running = 0
            for bound, count in zip((*self.buckets, "+Inf"), counts):
                running += count
                le = f'le="{bound}"'
                out.append(f"{self.name}_bucket{{{base + ',' if base else ''}{le}}} {running}")
            braces = f"{{{base}}}" if base else ""
            out += [f"{self.name}_sum{braces} {total:.9g}", f"{self.name}_count{braces} {running}"]
        return out


class Counter:
    def __init__(self, name: str, help: str, labels: tuple):
        self.name, self.help, self.labels = name, help, labels
        self._values: dict = defaultdict(int)

    def inc(self, *labels) -> None:
        self._values[labels] += 1

    def lines(self) -> list[str]:
        out = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} counter"]
        out += [f"{self.name}{{{_labels(self.labels, k)}}} {v}" for k, v in sorted(self._values.items())]
        return out


class Metrics:
    """The server's metrics; updated on the event loop only (no locks needed)."""

    def __init__(self):
        self.requests = Counter("npinfer_requests_total", "HTTP requests answered", ("model", "protocol", "code"))
        self.errors = Counter("npinfer_request_errors_total", "requests answered with a 4xx or 5xx", ("model", "protocol", "code"))
        self.latency = Histogram("npinfer_request_duration_seconds", "time from request to response",
                                 ("model", "protocol"), LATENCY_BUCKETS)
        self.batch_size = Histogram("npinfer_batch_size", "rows per model run (dynamic batching gathers requests)",
                                    ("model",), BATCH_BUCKETS)
        self.batch_requests = Histogram("npinfer_batch_requests", "requests per model run", ("model",), BATCH_BUCKETS)

    def record(self, model: str, protocol: str, code: int, seconds: float) -> None:
        self.requests.inc(model, protocol, str(code))
        if code >= 400:
            self.errors.inc(model, protocol, str(code))
        self.latency.observe(seconds, model, protocol)

    def text(self, pending: dict | None = None) -> str:
        """The exposition; `pending`: {model: requests queued or running} as a gauge."""
        parts = [self.requests, self.errors, self.latency, self.batch_size, self.batch_requests]
        lines = [line for part in parts for line in part.lines()]
        if pending is not None:
            lines += ["# HELP npinfer_pending_requests requests queued or running, per model",
                      "# TYPE npinfer_pending_requests gauge"]
            lines += [f'npinfer_pending_requests{{model="{_escape(name)}"}} {count}' for name, count in sorted(pending.items())]
        return "\n".join(lines) + "\n"


def _labels(names: tuple, values: tuple) -> str:
    return ",".join(f'{n}="{_escape(v)}"' for n, v in zip(names, values))


def _escape(value) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
