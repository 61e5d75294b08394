"""`agegender tune`: choose the live settings on the device itself, by measurement.

It runs the real pipeline for a few seconds per candidate on the user's source (or the demo clip) and keeps
the best setting that
- keeps the faces the user needs: a detection size is a candidate only if the smallest face to detect
  (``min_face``, frame pixels) still appears at least ``detector_min_px`` wide to the detector, the width above
  which the detector finds at least 95% of faces in the pipeline report's detection-size study;
- keeps up with the camera with headroom: a mean processing capacity of at least ``fps * (1 + headroom)`` *and*
  a p95 per-frame processing time of at most ``1 / (fps * (1 + headroom))``, so that the frames that run the
  detector do not fall behind either (they are the ones that drop frames on a slow core).

Among the settings that pass, the preference is: the largest detection size (small and far faces, better
landmarks), then the smallest detection interval, then the fewest classifier threads (CPU left for the rest),
then the first model file listed. When none passes, the one closest to passing (on its worse
criterion) is chosen and the result says so.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Optional, Sequence

from edge.live import defaults

log = logging.getLogger(__name__)

RECALL_KEPT = 0.95


@dataclass
class TuneRequest:
    source: str = "demo"
    fps: float = 0.0                  # the camera's frame rate; 0: the source's own (the demo: 30)
    faces: int = 2                    # faces in view to plan for (the demo clip draws this many)
    min_face: float = 64.0            # smallest face width to detect, frame pixels
    headroom: float = 0.3
    seconds: float = 3.0              # measured per candidate
    sizes: tuple[int, ...] = (640, 480, 320, 240)
    everies: tuple[int, ...] = (3, 4, 6)
    threads: tuple[int, ...] = (1, 2)
    models: tuple[str, ...] = ("default",)


@dataclass
class Trial:
    detect_size: int
    detect_every: int
    threads: int
    model: str
    frames: int = 0
    capacity_fps: float = 0.0         # 1000 / mean processing time per frame
    process_p95_ms: float = 0.0
    detect_p50_ms: float = 0.0
    faces_per_frame: float = 0.0
    passes: bool = False
    note: str = ""


@dataclass
class TuneResult:
    request: TuneRequest
    frame_size: tuple[int, int]
    target_fps: float
    detector_min_px: float
    allowed_sizes: list[int]
    trials: list[Trial] = field(default_factory=list)
    chosen: Optional[Trial] = None
    seconds: float = 0.0

    def as_dict(self) -> dict:
        d = asdict(self)
        d["chosen"] = None if self.chosen is None else asdict(self.chosen)
        return d

    def summary(self) -> str:
        c = self.chosen
        if c is None:
            return "tune: nothing measured"
        verdict = "meets" if c.passes else "MISSES"
        return (f"detect_size {c.detect_size}, detect_every {c.detect_every}, threads {c.threads}, model {c.model}: "
                f"{c.capacity_fps:.0f} FPS capacity, p95 {c.process_p95_ms:.1f} ms per frame with "
                f"{c.faces_per_frame:.1f} faces ({verdict} {self.target_fps:.0f} FPS = camera "
                f"{self.target_fps / (1 + self.request.headroom):.0f} FPS + {100 * self.request.headroom:.0f}%); "
                f"keeps faces from {self.request.min_face:.0f} px wide in {self.frame_size[0]}x{self.frame_size[1]}")


def detector_min_px(report: Optional[Path] = None) -> float:
    """The smallest face width *as the detector sees it* above which the detection-size study of the pipeline
    report found at least 95% of faces, in every row; the measured default when the report is not there."""
    path = report or Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "pipeline.json"
    try:
        rows = json.loads(path.read_text())["detection_size"]["rows"]
    except (OSError, KeyError, ValueError):
        return defaults.DETECTOR_MIN_FACE_PX
    points = []
    for r in rows:
        if r.get("detect_size") in (None, "full") or r.get("faces", 0) < 50 or r.get("recall") is None:
            continue
        w, h = (int(v) for v in r["resolution"].split("x"))
        long_side = max(w, h)
        size = min(int(r["detect_size"]), long_side)
        low = int(str(r["face_width"]).split("-")[0].rstrip("+"))
        points.append((low * size / long_side, r["recall"]))
    if not points:
        return defaults.DETECTOR_MIN_FACE_PX
    failing = [w for w, recall in points if recall < RECALL_KEPT]
    above = [w for w, _ in points if not failing or w > max(failing)]
    return float(min(above)) if above else defaults.DETECTOR_MIN_FACE_PX


def allowed_sizes(sizes: Sequence[int], frame_size: tuple[int, int], min_face: float, min_px: float) -> list[int]:
    """Detection sizes (0: the full frame) at which a ``min_face`` face is still ``min_px`` wide to the detector."""
    long_side = max(frame_size)
    out = []
    for s in sizes:
        scale = 1.0 if s <= 0 or s >= long_side else s / long_side
        if min_face * scale >= min_px:
            out.append(min(s, long_side) if s > 0 else long_side)
    return sorted(set(out), reverse=True)


def _measure(build_analyzer: Callable[[Trial], object], open_source: Callable[[], object], trial: Trial,
             seconds: float) -> Trial:
    from edge.live.pipeline import Pipeline, PipelineConfig

    analyzer = build_analyzer(trial)
    pipeline = Pipeline(open_source(), analyzer, [], PipelineConfig(duration=seconds, detect_every=trial.detect_every))
    summary = pipeline.run()
    stages = summary.get("stages", {})
    process = stages.get("process", {})
    trial.frames = int(summary.get("frames_processed", 0))
    trial.capacity_fps = 1000.0 / process["mean_ms"] if process.get("mean_ms") else 0.0
    trial.process_p95_ms = float(process.get("p95_ms", 0.0))
    trial.detect_p50_ms = float(stages.get("detect", {}).get("p50_ms", 0.0))
    trial.faces_per_frame = float(summary.get("faces_per_frame", 0.0))
    return trial


def tune(request: TuneRequest, build_analyzer: Callable[[Trial], object], open_source: Callable[[], object],
         frame_size: tuple[int, int], source_fps: float, min_px: Optional[float] = None) -> TuneResult:
    """Measure candidates in preference order and stop at the first that passes (see the module text)."""
    t0 = time.monotonic()
    fps = request.fps or source_fps or 30.0
    target = fps * (1 + request.headroom)
    budget_ms = 1000.0 / target
    min_px = detector_min_px() if min_px is None else min_px
    sizes = allowed_sizes(request.sizes, frame_size, request.min_face, min_px)
    result = TuneResult(request, frame_size, target, min_px, sizes)
    if not sizes:
        log.warning("no detection size keeps faces of %.0f px at %dx%d (the detector needs about %.0f px): "
                    "measuring the full frame", request.min_face, *frame_size, min_px)
        sizes = [max(frame_size)]
        result.allowed_sizes = sizes
    for model in request.models:
        for size in sizes:
            for threads in request.threads:
                for every in request.everies:
                    trial = _measure(build_analyzer, open_source, Trial(size, every, threads, model), request.seconds)
                    trial.passes = trial.capacity_fps >= target and trial.process_p95_ms <= budget_ms
                    if trial.process_p95_ms > budget_ms:
                        trial.note = f"p95 {trial.process_p95_ms:.1f} ms > {budget_ms:.1f} ms"
                    elif trial.capacity_fps < target:
                        trial.note = f"capacity {trial.capacity_fps:.0f} < {target:.0f} FPS"
                    log.info("tune: size %d, every %d, %d thread(s), %s: %.0f FPS, p95 %.1f ms%s", size, every,
                             threads, model, trial.capacity_fps, trial.process_p95_ms,
                             "" if trial.passes else f" ({trial.note})")
                    result.trials.append(trial)
                    if trial.passes:
                        result.chosen = trial
                        result.seconds = time.monotonic() - t0
                        return result
                    if trial.process_p95_ms > budget_ms:
                        break    # the detection frames are too slow: a longer interval does not speed them up
    # nothing passed: the setting closest to passing on its worse criterion
    result.chosen = min(result.trials, key=lambda t: max(target / max(t.capacity_fps, 1e-6),
                                                         t.process_p95_ms / budget_ms), default=None)
    result.seconds = time.monotonic() - t0
    return result
