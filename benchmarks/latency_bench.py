"""Model latency: backend x model file x threads x batch, with load and first-inference times apart
(as TFLite's benchmark_model reports them) and the process's peak memory."""
from __future__ import annotations

import importlib.util
import logging
import os
import time
from pathlib import Path

import numpy as np

from benchmarks.latency import measure
from benchmarks.system import ResourceMeter
from edge.vision.model import model_file_bytes

log = logging.getLogger(__name__)

# Which installed backends can run a file of each kind (OpenVINO reads ONNX directly).
RUNNERS = {".tflite": ("tflite",), ".onnx": ("onnx", "openvino"), ".xml": ("openvino",)}
RUNTIME_MODULES = {"tflite": ("ai_edge_litert", "tflite_runtime"), "onnx": ("onnxruntime",), "openvino": ("openvino",)}


def available_backends(path: str | Path) -> list[str]:
    names = RUNNERS.get(Path(path).suffix.lower(), ())
    return [n for n in names if any(importlib.util.find_spec(m) is not None for m in RUNTIME_MODULES[n])]


def thread_counts() -> list[int]:
    cores = os.cpu_count() or 1
    return [t for t in (1, 2, 4) if t <= cores]


def bench_model(path: str, threads: int, batch: int, runs: int = 100, min_seconds: float = 1.0,
                backend: str = "auto") -> dict:
    from edge.vision.backends import BackendOptions
    from edge.vision.model import AgeGenderModel

    meter = ResourceMeter().start()
    t0 = time.perf_counter()
    model = AgeGenderModel(path, backend, BackendOptions(threads=threads, warmup=0))
    load_ms = (time.perf_counter() - t0) * 1000
    s = model.input_size
    x = np.random.default_rng(0).integers(0, 255, (batch, s, s, 3), dtype=np.uint8)
    t0 = time.perf_counter()
    model.infer(x)
    first_ms = (time.perf_counter() - t0) * 1000
    stats = measure(lambda: model.infer(x), warmup=10, runs=runs, min_seconds=min_seconds)
    use = meter.stop()
    size = model_file_bytes(path)
    return {"model": Path(path).name, "backend": model.backend.name, "precision": model.contract.precision,
            "size_mb": round(size / 1e6, 2), "threads": threads, "batch": batch,
            "load_ms": round(load_ms, 2), "first_inference_ms": round(first_ms, 2),
            **{k: round(v, 4) for k, v in stats.as_dict().items()},
            "ms_per_face_p50": round(stats.p50_ms / batch, 4), "faces_per_second": round(stats.per_second * batch, 1),
            "cpu_percent": use.cpu_percent, "peak_rss_mb": use.peak_rss_mb}


def latency_rows(models: list[str], threads: list[int], batches: list[int], runs: int, min_seconds: float) -> list[dict]:
    from edge.errors import AgeGenderError

    from edge.progress import progress

    rows = []
    for model in progress(models, total=len(models), desc="bench latency", unit="model"):
        backends = available_backends(model)
        if not backends:
            log.warning("%s: no installed runtime can run it; skipped", model)
        for backend in backends:
            for t in threads:
                for b in batches:
                    try:
                        row = bench_model(model, t, b, runs, min_seconds, backend)
                    except AgeGenderError as e:
                        log.warning("%s on %s: %s", Path(model).name, backend, e)
                        break
                    rows.append(row)
                    log.info("%s %s t=%d b=%d: p50 %.3f ms (%.3f ms/face)", row["model"], backend, t, b,
                             row["p50_ms"], row["ms_per_face_p50"])
    return rows
