"""Which detection size to use: real faces at known sizes, detected on downscaled copies.

UTKFace test chips are composited, one per frame, into 640x480 and 1280x720 frames at sizes that put
the detected face between about 24 and 200 px wide. Each frame is detected at full size (the
reference) and at every detection size; per face-width band we report the recall against the
full-size detection, the landmark error against it (frame pixels), and the age MAE after alignment
with each size's landmarks. The default is the smallest size that loses at most 0.5 pp of recall for
faces at least 40 px wide at 640x480 and keeps the age MAE within +0.05 years.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

log = logging.getLogger(__name__)

DETECT_SIZES = (160, 240, 320, 480, 640, 0)            # 0: the full frame (640: full at 640x480, a cap above it)
WIDTH_BANDS = ((24, 40), (40, 64), (64, 100), (100, 160), (160, 10_000))
MAX_RECALL_LOSS_PP = 0.5
MAX_MAE_INCREASE = 0.05
MIN_WIDTH_FOR_RULE = 40


@dataclass
class FrameFace:
    frame: np.ndarray = field(repr=False)
    age: float = 0.0


def band_name(band: tuple[int, int]) -> str:
    return f"{band[0]}+" if band[1] >= 10_000 else f"{band[0]}-{band[1] - 1}"


def composite_frames(chips: Sequence[np.ndarray], ages: Sequence[float], width: int, height: int,
                     seed: int = 0) -> list[FrameFace]:
    """One chip per frame, at a log-uniform side so that faces span the width bands, at a random place."""
    import cv2

    rng = np.random.default_rng(seed)
    out = []
    for chip, age in zip(chips, ages):
        side = int(round(math.exp(rng.uniform(math.log(44), math.log(min(380, height - 8))))))
        small = rng.integers(30, 220, (6, 8, 3), dtype=np.uint8)
        frame = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
        x0, y0 = int(rng.integers(0, width - side)), int(rng.integers(0, height - side))
        frame[y0:y0 + side, x0:x0 + side] = cv2.resize(chip, (side, side), interpolation=cv2.INTER_AREA)
        out.append(FrameFace(frame, float(age)))
    return out


@dataclass
class _Found:
    box: np.ndarray
    landmarks: Optional[np.ndarray]
    age: float


def _detect_one(analyzer, frame: np.ndarray) -> Optional[_Found]:
    faces = analyzer.detect(frame)
    if not faces:
        return None
    det = max(faces, key=lambda d: d.score)
    pred = analyzer.classify(frame, [det])[0]
    return _Found(det.box, det.landmarks, pred.age)


def detect_size_rows(analyzer, frames: list[FrameFace], resolution: str,
                     sizes: Sequence[int] = DETECT_SIZES) -> list[dict]:
    """Rows per detection size and face-width band, against the full-frame detection."""
    from edge.live.tracking import iou_matrix

    full_size = analyzer.detect_size
    analyzer.detect_size = 0
    reference = [_detect_one(analyzer, f.frame) for f in frames]
    rows = []
    try:
        for size in sizes:
            analyzer.detect_size = size
            found = reference if size == 0 else [_detect_one(analyzer, f.frame) for f in frames]
            for band in WIDTH_BANDS:
                idx = [i for i, r in enumerate(reference)
                       if r is not None and band[0] <= r.box[2] - r.box[0] < band[1]]
                if not idx:
                    continue
                hits, lm_err, err, err_ref = 0, [], [], []
                for i in idx:
                    ref, got = reference[i], found[i]
                    if got is None or iou_matrix(ref.box[None], got.box[None])[0, 0] < 0.5:
                        continue
                    hits += 1
                    err.append(abs(got.age - frames[i].age))
                    err_ref.append(abs(ref.age - frames[i].age))     # the same face, full-frame landmarks
                    if ref.landmarks is not None and got.landmarks is not None:
                        lm_err.append(float(np.linalg.norm(ref.landmarks - got.landmarks, axis=1).mean()))
                rows.append({"resolution": resolution, "detect_size": size or "full", "face_width": band_name(band),
                             "faces": len(idx), "recall": round(hits / len(idx), 4),
                             "landmark_error_px": round(float(np.mean(lm_err)), 3) if lm_err else None,
                             "age_mae": round(float(np.mean(err)), 3) if err else None,
                             "age_mae_full": round(float(np.mean(err_ref)), 3) if err_ref else None})
    finally:
        analyzer.detect_size = full_size
    return rows


def choose_default(rows: list[dict], resolution: str = "640x480") -> Optional[int]:
    """The smallest size that keeps recall (faces >= 40 px) within 0.5 pp and the age MAE within +0.05 y
    of the full frame at ``resolution``; None when no downscaled size does."""
    def ok(size: int) -> bool:
        mine = [r for r in rows if r["resolution"] == resolution and r["detect_size"] == size
                and int(r["face_width"].split("-")[0].rstrip("+")) >= MIN_WIDTH_FOR_RULE]
        if not mine:
            return False
        faces = sum(r["faces"] for r in mine)
        recall = sum(r["recall"] * r["faces"] for r in mine) / faces
        if 100 * (1 - recall) > MAX_RECALL_LOSS_PP:
            return False
        pairs = [(r["age_mae"], r["age_mae_full"], r["recall"] * r["faces"]) for r in mine if r["age_mae"] is not None]
        mae = sum(a * n for a, _, n in pairs) / max(sum(n for *_, n in pairs), 1)
        mae_full = sum(b * n for _, b, n in pairs) / max(sum(n for *_, n in pairs), 1)
        return mae - mae_full <= MAX_MAE_INCREASE

    sizes = sorted({r["detect_size"] for r in rows if r["detect_size"] != "full"})
    return next((s for s in sizes if ok(s)), None)


def detect_size_study(analyzer, data: str, n: int = 300, resolutions: Sequence[tuple[int, int]] = ((640, 480), (1280, 720)),
                      sizes: Sequence[int] = DETECT_SIZES, seed: int = 0) -> dict:
    """The whole study on ``n`` UTKFace test faces per resolution; rows and the chosen default."""
    from train.sources import read_utkface
    from train.stability import sample_chips

    faces = read_utkface(data, "test")
    chips, taken = sample_chips(faces.paths, n, seed)
    ages = [float(faces.true_age[i]) for i in taken]
    rows = []
    for w, h in resolutions:
        frames = composite_frames(chips, ages, w, h, seed)
        rows += detect_size_rows(analyzer, frames, f"{w}x{h}", sizes)
    return {"faces": len(chips), "rows": rows, "default": choose_default(rows),
            "rule": f"smallest size losing at most {MAX_RECALL_LOSS_PP} pp of recall for faces >= {MIN_WIDTH_FOR_RULE} px "
                    f"at 640x480 and raising the age MAE by at most {MAX_MAE_INCREASE} y"}
