"""How much a weak look at a face costs the age check: the study behind the gate's quality thresholds
(``--gate-min-face``, ``--gate-max-yaw``, ``--gate-min-sharpness``; edge/live/defaults.py).

On labelled chips it degrades each face the way a camera does and measures the gate's error rates per level:
- **face width**: the chip shrunk to W pixels and scaled back up to the model's input (what a face W pixels wide
  in the frame gives the aligner);
- **blur**: a Gaussian blur of sigma S pixels at the chip's size, with the sharpness score the live gate sees;
- **turn**: the faces binned by the landmark yaw proxy that YuNet finds on them (the chips' own pose spread).
"""
from __future__ import annotations

import logging
from typing import Sequence

import numpy as np

log = logging.getLogger(__name__)

WIDTHS = (24, 32, 40, 48, 64, 96)
BLURS = (0.0, 1.0, 2.0, 3.0, 4.0)
YAW_EDGES = (0.0, 0.1, 0.2, 0.3, 0.45, 10.0)


def _rates(p: np.ndarray, age: np.ndarray, true_age: np.ndarray, challenge_age: float, risk: float) -> dict:
    from train.gate_calibration import passed

    ok = passed(p, age, challenge_age, risk)
    teen = (true_age >= 13) & (true_age <= 17)
    adult = true_age >= challenge_age
    return {"faces": int(len(p)), "mae": float(np.mean(np.abs(age - true_age))),
            "minors_passed": float(ok[teen].mean()) if teen.any() else None,
            "adults_referred": float((~ok[adult]).mean()) if adult.any() else None}


def _score(predict, images: np.ndarray, gate) -> tuple[np.ndarray, np.ndarray]:
    from edge.age_gate import p_minor

    out = predict(images)
    return p_minor(out["age_dist"], gate.settings.legal_age, gate.temperature), out["age"].reshape(-1)


def width_study(predict, chips: np.ndarray, true_age: np.ndarray, gate, widths: Sequence[int] = WIDTHS) -> list[dict]:
    import cv2

    size = chips.shape[1]
    rows = []
    for w in widths:
        small = [cv2.resize(c, (w, w), interpolation=cv2.INTER_AREA) for c in chips]
        back = np.stack([cv2.resize(c, (size, size), interpolation=cv2.INTER_LINEAR) for c in small])
        p, age = _score(predict, back, gate)
        rows.append({"face_width": w, **_rates(p, age, true_age, gate.settings.challenge_age, gate.risk)})
    return rows


def blur_study(predict, chips: np.ndarray, true_age: np.ndarray, gate, sigmas: Sequence[float] = BLURS) -> list[dict]:
    import cv2

    from edge.age_gate import sharpness

    rows = []
    for s in sigmas:
        blurred = chips if s == 0 else np.stack([cv2.GaussianBlur(c, (0, 0), s) for c in chips])
        p, age = _score(predict, blurred, gate)
        sharp = np.array([sharpness(c) for c in blurred])
        rows.append({"sigma": s, "sharpness_p10": float(np.percentile(sharp, 10)),
                     "sharpness_p50": float(np.median(sharp)),
                     **_rates(p, age, true_age, gate.settings.challenge_age, gate.risk)})
    return rows


def yaw_study(predict, paths: Sequence[str], chips: np.ndarray, true_age: np.ndarray, gate,
              models_dirs: tuple[str, ...] = ()) -> list[dict]:
    """Gate error per bin of YuNet's yaw proxy on each chip (padded, as the framing check does)."""
    import cv2

    from edge.age_gate import yaw_proxy
    from edge.vision.align import central_detection, pad_chip
    from edge.vision.detectors import DetectorConfig, create_detector

    detector = create_detector("yunet", DetectorConfig(score_threshold=0.5, min_face=10), None, models_dirs)
    yaw = np.full(len(paths), np.nan)
    for i, path in enumerate(paths):
        image = cv2.imread(path)
        if image is None:
            continue
        padded, _ = pad_chip(image, 0.5)
        det = central_detection(detector.detect(padded), padded.shape)
        if det is not None:
            yaw[i] = abs(yaw_proxy(det.named_landmarks()))
    p, age = _score(predict, chips, gate)
    rows = []
    for lo, hi in zip(YAW_EDGES[:-1], YAW_EDGES[1:]):
        sel = (yaw >= lo) & (yaw < hi)
        if sel.any():
            rows.append({"yaw_from": lo, "yaw_to": hi,
                         **_rates(p[sel], age[sel], true_age[sel], gate.settings.challenge_age, gate.risk)})
    return rows


def quality_study(predict, faces, images: np.ndarray, gate, models_dirs: tuple[str, ...] = ()) -> dict:
    """All three studies on exact-age faces; ``predict(images) -> outputs`` runs the model (``age_dist``, ``age``)."""
    exact = faces.has_exact_age
    chips = images[exact]
    true_age = np.asarray(faces.true_age if faces.true_age is not None else faces.age_lo, np.float64)[exact]
    paths = [p for p, e in zip(faces.paths, exact) if e]
    log.info("gate quality study on %d faces", len(paths))
    return {"width": width_study(predict, chips, true_age, gate), "blur": blur_study(predict, chips, true_age, gate),
            "yaw": yaw_study(predict, paths, chips, true_age, gate, models_dirs)}
