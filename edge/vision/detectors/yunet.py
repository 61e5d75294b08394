"""YuNet (OpenCV Zoo, MIT) through ``cv2.FaceDetectorYN``: box + 5 landmarks."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from edge.vision.detectors.base import DetectorConfig, finalize
from edge.errors import ModelLoadError
from edge.types import Detection

log = logging.getLogger(__name__)

FILENAME = "face_detection_yunet_2023mar.onnx"
LANDMARKS = ("right_eye", "left_eye", "nose", "mouth_right", "mouth_left")


class YuNetDetector:
    name = "yunet"
    landmark_names = LANDMARKS

    def __init__(self, model_path: str | Path, config: DetectorConfig | None = None):
        import cv2

        self.config = config or DetectorConfig()
        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise ModelLoadError(f"{self.model_path}: YuNet model file not found")
        if not hasattr(cv2, "FaceDetectorYN"):
            raise ModelLoadError(f"OpenCV {cv2.__version__} has no FaceDetectorYN (needs OpenCV >= 4.5.4)")
        try:
            # YuNet's own threshold is set low; finalize() applies the configured one.
            self._net = cv2.FaceDetectorYN.create(str(self.model_path), "", (320, 320),
                                                  min(self.config.score_threshold, 0.5),
                                                  self.config.nms_threshold, 5000)
        except cv2.error as e:
            raise ModelLoadError(f"{self.model_path}: OpenCV cannot load this YuNet model ({e.msg.strip()})") from e
        self._size = (320, 320)

    def detect(self, image: np.ndarray) -> list[Detection]:
        h, w = image.shape[:2]
        if (w, h) != self._size:
            self._net.setInputSize((w, h))
            self._size = (w, h)
        _, faces = self._net.detect(image)
        if faces is None:
            return []
        dets = []
        for f in faces:
            x, y, bw, bh = f[:4]
            dets.append(Detection(np.array([x, y, x + bw, y + bh], np.float32), float(f[14]),
                                  f[4:14].reshape(5, 2).astype(np.float32), LANDMARKS))
        return finalize(dets, self.config, image.shape)
