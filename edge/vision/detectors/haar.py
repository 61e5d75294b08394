"""Haar cascade from the installed OpenCV: the fallback that needs no model file.

It finds frontal faces only, gives no landmarks and no real confidence (score 1.0), and
misses more faces than the DNN detectors: use it only when nothing better is available."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.vision.detectors.base import DetectorConfig, finalize
from edge.errors import ModelLoadError
from edge.types import Detection

CASCADE = "haarcascade_frontalface_default.xml"


def cascade_path() -> Path | None:
    try:
        import cv2
        base = Path(cv2.data.haarcascades)  # type: ignore[attr-defined]
    except (ImportError, AttributeError):
        return None
    p = base / CASCADE
    return p if p.is_file() else None


class HaarDetector:
    name = "haar"
    landmark_names: tuple[str, ...] = ()

    def __init__(self, model_path: str | Path | None = None, config: DetectorConfig | None = None):
        import cv2

        self.config = config or DetectorConfig()
        path = Path(model_path) if model_path else cascade_path()
        if path is None or not path.is_file() or not hasattr(cv2, "CascadeClassifier"):
            raise ModelLoadError(
                "the installed OpenCV ships no Haar cascade (OpenCV 5 dropped them): install opencv-python-headless<5")
        self._cascade = cv2.CascadeClassifier(str(path))
        if self._cascade.empty():
            raise ModelLoadError(f"{path}: cannot load Haar cascade")

    def detect(self, image: np.ndarray) -> list[Detection]:
        import cv2

        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        gray = cv2.equalizeHist(gray)
        found = self._cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5,
                                               minSize=(self.config.min_face, self.config.min_face))
        dets = [Detection(np.array([x, y, x + w, y + h], np.float32), 1.0) for (x, y, w, h) in found]
        return finalize(dets, self.config, image.shape)
