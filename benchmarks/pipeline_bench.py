"""Pipeline benchmark: the full pipeline on generated clips (or a live camera), paced like a 30 FPS camera.

For every case it reports processed and camera FPS, dropped frames, per-stage p50/p95, end-to-end
latency, CPU use and peak memory, and the *compute floor*: the frame rate that the detector's and
the classifier's model-only times allow for that face count. The gap between the floor and the
process thread's measured capacity is what the pipeline adds (copies, conversions, locks, tracking).
"""
from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from benchmarks.clips import ClipSpec, FaceTrack, clip_faces, write_clip
from benchmarks.latency import measure
from benchmarks.pipeline_targets import fps_by_faces, is_default, target_rows
from benchmarks.system import ResourceMeter, machine_info

log = logging.getLogger(__name__)

CAMERA_FPS = 30.0


@dataclass
class PipelineCase:
    width: int
    height: int
    faces: int
    detector: str
    skip_frames: int = 0
    detect_every: int = 1
    threads: int = 0                    # classifier threads of this case (0: the settings' threads)
    variant: str = ""                   # "": the run's settings; else what this row changes ("skip", "detect", "threads")

    @property
    def resolution(self) -> str:
        return f"{self.width}x{self.height}"


@dataclass
class BenchSettings:
    model: str
    models_dirs: tuple[str, ...] = ()
    data: Optional[str] = None          # UTKFace folder for the clips' faces; None: the demo portrait
    seconds: float = 10.0
    threads: int = 0
    smoothing: float = 0.3
    workdir: Optional[Path] = None
    detect_size: int = 0                # detection on a copy with this long side (0: the full frame)
    detect_every: int = 1               # detection every N frames while all tracks are settled


class DrawOnlySink:
    """Stands in for a display: the pipeline draws every frame as it would for a screen, shows nothing."""

    needs_image = True

    def write(self, result) -> None:
        pass

    def close(self) -> None:
        pass


@dataclass
class _TrackLog:
    """Every processed frame's (track id, box) pairs, by frame index, for the tracking-quality score."""

    frames: dict = field(default_factory=dict)

    def __call__(self, result) -> None:
        self.frames[result.frame.index] = [(f.track_id, f.detection.box) for f in result.faces]


@dataclass
class _Keep:
    """Keeps a recent processed frame (every 30th) to measure the detector's model-only time on."""

    every: int = 30
    image: Optional[np.ndarray] = field(default=None, repr=False)
    seen: int = 0

    def __call__(self, result) -> None:
        self.seen += 1
        if self.image is None or self.seen % self.every == 0:
            self.image = result.frame.image


def load_classifier(s: BenchSettings, threads: int = 0):
    from edge.vision.backends import BackendOptions
    from edge.vision.model import AgeGenderModel

    return AgeGenderModel(s.model, options=BackendOptions(threads=threads or s.threads))


def build_analyzer(detector: str, s: BenchSettings, model=None):
    """A detector and the classifier; pass ``model`` to share one loaded classifier between analyzers."""
    from edge.vision.analyzer import FaceAnalyzer
    from edge.vision.detectors import create_detector

    return FaceAnalyzer(create_detector(detector, models_dirs=s.models_dirs), model or load_classifier(s),
                        detect_size=s.detect_size)


def _classifier_after_detection(analyzer, image: np.ndarray, crops: np.ndarray, repeats: int) -> float:
    """p50 ms of the classifier alone when each call follows a detection, as in the pipeline (the
    detector's working set has just left the caches), timing only the classifier."""
    times = []
    for _ in range(repeats):
        analyzer.detect(image)
        t = time.perf_counter()
        analyzer.model.infer(crops)
        times.append(time.perf_counter() - t)
    return 1000.0 * float(np.median(times))


def compute_floor(analyzer, image: np.ndarray, batch: int, detected_share: float = 1.0, classified_share: float = 1.0,
                  repeats: int = 15) -> dict:
    """Model-only times on one frame: detection (with its downscale) on the frame, and the classifier on a
    batch of ``batch`` crops (the pipeline's mean batch per call), in a warm loop and right after a
    detection. The floor counts detection on ``detected_share`` of the frames (``--detect-every``) and a
    classifier call on ``classified_share`` of them."""
    size = analyzer.model.input_size
    det = measure(lambda: analyzer.detect(image), warmup=2, runs=repeats, min_seconds=0.3)
    cls_ms = cold_ms = 0.0
    if batch:
        crops = np.random.default_rng(0).integers(0, 255, (batch, size, size, 3), dtype=np.uint8)
        cls_ms = measure(lambda: analyzer.model.infer(crops), warmup=2, runs=repeats, min_seconds=0.3).p50_ms
        cold_ms = _classifier_after_detection(analyzer, image, crops, repeats)
    total = detected_share * det.p50_ms + classified_share * cls_ms
    return {"detector_ms": round(det.p50_ms, 3), "classifier_batch": batch, "classifier_ms": round(cls_ms, 3),
            "classifier_after_detect_ms": round(cold_ms, 3), "detected_share": round(detected_share, 3),
            "classified_share": round(classified_share, 3), "models_ms": round(total, 3),
            "floor_fps": round(1000.0 / total, 1) if total > 0 else float("inf")}


def _run(source, analyzer, s: BenchSettings, skip_frames: int, duration: float = 0.0, detect_every: int = 1,
         track_log: Optional[_TrackLog] = None) -> dict:
    from edge.live.pipeline import Pipeline, PipelineConfig
    from edge.live.tracking import TrackerConfig

    keep = _Keep()
    cfg = PipelineConfig(duration=duration, tracker=TrackerConfig(smoothing=s.smoothing, skip_frames=skip_frames),
                         detect_every=detect_every)

    def on_frame(result) -> None:
        keep(result)
        if track_log is not None:
            track_log(result)

    meter = ResourceMeter().start()
    summary = Pipeline(source, analyzer, [DrawOnlySink()], cfg, on_frame=on_frame).run()
    summary["resources"] = asdict(meter.stop())
    if keep.image is not None:
        # the classifier's share of the floor: its calls per frame (fewer with track skipping or --detect-every)
        # at the mean batch of a call
        processed = max(summary["frames_processed"], 1)
        calls = summary["stages"].get("infer", {}).get("count", 0)
        batch = int(round(summary["classifications"] / calls)) if calls else 0
        detected_share = 1.0 - summary.get("detections_skipped", 0) / processed
        summary["floor"] = compute_floor(analyzer, keep.image, batch, detected_share, min(1.0, calls / processed))
        process_ms = summary["stages"].get("process", {}).get("mean_ms")
        if process_ms:
            models_ms = summary["floor"]["models_ms"]
            summary["capacity_fps"] = round(1000.0 / process_ms, 1)
            summary["overhead_ms"] = round(process_ms - models_ms, 3)
            reachable = min(summary["floor"]["floor_fps"], summary["camera_fps"] or CAMERA_FPS)
            summary["share_of_floor"] = round(summary["processed_fps"] / reachable, 3) if reachable else None
    return summary


def run_case(case: PipelineCase, s: BenchSettings, analyzer=None) -> dict:
    from edge.live.sources import open_source

    analyzer = analyzer or build_analyzer(case.detector, s)
    spec = ClipSpec(case.width, case.height, case.faces, frames=int(CAMERA_FPS * s.seconds), fps=CAMERA_FPS,
                    seed=case.faces)
    track_log = _TrackLog()
    faces = clip_faces(spec, s.data)
    with tempfile.TemporaryDirectory(dir=s.workdir) as tmp:
        clip = write_clip(spec, Path(tmp) / "clip.mp4", faces=faces)
        summary = _run(open_source(str(clip), realtime=True, fps=CAMERA_FPS), analyzer, s, case.skip_frames,
                       detect_every=case.detect_every, track_log=track_log)
    summary["case"] = {**asdict(case), "detector": analyzer.detector.name, "detect_size": analyzer.detect_size}
    if case.faces:
        summary["tracking"] = tracking_quality(spec, faces, track_log)
    log.info("%s %d faces %s %s: %.1f FPS processed, capacity %s, floor %s", case.resolution, case.faces,
             analyzer.detector.name, case.variant or "default", summary["processed_fps"], summary.get("capacity_fps"),
             summary.get("floor", {}).get("floor_fps"))
    return summary


def tracking_quality(spec: ClipSpec, faces: list[FaceTrack], track_log: _TrackLog) -> dict:
    """ID switches and visitors counted against the clip's known faces, over the processed frames."""
    from benchmarks.clips import truth_boxes
    from benchmarks.track_quality import score_tracks

    frames = [(truth_boxes(spec, faces, i), outputs) for i, outputs in sorted(track_log.frames.items())]
    return score_tracks(frames).as_dict()


def run_live(source_spec: str, detector: str, s: BenchSettings) -> dict:
    """The same measurements on a live camera or stream for ``s.seconds``."""
    from edge.live.sources import open_source

    analyzer = build_analyzer(detector, s)
    summary = _run(open_source(source_spec), analyzer, s, 0, duration=s.seconds)
    summary["case"] = {"source": source_spec, "detector": analyzer.detector.name}
    return summary


def track_jitter(s: BenchSettings, detector: str = "auto", frames: int = 150, faces: int = 3,
                 smoothing: float = 0.3, model=None) -> dict:
    """Std of each track's reported age over a clip (every frame processed), smoothing off vs on."""
    from edge.live.pipeline import Pipeline, PipelineConfig
    from edge.live.sources import open_source
    from edge.live.tracking import TrackerConfig, age_jitter

    spec = ClipSpec(640, 480, faces, frames=frames, fps=CAMERA_FPS, seed=7)
    out: dict = {"frames": frames, "faces": faces, "smoothing": smoothing}
    analyzer = build_analyzer(detector, s, model)
    with tempfile.TemporaryDirectory(dir=s.workdir) as tmp:
        clip = write_clip(spec, Path(tmp) / "clip.mp4", s.data)
        for label, weight in (("raw", 1.0), ("smoothed", smoothing)):
            ages: dict[int, list[float]] = {}

            def collect(result, ages=ages) -> None:
                for f in result.faces:
                    if f.prediction is not None:
                        ages.setdefault(f.track_id, []).append(f.prediction.age)

            Pipeline(open_source(str(clip)), analyzer, [],
                     PipelineConfig(tracker=TrackerConfig(smoothing=weight), detect_every=s.detect_every),
                     on_frame=collect).run()
            j = age_jitter(ages)
            out[label] = {"tracks": j.tracks, "age_std_mean": round(j.age_std_mean, 3)}
    return out


def crossing_count(s: BenchSettings, detector: str, model=None, intervals: Sequence[int] = (1,),
                   frames: int = 300) -> list[dict]:
    """Visitors counted on the demo clip, whose two faces cross and hide one another for about a second:
    distinct track ids per distinct face, at the run's detection interval and at ``intervals``."""
    from edge.live.demo import DemoSource
    from edge.live.pipeline import Pipeline, PipelineConfig
    from edge.live.tracking import TrackerConfig

    analyzer = build_analyzer(detector, s, model)
    out = []
    for every in dict.fromkeys((s.detect_every, *intervals)):
        ids: set[int] = set()
        cfg = PipelineConfig(tracker=TrackerConfig(smoothing=s.smoothing), detect_every=every)
        summary = Pipeline(DemoSource(frames=frames, faces=2), analyzer, [], cfg,
                           on_frame=lambda r: ids.update(f.track_id for f in r.faces)).run()
        out.append({"clip": "demo (2 faces that cross)", "detector": analyzer.detector.name, "detect_every": every,
                    "frames": summary["frames_processed"], "distinct_faces": 2, "visitors_counted": len(ids),
                    "visitors_per_distinct_face": round(len(ids) / 2, 3)})
    return out


def face_cost(cases: list[dict]) -> list[dict]:
    """How the process thread's time grows with faces per frame: a line fit per resolution and detector."""
    groups: dict[tuple, list[tuple[int, float]]] = {}
    for c in cases:
        k = c["case"]
        if not is_default(c) or "process" not in c["stages"]:
            continue
        groups.setdefault((f"{k['width']}x{k['height']}", k["detector"]), []).append(
            (k["faces"], c["stages"]["process"]["mean_ms"]))
    out = []
    for (res, det), pts in sorted(groups.items()):
        if len({n for n, _ in pts}) < 2:
            continue
        n, ms = np.array(pts, np.float64).T
        slope, intercept = np.polyfit(n, ms, 1)
        out.append({"resolution": res, "detector": det, "ms_per_extra_face": round(float(slope), 3),
                    "ms_with_no_face": round(float(intercept), 3)})
    return out


def batching_gain(model, faces: list[int]) -> list[dict]:
    """Model-only (a loaded AgeGenderModel): one batch of N crops against N single-crop calls."""
    size = model.input_size
    rng = np.random.default_rng(0)
    crop = rng.integers(0, 255, (1, size, size, 3), dtype=np.uint8)   # made once: not part of the timing
    one = measure(lambda: model.infer(crop), warmup=5, runs=50, min_seconds=0.3).p50_ms
    out = []
    for n in sorted({f for f in faces if f > 1}):
        crops = rng.integers(0, 255, (n, size, size, 3), dtype=np.uint8)
        batched = measure(lambda: model.infer(crops), warmup=5, runs=50, min_seconds=0.3).p50_ms
        out.append({"faces": n, "batched_ms": round(batched, 3), "one_by_one_ms": round(n * one, 3),
                    "saved_percent": round(100 * (1 - batched / (n * one)), 1)})
    return out


def skipping_gain(cases: list[dict]) -> list[dict]:
    """Track skipping: the same clip with and without re-classifying stable tracks every frame."""
    base = {(c["case"]["width"], c["case"]["height"], c["case"]["faces"], c["case"]["detector"]): c
            for c in cases if is_default(c)}
    out = []
    for c in cases:
        k = c["case"]
        if k.get("variant") != "skip":
            continue
        b = base.get((k["width"], k["height"], k["faces"], k["detector"]))
        if b is None:
            continue
        out.append({"resolution": f"{k['width']}x{k['height']}", "faces": k["faces"], "detector": k["detector"],
                    "skip_frames": k["skip_frames"],
                    "process_ms": b["stages"]["process"]["mean_ms"], "process_ms_skipping": c["stages"]["process"]["mean_ms"],
                    "classifications_per_frame": round(b["classifications"] / max(b["frames_processed"], 1), 2),
                    "classifications_per_frame_skipping": round(c["classifications"] / max(c["frames_processed"], 1), 2),
                    "saved_percent": round(100 * (1 - c["stages"]["process"]["mean_ms"] / b["stages"]["process"]["mean_ms"]), 1)})
    return out


def pipeline_report(s: BenchSettings, sizes: list[tuple[int, int]], faces: list[int], detectors: list[str],
                    skip_frames: int = 2, jitter_frames: int = 150, compare_detect_every: int = 1,
                    detect_study_faces: int = 0, thread_counts: Sequence[int] = (), crossing_frames: int = 300) -> dict:
    """Every detector at every size and face count with the run's settings (``s``), then the variants:
    track skipping, detection every ``compare_detect_every`` frames (the first detector at every face count,
    the others at the most faces) and the classifier's thread counts (first detector, first size, most faces)."""
    from edge.errors import AgeGenderError
    from edge.progress import progress

    cases, used = [], []
    model = load_classifier(s)   # one classifier for every detector, the batching and the jitter runs
    most = max(faces)
    for det in detectors:
        try:
            analyzer = build_analyzer(det, s, model)
        except AgeGenderError as e:
            log.warning("detector %s skipped: %s", det, e)
            continue
        used.append(det)
        grid = [PipelineCase(w, h, n, det, detect_every=s.detect_every) for (w, h) in sizes for n in faces]
        if skip_frames and most > 0:
            grid.append(PipelineCase(*sizes[0], most, det, skip_frames, s.detect_every, variant="skip"))
        if compare_detect_every != s.detect_every:
            grid += [PipelineCase(w, h, n, det, detect_every=compare_detect_every, variant="detect")
                     for (w, h) in sizes for n in faces if n > 0 and (n == most or len(used) == 1)]
        for case in progress(grid, total=len(grid), desc=f"pipeline {det}", unit="case"):
            cases.append(run_case(case, s, analyzer))
        for t in thread_counts if len(used) == 1 and most > 0 else ():
            threaded = build_analyzer(det, s, load_classifier(s, t))    # beside capture and output threads
            cases.append(run_case(PipelineCase(*sizes[0], most, det, detect_every=s.detect_every, threads=t,
                                               variant="threads"), s, threaded))
    if not used:
        raise AgeGenderError(f"none of the detectors {', '.join(detectors)} could be created")
    study = None
    if detect_study_faces and s.data:
        from benchmarks.detect_size import detect_size_study

        study = detect_size_study(build_analyzer(used[0], s, model), s.data, detect_study_faces)
        study["detector"] = used[0]
    report = {"kind": "pipeline", "machine": machine_info(), "model": Path(s.model).name, "settings": asdict(s) | {
                  "workdir": None, "sizes": [f"{w}x{h}" for w, h in sizes], "faces": faces, "detectors": detectors,
                  "camera_fps": CAMERA_FPS, "skip_frames": skip_frames, "compare_detect_every": compare_detect_every},
              "cases": cases, "detection_size": study, "face_cost": face_cost(cases),
              "batching": batching_gain(model, faces), "skipping": skipping_gain(cases),
              "jitter": track_jitter(s, used[0], frames=jitter_frames, smoothing=s.smoothing, model=model),
              "crossing": crossing_count(s, used[0], model, (compare_detect_every,), crossing_frames)
              if crossing_frames else []}
    return report | {"targets": target_rows(report), "fps_by_faces": fps_by_faces(report)}
