"""Timing helpers: warm-up excluded, a fixed number of runs plus a minimum duration."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class LatencyStats:
    runs: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    mean_ms: float
    std_ms: float
    min_ms: float
    per_second: float

    def as_dict(self) -> dict:
        return asdict(self)


def summarize(times_s: list[float]) -> LatencyStats:
    t = np.asarray(times_s, np.float64) * 1000
    return LatencyStats(runs=len(t), p50_ms=float(np.percentile(t, 50)), p95_ms=float(np.percentile(t, 95)),
                        p99_ms=float(np.percentile(t, 99)), mean_ms=float(t.mean()), std_ms=float(t.std()),
                        min_ms=float(t.min()), per_second=float(1000 / t.mean()) if t.mean() > 0 else 0.0)


def measure(fn: Callable[[], object], warmup: int = 10, runs: int = 100, min_seconds: float = 1.0,
            max_runs: int = 100000) -> LatencyStats:
    for _ in range(warmup):
        fn()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < max_runs and (len(times) < runs or time.perf_counter() - start < min_seconds):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return summarize(times)
