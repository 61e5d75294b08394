"""Run metrics: counters, per-stage timings with percentiles, and a summary snapshot."""
from __future__ import annotations

import bisect
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Optional

import numpy as np

STAGES = ("capture_wait", "decode", "detect", "align", "infer", "track", "process", "draw", "output", "end_to_end")
# Upper bounds (seconds) of the cumulative stage-latency histograms (Prometheus ``_bucket{le=...}``).
HISTOGRAM_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class Histogram:
    """Cumulative since the start of the run: ``counts[i]`` values were <= ``HISTOGRAM_BUCKETS[i]``."""

    counts: tuple[int, ...]
    total: int
    sum_s: float


@dataclass(frozen=True)
class StageSummary:
    count: int
    p50_ms: float
    p95_ms: float
    mean_ms: float


class RunMetrics:
    """Thread-safe counters and bounded timing windows (the last ``window`` values per stage)."""

    def __init__(self, window: int = 5000):
        self._lock = threading.Lock()
        self._times: dict[str, deque] = {s: deque(maxlen=window) for s in STAGES}
        self.started = time.monotonic()
        self.frames_captured = 0
        self.frames_processed = 0
        self.frames_dropped = 0
        self.outputs_dropped = 0
        self.faces_total = 0
        self.classifications = 0
        self.classifications_skipped = 0
        self.detections_skipped = 0
        self.frame_errors = 0
        self.reconnects = 0
        self.stalls = 0
        self.age_checks_adult = 0       # people decided "adult" by the age check (--age-gate)
        self.age_checks_ask_id = 0      # ... and "ask_id"
        self.last_frame_at: Optional[float] = None
        self._faces_per_frame: deque = deque(maxlen=window)
        self._hist: dict[str, list] = {}

    def add_time(self, stage: str, seconds: float) -> None:
        with self._lock:
            self._times.setdefault(stage, deque(maxlen=5000)).append(seconds)
            h = self._hist.get(stage)
            if h is None:
                h = self._hist[stage] = [0] * (len(HISTOGRAM_BUCKETS) + 2)   # per bucket, above the last, sum
            h[bisect.bisect_left(HISTOGRAM_BUCKETS, seconds)] += 1
            h[-1] += seconds

    def histograms(self) -> dict[str, Histogram]:
        """Cumulative latency histograms per stage (every value since the start, not just the window)."""
        with self._lock:
            raw = {k: list(v) for k, v in self._hist.items()}
        out = {}
        for stage, h in raw.items():
            per_bucket, n_inf, total_s = h[:len(HISTOGRAM_BUCKETS)], h[len(HISTOGRAM_BUCKETS)], h[-1]
            cum = tuple(int(c) for c in np.cumsum(per_bucket))
            out[stage] = Histogram(cum, int(cum[-1] + n_inf if cum else n_inf), float(total_s))
        return out

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + n)

    def frame_done(self, faces: int) -> None:
        with self._lock:
            self.frames_processed += 1
            self.faces_total += faces
            self._faces_per_frame.append(faces)
            self.last_frame_at = time.monotonic()

    def stage(self, stage: str) -> StageSummary:
        with self._lock:
            v = np.asarray(self._times.get(stage, ()), np.float64) * 1000
        if v.size == 0:
            return StageSummary(0, float("nan"), float("nan"), float("nan"))
        return StageSummary(int(v.size), float(np.percentile(v, 50)), float(np.percentile(v, 95)), float(v.mean()))

    def processed_fps(self) -> float:
        return self.frames_processed / max(time.monotonic() - self.started, 1e-9)

    def snapshot(self) -> dict:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        with self._lock:
            fpf = float(np.mean(self._faces_per_frame)) if self._faces_per_frame else 0.0
            counts = {k: getattr(self, k) for k in ("frames_captured", "frames_processed", "frames_dropped",
                                                      "outputs_dropped", "faces_total", "classifications",
                                                      "classifications_skipped", "detections_skipped", "frame_errors",
                                                      "reconnects", "stalls", "age_checks_adult",
                                                      "age_checks_ask_id")}
        stages = {}
        for s in STAGES:
            st = self.stage(s)
            if st.count:
                stages[s] = {"p50_ms": round(st.p50_ms, 3), "p95_ms": round(st.p95_ms, 3), "mean_ms": round(st.mean_ms, 3),
                             "count": st.count}
        return {"elapsed_s": round(elapsed, 3), "camera_fps": round(counts["frames_captured"] / elapsed, 2),
                "processed_fps": round(counts["frames_processed"] / elapsed, 2), "faces_per_frame": round(fpf, 3),
                **counts, "stages": stages}
