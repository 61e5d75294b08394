"""Calibration faces for INT8: real training chips, stratified by age band, gender and race,
preprocessed exactly as the runtime preprocesses an aligned chip (``edge.vision.align.resize_crop``)."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from edge.contract import ModelContract
from edge.errors import AgeGenderError, DatasetError

log = logging.getLogger(__name__)

MIN_CALIBRATION = 300


def stratified_indices(age_mid: np.ndarray, gender: np.ndarray, race: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Round-robin over (age band, gender, race) strata so that every stratum is represented."""
    rng = np.random.default_rng(seed)
    band = np.digitize(age_mid, [3, 10, 20, 30, 40, 50, 60, 70])
    key = band * 100 + gender * 10 + race
    strata = [rng.permutation(np.flatnonzero(key == k)) for k in np.unique(key)]
    out: list[int] = []
    depth = 0
    while len(out) < n and any(depth < len(s) for s in strata):
        for s in strata:
            if depth < len(s) and len(out) < n:
                out.append(int(s[depth]))
        depth += 1
    return np.sort(np.array(out, np.int64))


def calibration_images(data: str | Path, contract: ModelContract, n: int = 400, split: str = "train",
                       seed: int = 0) -> np.ndarray:
    """(n, S, S, 3) uint8 in the contract's colour order."""
    from edge.vision.align import resize_crop
    from edge.imageio import read_image
    from train.sources import read_source

    if n < MIN_CALIBRATION:
        raise AgeGenderError(f"--calib-n {n}: INT8 calibration needs at least {MIN_CALIBRATION} faces")
    try:
        faces = read_source(data, split)
    except DatasetError as e:
        raise AgeGenderError(f"calibration data: {e}") from e
    idx = stratified_indices((faces.age_lo + faces.age_hi) / 2, faces.gender.astype(int), faces.race.astype(int), n, seed)
    from edge.progress import progress

    images = []
    for i in progress(idx, total=len(idx), desc="calibration faces", unit="img"):
        try:
            images.append(resize_crop(read_image(faces.paths[i]), contract)[0])
        except AgeGenderError as e:
            log.warning("calibration: %s", e)
    if len(images) < MIN_CALIBRATION:
        raise AgeGenderError(f"calibration data {data}: only {len(images)} readable faces, need {MIN_CALIBRATION}")
    log.info("calibration set: %d faces from %s (%s split), stratified by age band, gender and race",
             len(images), data, split)
    return np.stack(images)
