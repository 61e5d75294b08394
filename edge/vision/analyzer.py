"""Detect -> align -> one batched inference -> decode, for one BGR image."""
from __future__ import annotations

import contextlib
import dataclasses
import time
from dataclasses import dataclass, field
from typing import Iterator, Optional, Sequence

import numpy as np

from edge.vision.align import Aligner, resize_crop
from edge.vision.decode import DecodeConfig
from edge.vision.detectors import Detector
from edge.vision.model import AgeGenderModel
from edge.types import Detection, Face, Prediction


@dataclass
class StageTimes:
    detect: float = 0.0
    align: float = 0.0
    infer: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {"detect": self.detect, "align": self.align, "infer": self.infer}


def detection_scale(shape: Sequence[int], detect_size: int) -> float:
    """The factor that brings an image's long side down to ``detect_size`` (1: leave it as it is)."""
    long_side = max(int(shape[0]), int(shape[1]))
    return detect_size / long_side if 0 < detect_size < long_side else 1.0


@contextlib.contextmanager
def _min_face_scaled(detector, scale: float) -> Iterator[None]:
    """``min_face`` is in frame pixels: on a copy scaled by ``scale`` the detector must accept faces
    that much smaller."""
    config = getattr(detector, "config", None)
    if config is None or scale == 1.0:
        yield
        return
    detector.config = dataclasses.replace(config, min_face=max(1, int(round(config.min_face * scale))))
    try:
        yield
    finally:
        detector.config = config


@dataclass
class FaceAnalyzer:
    detector: Optional[Detector]
    model: AgeGenderModel
    decode: DecodeConfig = field(default_factory=DecodeConfig)
    detect_size: int = 0    # detect on a copy whose long side is this many pixels (0: the full image)

    def __post_init__(self) -> None:
        name = getattr(self.detector, "name", "yunet") if self.detector is not None else "yunet"
        self.aligner = Aligner(self.model.contract, name)

    def detect(self, image: np.ndarray, times: Optional[StageTimes] = None) -> list[Detection]:
        if self.detector is None:
            raise RuntimeError("this analyzer has no detector")
        t = time.perf_counter()
        scale = detection_scale(image.shape, self.detect_size)
        if scale < 1.0:
            import cv2

            h, w = image.shape[:2]
            small = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
            with _min_face_scaled(self.detector, small.shape[1] / w):
                dets = self.detector.detect(small)
            dets = [d.scaled(w / small.shape[1], h / small.shape[0]) for d in dets]
        else:
            dets = self.detector.detect(image)
        if times is not None:
            times.detect += time.perf_counter() - t
        return dets

    def classify(self, image: np.ndarray, detections: Sequence[Detection],
                 times: Optional[StageTimes] = None) -> list[Prediction]:
        """All faces of one image in one batch."""
        t0 = time.perf_counter()
        crops = self.aligner.align(image, detections)
        t1 = time.perf_counter()
        preds = self.model.predict(crops, self.decode)
        if times is not None:
            times.align += t1 - t0
            times.infer += time.perf_counter() - t1
        return preds

    def analyze(self, image: np.ndarray, times: Optional[StageTimes] = None) -> list[Face]:
        dets = self.detect(image, times)
        preds = self.classify(image, dets, times)
        return [Face(d, p) for d, p in zip(dets, preds)]

    def analyze_crop(self, image: np.ndarray) -> Face:
        """The whole image is one aligned face chip: no detection."""
        h, w = image.shape[:2]
        pred = self.model.predict(resize_crop(image, self.model.contract), self.decode)[0]
        return Face(Detection(np.array([0, 0, w, h], np.float32), 1.0), pred)
