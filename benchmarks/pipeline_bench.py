"""Pipeline benchmark: the full pipeline on generated clips, paced like a 30 FPS camera.

Reports processed FPS, dropped frames, per-stage p50/p95, end-to-end latency, and the age
jitter of tracks with and without temporal smoothing.
"""
from __future__ import annotations

import json
import logging
import platform
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from benchmarks.clips import ClipSpec, write_clip

log = logging.getLogger(__name__)


@dataclass
class PipelineCase:
    width: int
    height: int
    faces: int
    detector: str


def run_case(case: PipelineCase, model_path: str, models_dirs: tuple[str, ...], data: Optional[str],
             seconds: float = 10.0, threads: int = 0, smoothing: float = 0.3, skip_frames: int = 0,
             workdir: Optional[Path] = None) -> dict:
    from edge.analyzer import FaceAnalyzer
    from edge.backends import BackendOptions
    from edge.detectors import create_detector
    from edge.model import AgeGenderModel
    from edge.pipeline import Pipeline, PipelineConfig
    from edge.sources import open_source
    from edge.tracking import TrackerConfig

    spec = ClipSpec(case.width, case.height, case.faces, frames=int(30 * seconds), fps=30.0, seed=case.faces)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        clip = write_clip(spec, Path(tmp) / "clip.mp4", data)
        detector = create_detector(case.detector, models_dirs=models_dirs)
        analyzer = FaceAnalyzer(detector, AgeGenderModel(model_path, options=BackendOptions(threads=threads)))
        cfg = PipelineConfig(tracker=TrackerConfig(smoothing=smoothing, skip_frames=skip_frames))
        summary = Pipeline(open_source(str(clip), realtime=True, fps=30.0), analyzer, [], cfg).run()
    summary["case"] = case.__dict__
    return summary


def track_jitter(model_path: str, models_dirs: tuple[str, ...], data: Optional[str], detector: str = "auto",
                 frames: int = 150, faces: int = 3, workdir: Optional[Path] = None) -> dict:
    """Std of each track's reported age over a clip (every frame processed), smoothing on vs off."""
    from edge.analyzer import FaceAnalyzer
    from edge.detectors import create_detector
    from edge.model import AgeGenderModel
    from edge.pipeline import Pipeline, PipelineConfig
    from edge.sources import open_source
    from edge.tracking import TrackerConfig, age_jitter

    spec = ClipSpec(640, 480, faces, frames=frames, fps=30.0, seed=7)
    out = {}
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        clip = write_clip(spec, Path(tmp) / "clip.mp4", data)
        analyzer = FaceAnalyzer(create_detector(detector, models_dirs=models_dirs), AgeGenderModel(model_path))
        for label, smoothing in (("raw", 1.0), ("smoothed", 0.3)):
            ages: dict[int, list[float]] = {}

            class Collect:
                needs_image = False

                def write(self, r):
                    for f in r.faces:
                        if f.prediction is not None:
                            ages.setdefault(f.track_id, []).append(f.prediction.age)

                def close(self):
                    pass

            Pipeline(open_source(str(clip)), analyzer, [Collect()],
                     PipelineConfig(tracker=TrackerConfig(smoothing=smoothing))).run()
            j = age_jitter(ages)
            out[label] = {"tracks": j.tracks, "age_std_mean": round(j.age_std_mean, 3)}
    return out


def machine_info() -> dict:
    import os

    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "arch": platform.machine(), "os": platform.platform(),
            "python": platform.python_version()}


def main_pipeline_report(model: str, models_dirs: tuple[str, ...], data: Optional[str], out: Path,
                         sizes=((640, 480),), faces=(1, 3), detector: str = "auto", seconds: float = 10.0) -> dict:
    results = [run_case(PipelineCase(w, h, n, detector), model, models_dirs, data, seconds)
               for (w, h) in sizes for n in faces]
    report = {"machine": machine_info(), "model": model, "cases": results,
              "jitter": track_jitter(model, models_dirs, data, detector)}
    out.mkdir(parents=True, exist_ok=True)
    (out / "pipeline.json").write_text(json.dumps(report, indent=2))
    return report
