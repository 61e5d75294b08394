"""How much a model's answer for one face moves under changes a camera makes all the time: ±1 grey
level of noise on the crop, and a quarter-pixel shift of the alignment (as from a landmark that
moved by 0.25 px). Averages hide this; single faces that jump by years are what a user sees.

The crops are made from the source chips with the same kind of affine warp the runtime's aligner
uses (bilinear), so the shift is a real sub-pixel move of the sampling grid, not a rounded one.
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

log = logging.getLogger(__name__)


@dataclass
class Change:
    """Per-face absolute change of the age (years) and of p(female)."""

    age_mean: float
    age_p95: float
    age_max: float
    p_female_p95: float
    p_female_max: float

    @classmethod
    def between(cls, a: dict, b: dict) -> "Change":
        da = np.abs(a["age"].reshape(-1) - b["age"].reshape(-1))
        dg = np.abs(a["gender"].reshape(-1) - b["gender"].reshape(-1))
        return cls(float(da.mean()), float(np.percentile(da, 95)), float(da.max()),
                   float(np.percentile(dg, 95)), float(dg.max()))


@dataclass
class Stability:
    n: int
    noise: Change           # uniform integer noise in [-1, 1] grey levels, clipped to 0..255
    shift: Change           # the alignment moved by 0.25 source pixels right and down

    def as_dict(self) -> dict:
        return {"n": self.n, "noise_1_grey_level": asdict(self.noise), "shift_0_25_px": asdict(self.shift)}


def warp_crops(chips: list[np.ndarray], size: int, shift_px: float = 0.0, rgb: bool = True) -> np.ndarray:
    """Each square chip scaled to ``size`` by an affine warp, its grid moved by ``shift_px`` chip pixels."""
    import cv2

    out = np.empty((len(chips), size, size, 3), np.uint8)
    for i, chip in enumerate(chips):
        s = size / chip.shape[1]
        m = np.array([[s, 0, -s * shift_px + 0.5 * s - 0.5], [0, s, -s * shift_px + 0.5 * s - 0.5]], np.float32)
        crop = cv2.warpAffine(chip, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        out[i] = crop[..., ::-1] if rgb else crop
    return out


def sample_chips(paths: list[str], n: int, seed: int = 0) -> tuple[list[np.ndarray], list[int]]:
    """``n`` readable square chips, a seeded sample of ``paths``, and their indices into ``paths``."""
    import cv2

    chips, taken = [], []
    for i in np.random.default_rng(seed).permutation(len(paths)):
        chip = cv2.imread(paths[i], cv2.IMREAD_COLOR)
        if chip is not None and chip.shape[0] == chip.shape[1]:
            chips.append(chip)
            taken.append(int(i))
        if len(chips) == n:
            break
    return chips, taken


def with_grey_noise(crops: np.ndarray, seed: int = 0, levels: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.integers(-levels, levels + 1, crops.shape, dtype=np.int16)
    return np.clip(crops.astype(np.int16) + noise, 0, 255).astype(np.uint8)


def measure_stability(run: Callable[[np.ndarray], dict], contract, chips: list[np.ndarray],
                      seed: int = 0) -> Stability:
    """``run``: uint8 crops (N, S, S, 3) -> outputs with ``age`` and ``gender`` (e.g. ``train.evaluate.run_model``
    bound to a model); ``contract``: that model's, for the crop size and colour order; ``chips``: BGR face
    chips in the training framing."""
    size, rgb = contract.input_size, contract.color_order == "RGB"
    clean = warp_crops(chips, size, 0.0, rgb)
    ref = run(clean)
    noisy = run(with_grey_noise(clean, seed))
    shifted = run(warp_crops(chips, size, 0.25, rgb))
    return Stability(len(chips), Change.between(ref, noisy), Change.between(ref, shifted))
