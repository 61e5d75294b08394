"""Face alignment: warp each detected face so it looks like a training chip.

With landmarks, a similarity transform (rotation, uniform scale, shift) maps the detector's
points onto the contract's template for that detector; the templates are the median points
the detector finds on training chips (``agegender align-template`` measures them). Without
landmarks, a square crop is placed relative to the box with the same measured offsets.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

import numpy as np

from edge.contract import ModelContract
from edge.types import Detection

log = logging.getLogger(__name__)

# Points used for the similarity fit: the ears that BlazeFace also returns vary too much
# with head pose (measured spread 3-4% of the chip side against 1-2% for eyes and mouth).
ALIGN_POINTS = ("right_eye", "left_eye", "nose", "mouth_right", "mouth_left", "mouth_center")


def umeyama(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform (2x3) taking ``src`` points onto ``dst`` (Umeyama 1991)."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    n = src.shape[0]
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / n
    u, sig, vt = np.linalg.svd(cov)
    e = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        e[1, 1] = -1
    r = u @ e @ vt
    var_s = (s ** 2).sum() / n
    scale = np.trace(np.diag(sig) @ e) / var_s if var_s > 0 else 1.0
    t = mu_d - scale * r @ mu_s
    return np.hstack([scale * r, t[:, None]]).astype(np.float32)


def box_matrix(box: Sequence[float], crop: Sequence[float], size: int) -> np.ndarray:
    """2x3 transform for a square crop around ``box``: ``crop`` = (dx, dy, side) where the
    chip centre is the box centre plus (dx * w, dy * h) and its side is side * sqrt(w * h)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    w, h = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
    dx, dy, side = crop
    cx, cy = (x1 + x2) / 2 + dx * w, (y1 + y2) / 2 + dy * h
    s = size / (side * np.sqrt(w * h))
    return np.array([[s, 0, size / 2 - s * cx], [0, s, size / 2 - s * cy]], np.float32)


@dataclass
class Aligner:
    """Turns detections into model-ready crops for one contract and one detector."""

    contract: ModelContract
    detector: str = "yunet"

    def __post_init__(self) -> None:
        size = self.contract.input_size
        templates = self.contract.alignment_templates
        self._template = templates.get(self.detector) or templates.get("yunet") or {}
        self._points = {k: np.asarray(v, np.float32) * size for k, v in self._template.items()}
        crops = self.contract.box_crops
        self._crop = crops.get(self.detector) or crops.get("default") or [0.0, 0.0, 1.0]
        self._swap = self.contract.color_order == "RGB"

    def matrix(self, det: Detection) -> np.ndarray:
        size = self.contract.input_size
        named = det.named_landmarks()
        common = [k for k in named if k in self._points and k in ALIGN_POINTS]
        if len(common) >= 2 and {"right_eye", "left_eye"} <= set(common):
            src = np.stack([named[k] for k in common])
            dst = np.stack([self._points[k] for k in common])
            return umeyama(src, dst)
        return box_matrix(det.box, self._crop, size)

    def align(self, image: np.ndarray, detections: Iterable[Detection]) -> np.ndarray:
        """BGR frame + detections -> (N, S, S, 3) uint8 crops in the contract's colour order."""
        import cv2

        size = self.contract.input_size
        crops = [cv2.warpAffine(image, self.matrix(d), (size, size), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REPLICATE) for d in detections]
        if not crops:
            return np.zeros((0, size, size, 3), np.uint8)
        batch = np.stack(crops)
        return batch[..., ::-1].copy() if self._swap else batch


def resize_crop(image: np.ndarray, contract: ModelContract) -> np.ndarray:
    """An already-aligned face chip (BGR) -> (1, S, S, 3) in the contract's colour order."""
    import cv2

    size = contract.input_size
    interp = cv2.INTER_AREA if image.shape[0] > size else cv2.INTER_LINEAR
    x = cv2.resize(image, (size, size), interpolation=interp)
    if contract.color_order == "RGB":
        x = x[..., ::-1]
    return np.ascontiguousarray(x)[None]


# ---------------------------------------------------------------------------- measurement
def pad_chip(chip: np.ndarray, ratio: float = 0.5) -> tuple[np.ndarray, int]:
    """Surround a chip with a replicated border so detectors see it as a face in a scene."""
    import cv2

    pad = int(round(chip.shape[0] * ratio))
    return cv2.copyMakeBorder(chip, pad, pad, pad, pad, cv2.BORDER_REPLICATE), pad


def central_detection(dets: Sequence[Detection], shape: Sequence[int]) -> Optional[Detection]:
    if not dets:
        return None
    cy, cx = shape[0] / 2, shape[1] / 2
    return min(dets, key=lambda d: np.hypot((d.box[0] + d.box[2]) / 2 - cx, (d.box[1] + d.box[3]) / 2 - cy))


@dataclass
class TemplateEstimate:
    detector: str
    n_chips: int
    n_found: int
    template: dict[str, list[float]]
    box_crop: list[float]
    spread: dict[str, float]       # median absolute deviation of each landmark, fraction of chip side


def estimate_template(chips: Iterable[np.ndarray], detector, pad_ratio: float = 0.5) -> TemplateEstimate:
    """Median landmark positions (fractions of the chip side) and box-to-chip offsets that
    ``detector`` finds on aligned training chips."""
    points: dict[str, list[np.ndarray]] = {}
    crops = []
    n = 0
    for chip in chips:
        n += 1
        side = chip.shape[0]
        padded, pad = pad_chip(chip, pad_ratio)
        det = central_detection(detector.detect(padded), padded.shape)
        if det is None:
            continue
        box = det.box - pad
        w, h = box[2] - box[0], box[3] - box[1]
        crops.append([(side / 2 - (box[0] + box[2]) / 2) / w, (side / 2 - (box[1] + box[3]) / 2) / h,
                      side / np.sqrt(w * h)])
        for name, p in det.named_landmarks().items():
            points.setdefault(name, []).append((p - pad) / side)
        if "mouth_left" in det.named_landmarks() and "mouth_right" in det.named_landmarks():
            lm = det.named_landmarks()
            points.setdefault("mouth_center", []).append(((lm["mouth_left"] + lm["mouth_right"]) / 2 - pad) / side)
    template = {k: [round(float(v), 4) for v in np.median(np.stack(p), 0)] for k, p in points.items()}
    spread = {k: round(float(np.median(np.abs(np.stack(p) - np.median(np.stack(p), 0)))), 4)
              for k, p in points.items()}
    crop = [round(float(v), 4) for v in np.median(np.asarray(crops), 0)] if crops else [0.0, 0.0, 1.0]
    return TemplateEstimate(getattr(detector, "name", "?"), n, len(crops), template, crop, spread)


@dataclass
class AlignmentCheck:
    detector: str
    n_chips: int
    n_found: int
    landmark_error_px: float   # mean displacement, in model-input pixels, of the landmarks between crop and chip
    pixel_correlation: float   # mean Pearson correlation between the aligned crop and the resized chip


def check_alignment(chips: Iterable[np.ndarray], detector, contract: ModelContract,
                    pad_ratio: float = 0.5) -> AlignmentCheck:
    """Detect and align each chip inside a padded frame and compare with the chip itself."""
    aligner = Aligner(contract, getattr(detector, "name", "yunet"))
    size = contract.input_size
    errors, corrs = [], []
    n = 0
    for chip in chips:
        n += 1
        padded, pad = pad_chip(chip, pad_ratio)
        det = central_detection(detector.detect(padded), padded.shape)
        if det is None:
            continue
        crop = aligner.align(padded, [det])[0].astype(np.float32)
        ref = resize_crop(chip, contract)[0].astype(np.float32)
        corrs.append(float(np.corrcoef(crop.ravel(), ref.ravel())[0, 1]))
        if det.landmarks is not None:
            m = aligner.matrix(det)
            in_crop = det.landmarks @ m[:, :2].T + m[:, 2]
            in_chip = (det.landmarks - pad) * (size / chip.shape[0])
            errors.append(float(np.linalg.norm(in_crop - in_chip, axis=1).mean()))
    return AlignmentCheck(getattr(detector, "name", "?"), n, len(corrs),
                          float(np.mean(errors)) if errors else float("nan"),
                          float(np.mean(corrs)) if corrs else float("nan"))
