"""MediaPipe BlazeFace (Apache-2.0) short and full range on the TFLite runtime.

The model regresses offsets from fixed SSD anchors: 16 values per anchor (box centre, size,
then 6 keypoints) plus one score logit. Anchors follow MediaPipe's SsdAnchorsCalculator
with ``fixed_anchor_size``: every anchor is 1x1 and only its centre matters.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edge.vision.backends.base import BackendOptions
from edge.vision.detectors.base import DetectorConfig, finalize, nms
from edge.errors import ModelLoadError
from edge.types import Detection

LANDMARKS = ("right_eye", "left_eye", "nose", "mouth_center", "right_ear", "left_ear")


@dataclass(frozen=True)
class BlazeFaceSpec:
    input_size: int
    strides: tuple[int, ...]
    anchors_per_stride_layer: int   # 2 with interpolated aspect ratio, else 1
    filename: str


SHORT = BlazeFaceSpec(128, (8, 16, 16, 16), 2, "face_detection_short_range.tflite")
FULL = BlazeFaceSpec(192, (4,), 1, "face_detection_full_range.tflite")


def ssd_anchors(spec: BlazeFaceSpec) -> np.ndarray:
    """Anchor centres (A, 2) in [0, 1], in the order the model's outputs use."""
    anchors = []
    i = 0
    strides = spec.strides
    while i < len(strides):
        j = i
        while j < len(strides) and strides[j] == strides[i]:
            j += 1
        per_cell = spec.anchors_per_stride_layer * (j - i)
        fm = int(np.ceil(spec.input_size / strides[i]))
        ys, xs = np.meshgrid((np.arange(fm) + 0.5) / fm, (np.arange(fm) + 0.5) / fm, indexing="ij")
        centres = np.stack([xs.ravel(), ys.ravel()], 1)
        anchors.append(np.repeat(centres, per_cell, axis=0))
        i = j
    return np.concatenate(anchors).astype(np.float32)


def decode(raw_boxes: np.ndarray, raw_scores: np.ndarray, anchors: np.ndarray, input_size: int
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """-> boxes (A, 4) xyxy in [0, 1], keypoints (A, 6, 2) in [0, 1], scores (A,)."""
    r = raw_boxes.reshape(-1, 16) / float(input_size)
    cx = r[:, 0] + anchors[:, 0]
    cy = r[:, 1] + anchors[:, 1]
    w, h = r[:, 2], r[:, 3]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1)
    kps = r[:, 4:16].reshape(-1, 6, 2) + anchors[:, None, :]
    scores = 1.0 / (1.0 + np.exp(-np.clip(raw_scores.reshape(-1), -80, 80)))   # exp(80) fits float32
    return boxes, kps, scores


class BlazeFaceDetector:
    landmark_names = LANDMARKS

    def __init__(self, model_path: str | Path, config: DetectorConfig | None = None, full_range: bool = False,
                 threads: int = 0):
        from edge.vision.backends.tflite import TFLiteBackend

        self.spec = FULL if full_range else SHORT
        self.name = "blazeface-full" if full_range else "blazeface"
        self.config = config or DetectorConfig()
        self._backend = TFLiteBackend(model_path, BackendOptions(threads=threads, warmup=1))
        self._anchors = ssd_anchors(self.spec)
        outs = {o.name: o for o in self._backend.outputs}
        self._box_out = next((n for n, o in outs.items() if o.shape[-1] == 16), None)
        self._score_out = next((n for n, o in outs.items() if o.shape[-1] == 1), None)
        if self._box_out is None or self._score_out is None:
            raise ModelLoadError(f"{model_path}: not a BlazeFace model (expected outputs with 16 and 1 values per anchor)")

    def detect(self, image: np.ndarray) -> list[Detection]:
        import cv2

        h, w = image.shape[:2]
        side = max(h, w)
        # letterbox to a square, as MediaPipe does, so the face keeps its aspect ratio
        pad_x, pad_y = (side - w) // 2, (side - h) // 2
        square = cv2.copyMakeBorder(image, pad_y, side - h - pad_y, pad_x, side - w - pad_x, cv2.BORDER_CONSTANT)
        s = self.spec.input_size
        x = cv2.cvtColor(cv2.resize(square, (s, s), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
        x = (x.astype(np.float32) / 127.5 - 1.0)[None]
        out = self._backend.infer(x)
        boxes, kps, scores = decode(out[self._box_out], out[self._score_out], self._anchors, s)
        keep = scores >= self.config.score_threshold
        if not keep.any():
            return []
        boxes, kps, scores = boxes[keep] * side, kps[keep] * side, scores[keep]
        boxes -= np.array([pad_x, pad_y, pad_x, pad_y], np.float32)
        kps -= np.array([pad_x, pad_y], np.float32)
        order = nms(boxes, scores, self.config.nms_threshold)
        dets = [Detection(boxes[i].astype(np.float32), float(scores[i]), kps[i].astype(np.float32), LANDMARKS)
                for i in order]
        return finalize(dets, self.config, image.shape)
