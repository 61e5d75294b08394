"""What every face detector shares: its settings, its interface and the post-filter."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np

from edge.types import Detection


@dataclass
class DetectorConfig:
    score_threshold: float = 0.6
    nms_threshold: float = 0.3
    min_face: int = 24          # pixels, the shorter side of the box
    max_faces: int = 16


class Detector(Protocol):
    """``detect`` takes a BGR uint8 image (HxWx3) and returns faces, best first."""

    name: str
    landmark_names: tuple[str, ...]

    def detect(self, image: np.ndarray) -> list[Detection]: ...


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> list[int]:
    """Greedy non-maximum suppression on xyxy boxes; returns kept indices, best first."""
    order = np.argsort(-scores)
    keep: list[int] = []
    areas = np.maximum(boxes[:, 2] - boxes[:, 0], 0) * np.maximum(boxes[:, 3] - boxes[:, 1], 0)
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        xx1 = np.maximum(boxes[i, 0], boxes[rest, 0])
        yy1 = np.maximum(boxes[i, 1], boxes[rest, 1])
        xx2 = np.minimum(boxes[i, 2], boxes[rest, 2])
        yy2 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.maximum(xx2 - xx1, 0) * np.maximum(yy2 - yy1, 0)
        iou = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-9)
        order = rest[iou <= iou_threshold]
    return keep


def finalize(detections: Sequence[Detection], cfg: DetectorConfig, image_shape: Sequence[int]) -> list[Detection]:
    """Clip boxes to the image, drop small and weak faces, keep the best ``max_faces``."""
    h, w = int(image_shape[0]), int(image_shape[1])
    out = []
    for d in detections:
        box = d.box.astype(np.float32).copy()
        box[[0, 2]] = np.clip(box[[0, 2]], 0, w)
        box[[1, 3]] = np.clip(box[[1, 3]], 0, h)
        if min(box[2] - box[0], box[3] - box[1]) < cfg.min_face or d.score < cfg.score_threshold:
            continue
        out.append(Detection(box, float(d.score), d.landmarks, d.landmark_names))
    out.sort(key=lambda d: -d.score)
    return out[: cfg.max_faces]
