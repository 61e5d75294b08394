"""IoU tracking with per-track temporal smoothing of age and gender.

Age is an exponential moving average weighted by confidence (a narrow age interval counts
more); gender is an EMA of log-odds, so a confident frame moves it more than an unsure one.
A stable track may skip re-classification for a few frames to save compute, and between two
detections (``--detect-every``) tracks are carried forward with a constant-velocity prediction.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Optional, Sequence

import numpy as np

from edge.types import Detection, Prediction


@dataclass
class TrackerConfig:
    iou_threshold: float = 0.3
    max_missed: int = 10            # frames a track can go undetected and still match by IoU with its last box
    reacquire_missed: int = 45      # ... and still be picked up near its predicted position (a face that was hidden
                                    # behind another one; 0: off). A track ends after the larger of the two.
    reacquire_gate: float = 1.5     # the predicted centre within this many of the track's usual box widths
    reacquire_size_ratio: float = 3.0   # and a box side within this ratio of that width (a face still half
                                        # hidden comes back small)
    smoothing: float = 0.3          # EMA weight of a new observation at typical confidence; 1 = no smoothing
    skip_frames: int = 0            # re-classify a stable track only every N+1 frames (0: every frame)
    min_hits_to_skip: int = 3


@dataclass
class Track:
    track_id: int
    box: np.ndarray
    hits: int = 1
    missed: int = 0
    age: Optional[float] = None
    age_range: Optional[tuple[float, float]] = None
    gender_logit: Optional[float] = None
    last_prediction: Optional[Prediction] = None
    frames_since_classified: int = 0
    first_seen: float = 0.0
    last_seen: float = 0.0
    detection: Optional[Detection] = None     # the last real detection
    velocity: Optional[np.ndarray] = None     # box-centre motion, pixels per frame
    drift: Optional[np.ndarray] = None        # the same, slowly averaged: where a hidden face is heading
    side: float = 0.0                         # the usual box width, slowly averaged
    carried: int = 0                          # frames carried forward since the last real detection


def _centre(box: np.ndarray) -> np.ndarray:
    return np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2], np.float32)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), np.float32)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def greedy_match(iou: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    pairs = []
    if iou.size == 0:
        return pairs
    used_r, used_c = set(), set()
    for flat in np.argsort(-iou, axis=None):
        r, c = divmod(int(flat), iou.shape[1])
        if iou[r, c] < threshold:
            break
        if r in used_r or c in used_c:
            continue
        pairs.append((r, c))
        used_r.add(r); used_c.add(c)
    return pairs


def _logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


class Tracker:
    def __init__(self, config: Optional[TrackerConfig] = None):
        self.config = config or TrackerConfig()
        self.tracks: list[Track] = []
        self._next_id = 1
        self.ended: list[Track] = []   # tracks that ended since the last call (for per-track events)

    def update(self, detections: Sequence[Detection], now: float = 0.0) -> list[tuple[Detection, Track]]:
        """Match detections to tracks; returns (detection, track) for every detection."""
        cfg = self.config
        boxes = np.stack([d.box for d in detections]) if detections else np.zeros((0, 4), np.float32)
        tboxes = np.stack([t.box for t in self.tracks]) if self.tracks else np.zeros((0, 4), np.float32)
        iou = iou_matrix(tboxes, boxes)
        if len(tboxes):
            iou[[t.missed > cfg.max_missed for t in self.tracks]] = 0.0   # long-lost tracks: only by prediction
        pairs = greedy_match(iou, cfg.iou_threshold)
        pairs += self._reacquire(boxes, pairs)
        matched_t = {r for r, _ in pairs}
        matched_d = {c: r for r, c in pairs}
        out: list[tuple[Detection, Track]] = []
        for di, det in enumerate(detections):
            if di in matched_d:
                t = self.tracks[matched_d[di]]
                if t.detection is not None:
                    step = (_centre(det.box) - _centre(t.detection.box)) / (t.carried + 1 + t.missed)
                    t.velocity = step if t.velocity is None else 0.5 * t.velocity + 0.5 * step
                    t.drift = step if t.drift is None else 0.9 * t.drift + 0.1 * step
                t.side = 0.9 * t.side + 0.1 * float(det.box[2] - det.box[0])
                t.box, t.hits, t.missed, t.last_seen = det.box.copy(), t.hits + 1, 0, now
            else:
                t = Track(self._next_id, det.box.copy(), first_seen=now, last_seen=now,
                          side=float(det.box[2] - det.box[0]))
                self._next_id += 1
                self.tracks.append(t)
            t.detection, t.carried = det, 0
            out.append((det, t))
        self.ended = []
        keep = []
        for i, t in enumerate(self.tracks):
            if i < len(tboxes) and i not in matched_t:
                t.missed += 1
            if t.missed > max(cfg.max_missed, cfg.reacquire_missed):
                self.ended.append(t)
            else:
                keep.append(t)
        self.tracks = keep
        return out

    def _reacquire(self, boxes: np.ndarray, pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """(track, detection) pairs for lost tracks that the IoU match left: a detection close to where the
        track's slow drift puts it now, of a compatible size; nearest first. A face hidden behind another
        one shrinks and slows down in its last detections, so its drift and usual width, not its last box
        and velocity, say where and how large it comes back."""
        cfg = self.config
        used_t, used_d = {r for r, _ in pairs}, {c for _, c in pairs}
        lost = [i for i, t in enumerate(self.tracks)
                if i not in used_t and 0 < t.missed <= cfg.reacquire_missed and t.detection is not None]
        free = [j for j in range(len(boxes)) if j not in used_d]
        candidates = []
        for i in lost:
            t = self.tracks[i]
            v = t.drift if t.drift is not None else np.zeros(2, np.float32)
            predicted = _centre(t.box) + v * t.missed
            side = max(t.side, 1.0)
            for j in free:
                ratio = float(boxes[j][2] - boxes[j][0]) / side
                distance = float(np.linalg.norm(_centre(boxes[j]) - predicted))
                if distance <= cfg.reacquire_gate * side and 1 / cfg.reacquire_size_ratio <= ratio <= cfg.reacquire_size_ratio:
                    candidates.append((distance, i, j))
        out: list[tuple[int, int]] = []
        for _, i, j in sorted(candidates):
            if i not in used_t and j not in used_d:
                out.append((i, j))
                used_t.add(i)
                used_d.add(j)
        return out

    def settled(self) -> bool:
        """True when detection may be skipped: there are tracks, none is new and none was missed."""
        return bool(self.tracks) and all(t.hits >= self.config.min_hits_to_skip and t.missed == 0
                                         for t in self.tracks)

    def carry(self, now: float = 0.0) -> list[tuple[Detection, Track]]:
        """A frame without detection: every track moves on by its velocity from its last real
        detection (landmarks too). Hits and misses are unchanged; the next detection corrects it."""
        out = []
        for t in self.tracks:
            if t.detection is None:
                continue
            t.carried += 1
            v = t.velocity if t.velocity is not None else np.zeros(2, np.float32)
            det = t.detection.shifted(float(v[0]) * t.carried, float(v[1]) * t.carried)
            t.box, t.last_seen = det.box.copy(), now
            out.append((det, t))
        self.ended = []
        return out

    def needs_classification(self, track: Track) -> bool:
        cfg = self.config
        if track.last_prediction is None or cfg.skip_frames <= 0 or track.hits < cfg.min_hits_to_skip:
            return True
        return track.frames_since_classified >= cfg.skip_frames

    def observe(self, track: Track, pred: Prediction) -> Prediction:
        """Fold a new prediction into the track and return the smoothed one."""
        cfg = self.config
        track.frames_since_classified = 0
        width = max(pred.age_range[1] - pred.age_range[0], 1.0)
        # weight: smoothing at a typical 10-year interval, more for narrower (more confident) ones
        w_age = 1.0 if cfg.smoothing >= 1 else min(1.0, cfg.smoothing * 10.0 / width)
        g_conf = abs(pred.p_female - 0.5) * 2
        w_gender = 1.0 if cfg.smoothing >= 1 else min(1.0, cfg.smoothing * (0.5 + g_conf))
        if track.age is None:
            track.age, track.age_range, track.gender_logit = pred.age, pred.age_range, _logit(pred.p_female)
        else:
            track.age += w_age * (pred.age - track.age)
            lo, hi = track.age_range
            track.age_range = (lo + w_age * (pred.age_range[0] - lo), hi + w_age * (pred.age_range[1] - hi))
            track.gender_logit += w_gender * (_logit(pred.p_female) - track.gender_logit)
        p_female = 1 / (1 + math.exp(-track.gender_logit))
        smoothed = replace(pred, age=track.age, age_range=track.age_range, p_female=p_female)
        track.last_prediction = pred
        return smoothed

    def reuse(self, track: Track) -> Optional[Prediction]:
        """The track's current smoothed prediction without a new observation (a skipped frame)."""
        track.frames_since_classified += 1
        if track.last_prediction is None or track.age is None:
            return None
        return replace(track.last_prediction, age=track.age, age_range=track.age_range,
                       p_female=1 / (1 + math.exp(-track.gender_logit)))


def apply_gender_band(pred: Prediction, band: tuple[float, float], labels: tuple[str, ...]) -> Prediction:
    from edge.vision.decode import gender_label

    return replace(pred, gender=gender_label(pred.p_female, band, labels))


@dataclass
class JitterStats:
    tracks: int = 0
    age_std_mean: float = float("nan")
    samples: dict = field(default_factory=dict)


def age_jitter(track_ages: dict[int, list[float]], min_len: int = 10) -> JitterStats:
    """Mean over tracks of the standard deviation of a track's reported age across frames."""
    stds = [float(np.std(v)) for v in track_ages.values() if len(v) >= min_len]
    return JitterStats(len(stds), float(np.mean(stds)) if stds else float("nan"))
