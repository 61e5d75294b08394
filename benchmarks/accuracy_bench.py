"""`agegender bench accuracy`: `evaluate` over model files and data sets, collected in one table."""
from __future__ import annotations

import logging
import time
from pathlib import Path

from benchmarks.system import machine_info
from edge.vision.model import model_file_bytes

log = logging.getLogger(__name__)


def parse_dataset(spec: str) -> tuple[str, str]:
    """``DIR`` or ``DIR,SPLIT`` (default split: test)."""
    path, _, split = spec.partition(",")
    return path, split or "test"


def accuracy_report(models: list[str], datasets: list[str], limit: int = 0) -> dict:
    from edge.progress import progress
    from train.evaluate import safe_summary

    rows = []
    for model in progress(models, total=len(models), desc="bench accuracy", unit="model"):
        p = Path(model)
        size = model_file_bytes(p)
        for spec in datasets:
            data, split = parse_dataset(spec)
            t = time.perf_counter()
            s = safe_summary(model, data, split, limit=limit)
            s.pop("framing", None)
            rows.append({"model": p.name, "format": p.suffix.lstrip("."), "size_mb": round(size / 1e6, 2),
                         "data": Path(data).name, "split": split, **s, "seconds": round(time.perf_counter() - t, 1)})
            log.info("%s on %s/%s: %s", p.name, Path(data).name, split, s)
    return {"kind": "accuracy", "machine": machine_info(), "settings": {"models": models, "datasets": datasets,
                                                                        "limit": limit}, "rows": rows}
