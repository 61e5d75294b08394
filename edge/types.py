"""Plain data types passed between stages. Boxes are xyxy in full-frame pixels."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np


@dataclass
class Frame:
    """One image from a source. ``image`` is BGR uint8 (OpenCV's order), HxWx3."""

    image: np.ndarray
    index: int = 0
    timestamp: float = 0.0        # wall clock (time.time()) at capture
    captured_at: float = 0.0      # time.monotonic() at capture, for latency
    source: str = ""
    lores: Optional[np.ndarray] = None   # a smaller copy for detection (Picamera2's lores stream)
    decode_s: float = 0.0         # seconds spent reading and decoding this frame (0: not measured)


@dataclass
class Detection:
    """A face found by a detector."""

    box: np.ndarray                      # (4,) float32 x1, y1, x2, y2
    score: float
    landmarks: Optional[np.ndarray] = None   # (K, 2) float32 pixels
    landmark_names: tuple[str, ...] = ()

    @property
    def width(self) -> float:
        return float(self.box[2] - self.box[0])

    @property
    def height(self) -> float:
        return float(self.box[3] - self.box[1])

    def xywh(self) -> list[float]:
        x1, y1, x2, y2 = (float(v) for v in self.box)
        return [round(x1, 1), round(y1, 1), round(x2 - x1, 1), round(y2 - y1, 1)]

    def named_landmarks(self) -> dict[str, np.ndarray]:
        if self.landmarks is None:
            return {}
        return dict(zip(self.landmark_names, self.landmarks))

    def scaled(self, sx: float, sy: float) -> "Detection":
        """The same face in an image scaled by ``sx``, ``sy`` (e.g. from a detection copy to the frame)."""
        box = self.box * np.array([sx, sy, sx, sy], np.float32)
        lm = None if self.landmarks is None else self.landmarks * np.array([sx, sy], np.float32)
        return Detection(box, self.score, lm, self.landmark_names)

    def shifted(self, dx: float, dy: float) -> "Detection":
        """The same face moved by ``dx``, ``dy`` pixels (a track carried forward between detections)."""
        box = self.box + np.array([dx, dy, dx, dy], np.float32)
        lm = None if self.landmarks is None else self.landmarks + np.array([dx, dy], np.float32)
        return Detection(box, self.score, lm, self.landmark_names)


@dataclass
class Prediction:
    """What the model says about one face."""

    age: float                     # expected age, years
    age_range: tuple[float, float]  # honest interval, years
    age_group: str                  # e.g. "25-32"
    p_female: float
    gender: str                     # "male" | "female" | "undetermined"
    race: Optional[dict[str, float]] = None
    age_dist: Optional[np.ndarray] = field(default=None, repr=False)

    @property
    def gender_confidence(self) -> float:
        return self.p_female if self.gender == "female" else 1.0 - self.p_female


@dataclass
class Face:
    """A detected face and, when classified, its prediction and track."""

    detection: Detection
    prediction: Optional[Prediction] = None
    track_id: Optional[int] = None
    gate: Optional[Any] = None      # edge.age_gate.GateDecision, with --age-gate

    def to_json(self, with_race: bool = False) -> dict[str, Any]:
        d: dict[str, Any] = {"box": self.detection.xywh(), "score": round(float(self.detection.score), 4)}
        if self.track_id is not None:
            d["track_id"] = int(self.track_id)
        p = self.prediction
        if p is not None:
            d.update(age=round(float(p.age), 1), age_range=[round(float(p.age_range[0]), 1), round(float(p.age_range[1]), 1)],
                     age_group=p.age_group, gender=p.gender, p_female=round(float(p.p_female), 4))
            if with_race and p.race is not None:
                d["race"] = {k: round(float(v), 4) for k, v in p.race.items()}
        if self.gate is not None:
            d.update(self.gate.to_json())
        return d
