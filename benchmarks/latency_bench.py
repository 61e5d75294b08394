"""Model latency: backend x model file x threads x batch, load and first-inference times apart."""
from __future__ import annotations

import os
import resource
import time
from pathlib import Path

import numpy as np

from benchmarks.latency import measure


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def bench_model(path: str, threads: int, batch: int, runs: int = 100, min_seconds: float = 1.0,
                backend: str = "auto") -> dict:
    from edge.backends import BackendOptions
    from edge.model import AgeGenderModel

    t0 = time.perf_counter()
    model = AgeGenderModel(path, backend, BackendOptions(threads=threads, warmup=0))
    load_ms = (time.perf_counter() - t0) * 1000
    s = model.input_size
    x = np.random.default_rng(0).integers(0, 255, (batch, s, s, 3), dtype=np.uint8)
    t0 = time.perf_counter()
    model.infer(x)
    first_ms = (time.perf_counter() - t0) * 1000
    stats = measure(lambda: model.infer(x), warmup=10, runs=runs, min_seconds=min_seconds)
    return {"model": Path(path).name, "backend": model.backend.name, "precision": model.contract.precision,
            "size_mb": round(Path(path).stat().st_size / 1e6, 2), "threads": threads, "batch": batch,
            "load_ms": round(load_ms, 2), "first_inference_ms": round(first_ms, 2),
            **{k: round(v, 4) for k, v in stats.as_dict().items()},
            "ms_per_face_p50": round(stats.p50_ms / batch, 4), "faces_per_second": round(stats.per_second * batch, 1),
            "peak_rss_mb": round(peak_rss_mb(), 1)}


def thread_counts() -> list[int]:
    cores = os.cpu_count() or 1
    return [t for t in (1, 2, 4) if t <= cores]
