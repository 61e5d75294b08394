"""The real-time pipeline: the only place with threads, queues and a stop event.

capture thread  -> newest-frame slot (live sources: stale frames are dropped and counted)
                   or a small blocking queue (files and folders: every frame is processed)
process thread  -> detect, align, one batched inference for all faces, track and smooth
output thread   -> draw once, then every sink (JSON lines, window, video, HTTP, analytics)
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Protocol, Sequence

import numpy as np

from edge.vision.analyzer import FaceAnalyzer, StageTimes
from edge.errors import AgeGenderError
from edge.live.defaults import DETECT_EVERY
from edge.live.metrics import RunMetrics
from edge.live.sources import ReconnectingSource, Source, SourceEnded
from edge.live.tracking import Tracker, TrackerConfig, apply_gender_band
from edge.age_gate import AgeGate, LookQuality, TrackGates, sharpness, yaw_proxy
from edge.types import Face, Frame

log = logging.getLogger(__name__)


@dataclass
class FrameResult:
    frame: Frame
    faces: list[Face]
    processed_at: float
    annotated: Optional[np.ndarray] = None

    def to_json(self, with_race: bool = False) -> dict:
        return {"timestamp": round(self.frame.timestamp, 3), "frame": self.frame.index,
                "faces": [f.to_json(with_race) for f in self.faces]}


class Sink(Protocol):
    needs_image: bool

    def write(self, result: FrameResult) -> None: ...

    def close(self) -> None: ...


@dataclass
class PipelineConfig:
    max_frames: int = 0            # 0: no limit
    duration: float = 0.0          # seconds; 0: no limit
    with_race: bool = False
    gender_band: tuple[float, float] = (0.35, 0.65)
    tracker: TrackerConfig = field(default_factory=TrackerConfig)
    output_queue: int = 4
    read_timeout: float = 1.0
    draw_status: bool = True
    blur_faces: bool = False
    detect_every: int = DETECT_EVERY   # detect at most every N frames while all tracks are settled (1: every frame)
    gate: Optional[Any] = None     # edge.age_gate.GateSettings: decide every person "adult" / "ask_id" once


class LatestFrameSlot:
    """Holds only the newest frame; replacing an unread frame counts as a drop."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._frame: Optional[Frame] = None
        self.dropped = 0
        self.closed = False

    def put(self, frame: Frame) -> None:
        with self._cond:
            if self._frame is not None:
                self.dropped += 1
            self._frame = frame
            self._cond.notify()

    def get(self, timeout: float) -> Optional[Frame]:
        with self._cond:
            if self._frame is None and not self.closed:
                self._cond.wait(timeout)
            frame, self._frame = self._frame, None
            return frame

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()


def blur_faces(image: np.ndarray, faces: Sequence[Face]) -> None:
    """Pixelate every face box in place (privacy mode)."""
    import cv2

    h, w = image.shape[:2]
    for f in faces:
        x1, y1, x2, y2 = (int(v) for v in f.detection.box)
        x1, y1, x2, y2 = max(x1, 0), max(y1, 0), min(x2, w), min(y2, h)
        if x2 - x1 < 2 or y2 - y1 < 2:
            continue
        roi = image[y1:y2, x1:x2]
        small = cv2.resize(roi, (max((x2 - x1) // 12, 1), max((y2 - y1) // 12, 1)), interpolation=cv2.INTER_AREA)
        image[y1:y2, x1:x2] = cv2.resize(small, (x2 - x1, y2 - y1), interpolation=cv2.INTER_NEAREST)


class Pipeline:
    def __init__(self, source: Source, analyzer: FaceAnalyzer, sinks: Sequence[Sink] = (),
                 config: Optional[PipelineConfig] = None, metrics: Optional[RunMetrics] = None,
                 on_frame: Optional[Callable[[FrameResult], None]] = None):
        self.config = config or PipelineConfig()
        self.stop_event = threading.Event()
        self.source = ReconnectingSource(source, stop_event=self.stop_event) if source.live and not isinstance(
            source, ReconnectingSource) else source
        self.analyzer = analyzer
        self.sinks = list(sinks)
        self.metrics = metrics or RunMetrics()
        self.tracker = Tracker(self.config.tracker)
        self.on_frame = on_frame
        self._slot = LatestFrameSlot()
        self._frames: queue.Queue = queue.Queue(maxsize=2)
        self._results: queue.Queue = queue.Queue(maxsize=max(1, self.config.output_queue))
        self._capture_done = threading.Event()
        self._process_done = threading.Event()
        self._errors: list[BaseException] = []
        self._threads: list[threading.Thread] = []
        self._since_detection = 0
        self.end_reason = ""
        self.gates = None
        if self.config.gate is not None:
            model = analyzer.model
            self.gates = TrackGates(AgeGate(self.config.gate, model.contract, str(getattr(model, "path", "model"))))

    # ------------------------------------------------------------------ control
    def stop(self, reason: str = "stopped") -> None:
        if not self.stop_event.is_set():
            self.end_reason = self.end_reason or reason
            self.stop_event.set()

    def _limits_reached(self) -> bool:
        cfg = self.config
        if cfg.max_frames and self.metrics.frames_processed >= cfg.max_frames:
            self.end_reason = self.end_reason or f"--max-frames {cfg.max_frames} reached"
            return True
        if cfg.duration and time.monotonic() - self.metrics.started >= cfg.duration:
            self.end_reason = self.end_reason or f"--duration {cfg.duration:g} s reached"
            return True
        return False

    # ------------------------------------------------------------------ threads
    def _capture_loop(self) -> None:
        live = self.source.live
        try:
            while not self.stop_event.is_set():
                if self._limits_reached():
                    break
                t = time.perf_counter()
                try:
                    frame = self.source.read(self.config.read_timeout)
                except SourceEnded:
                    self.end_reason = self.end_reason or "end of source"
                    break
                if frame is None:
                    continue
                self.metrics.add_time("capture_wait", time.perf_counter() - t)
                if frame.decode_s:
                    self.metrics.add_time("decode", frame.decode_s)
                self.metrics.count("frames_captured")
                if live:
                    before = self._slot.dropped
                    self._slot.put(frame)
                    if self._slot.dropped != before:
                        self.metrics.count("frames_dropped")
                else:
                    while not self.stop_event.is_set():
                        try:
                            self._frames.put(frame, timeout=0.2)
                            break
                        except queue.Full:
                            continue
        except BaseException as e:  # noqa: BLE001 - reported by run()
            self._errors.append(e)
            self.stop("capture failed")
        finally:
            if isinstance(self.source, ReconnectingSource):
                self.metrics.reconnects = self.source.reconnects
                self.metrics.stalls = self.source.stalls
            self._capture_done.set()
            self._slot.close()

    def _next_frame(self) -> Optional[Frame]:
        if self.source.live:
            return self._slot.get(0.2)
        try:
            return self._frames.get(timeout=0.2)
        except queue.Empty:
            return None

    def process(self, frame: Frame) -> FrameResult:
        """Detect, classify (batched) and track one frame."""
        times = StageTimes()
        image = frame.image
        detected = self._detect_now()
        if detected:
            det_image = frame.lores if frame.lores is not None else image
            dets = self.analyzer.detect(det_image, times)
            if det_image is not image:
                sx, sy = image.shape[1] / det_image.shape[1], image.shape[0] / det_image.shape[0]
                dets = [d.scaled(sx, sy) for d in dets]
            t = time.perf_counter()
            pairs = self.tracker.update(dets, frame.captured_at)
            self._since_detection = 0
        else:
            t = time.perf_counter()
            pairs = self.tracker.carry(frame.captured_at)
            self._since_detection += 1
        track_time = time.perf_counter() - t
        # a carried position is a prediction: classify it only when the track has nothing yet
        todo = [i for i, (_, tr) in enumerate(pairs) if self.tracker.needs_classification(tr)
                and (detected or tr.last_prediction is None)]
        preds = self.analyzer.classify(image, [pairs[i][0] for i in todo], times) if todo else []
        t = time.perf_counter()
        by_index = dict(zip(todo, preds))
        faces = []
        cfg = self.config
        labels = self.analyzer.model.contract.gender_labels
        for i, (det, track) in enumerate(pairs):
            if i in by_index:
                pred = self.tracker.observe(track, by_index[i])
            else:
                pred = self.tracker.reuse(track)
            if pred is not None:
                pred = apply_gender_band(pred, cfg.gender_band, labels)
            face = Face(det, pred, track.track_id)
            if self.gates is not None:   # every face carries the age check: pending until its person is decided
                face.gate = self._gate(track.track_id, det, by_index.get(i), image) if pred is not None \
                    else self.gates.pending(track.track_id)
            faces.append(face)
        if self.gates is not None:
            self.gates.forget(t.track_id for t in self.tracker.ended)
        track_time += time.perf_counter() - t
        m = self.metrics
        if detected:
            m.add_time("detect", times.detect)
        else:
            m.count("detections_skipped")
        if todo:
            m.add_time("align", times.align)
            m.add_time("infer", times.infer)
        m.add_time("track", track_time)
        m.count("classifications", len(todo))
        m.count("classifications_skipped", len(pairs) - len(todo))
        return FrameResult(frame, faces, time.monotonic())

    def _gate(self, track_id: int, det, look, image: np.ndarray):
        """The track's age-check decision; a newly classified frame (``look``, unsmoothed) adds evidence."""
        if look is None:
            current = self.gates.current(track_id)
            if current is not None:
                return current
            return self.gates.pending(track_id)
        settings = self.gates.gate.settings
        quality = LookQuality(face_width=det.width, yaw=yaw_proxy(det.named_landmarks()))
        if settings.min_sharpness > 0:
            x1, y1, x2, y2 = (int(round(v)) for v in det.box)
            crop = image[max(y1, 0):max(y2, 0), max(x1, 0):max(x2, 0)]
            quality.sharpness = sharpness(crop[..., ::-1]) if crop.size else 0.0   # BGR frame -> RGB, as measured
        decision = self.gates.observe(track_id, look.age, look.age_dist, quality)
        if decision.final and self.gates.newly_decided(track_id):
            self.metrics.count("age_checks_" + decision.gate)
        return decision

    def _detect_now(self) -> bool:
        """Detect on this frame unless --detect-every allows a skip: every N-th frame, and on every
        frame while a track is new or lost (or there is none)."""
        every = self.config.detect_every
        return every <= 1 or self._since_detection + 1 >= every or not self.tracker.settled()

    def _process_loop(self) -> None:
        try:
            while not self.stop_event.is_set():
                frame = self._next_frame()
                if frame is None:
                    if self._capture_done.is_set() and (self.source.live or self._frames.empty()):
                        break
                    continue
                t = time.perf_counter()
                try:
                    result = self.process(frame)
                except AgeGenderError as e:
                    self.metrics.count("frame_errors")
                    log.error("frame %d: %s", frame.index, e)
                    continue
                self.metrics.add_time("process", time.perf_counter() - t)
                self.metrics.frame_done(len(result.faces))
                if self.config.max_frames and self.metrics.frames_processed >= self.config.max_frames:
                    self.stop(f"--max-frames {self.config.max_frames} reached")
                try:
                    self._results.put_nowait(result)
                except queue.Full:
                    try:
                        self._results.get_nowait()   # drop the oldest result, keep the newest
                        self.metrics.count("outputs_dropped")
                    except queue.Empty:
                        pass
                    self._results.put_nowait(result)
        except BaseException as e:  # noqa: BLE001
            self._errors.append(e)
            self.stop("processing failed")
        finally:
            self._process_done.set()

    def _output_loop(self) -> None:
        from edge.vision.draw import draw_faces

        need_image = any(getattr(s, "needs_image", False) for s in self.sinks)
        status_figures, status_at = ("", ""), float("-inf")
        while True:
            try:
                result = self._results.get(timeout=0.2)
            except queue.Empty:
                if self._process_done.is_set() or (self.stop_event.is_set() and self._process_done.is_set()):
                    break
                continue
            if need_image:
                t = time.perf_counter()
                image = result.frame.image.copy()
                if self.config.blur_faces:
                    blur_faces(image, result.faces)
                status = None
                if self.config.draw_status:
                    # FPS and the end-to-end p50 (a percentile over the stage window) refresh once a second,
                    # not per frame; the face count is the frame's own
                    if t - status_at >= 1.0:
                        status_figures, status_at = (f"{self.metrics.processed_fps():.1f} FPS",
                                                     f"e2e {self.metrics.stage('end_to_end').p50_ms:.0f} ms"), t
                    status = f"{status_figures[0]}  faces {len(result.faces)}  {status_figures[1]}"
                result.annotated = draw_faces(image, result.faces, self.config.with_race, status)
                self.metrics.add_time("draw", time.perf_counter() - t)
            t = time.perf_counter()
            for sink in self.sinks:
                try:
                    sink.write(result)
                except Exception as e:  # noqa: BLE001 - a failing sink must not stop the pipeline
                    self.metrics.count("frame_errors")
                    log.error("output %s failed: %s", type(sink).__name__, e)
            now = time.monotonic()
            self.metrics.add_time("output", time.perf_counter() - t)
            self.metrics.add_time("end_to_end", now - result.frame.captured_at)
            if self.on_frame is not None:
                self.on_frame(result)

    # ------------------------------------------------------------------ run
    def run(self) -> dict:
        """Run until the source ends, a limit is reached, or stop() is called; returns the summary."""
        self.source.open()
        self.metrics.started = time.monotonic()
        self._threads = [threading.Thread(target=self._capture_loop, name="capture", daemon=True),
                         threading.Thread(target=self._process_loop, name="process", daemon=True),
                         threading.Thread(target=self._output_loop, name="output", daemon=True)]
        for t in self._threads:
            t.start()
        try:
            while any(t.is_alive() for t in self._threads):
                for t in self._threads:
                    t.join(timeout=0.2)
        finally:
            self.stop(self.end_reason or "finished")
            for t in self._threads:
                t.join(timeout=5)
            self.source.close()
            for sink in self.sinks:
                try:
                    sink.close()
                except Exception as e:  # noqa: BLE001
                    log.error("closing output %s failed: %s", type(sink).__name__, e)
        if isinstance(self.source, ReconnectingSource):
            self.metrics.reconnects = self.source.reconnects
            self.metrics.stalls = self.source.stalls
        if self._errors:
            err = self._errors[0]
            if isinstance(err, AgeGenderError):
                raise err
            raise AgeGenderError(f"pipeline failed: {type(err).__name__}: {err}") from err
        summary = self.metrics.snapshot()
        summary["end_reason"] = self.end_reason or "finished"
        return summary
