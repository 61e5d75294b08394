"""OpenCV's ResNet-10 SSD face detector (TensorFlow ``.pb``), box only."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from edge.vision.detectors.base import DetectorConfig, finalize, nms
from edge.errors import ModelLoadError
from edge.types import Detection

FILENAME = "opencv_face_detector_uint8.pb"
CONFIG_FILENAME = "opencv_face_detector.pbtxt"


class Res10Detector:
    name = "res10"
    landmark_names: tuple[str, ...] = ()

    def __init__(self, model_path: str | Path, config: DetectorConfig | None = None):
        import cv2

        self.config = config or DetectorConfig()
        pb = Path(model_path)
        pbtxt = pb.with_name(CONFIG_FILENAME)
        for p in (pb, pbtxt):
            if not p.is_file():
                raise ModelLoadError(f"{p}: ResNet-10 SSD file not found (needs {FILENAME} and {CONFIG_FILENAME})")
        try:
            self._net = cv2.dnn.readNetFromTensorflow(str(pb), str(pbtxt))
        except cv2.error as e:
            raise ModelLoadError(f"{pb}: OpenCV cannot load this model ({e.msg.strip()})") from e

    def detect(self, image: np.ndarray) -> list[Detection]:
        import cv2

        h, w = image.shape[:2]
        blob = cv2.dnn.blobFromImage(image, 1.0, (300, 300), (104.0, 177.0, 123.0), swapRB=False, crop=False)
        self._net.setInput(blob)
        out = self._net.forward().reshape(-1, 7)
        out = out[out[:, 2] >= self.config.score_threshold]
        if not len(out):
            return []
        boxes = (out[:, 3:7] * np.array([w, h, w, h], np.float32)).astype(np.float32)
        keep = nms(boxes, out[:, 2], self.config.nms_threshold)
        return finalize([Detection(boxes[i], float(out[i, 2])) for i in keep], self.config, image.shape)
