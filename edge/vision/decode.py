"""Model outputs -> predictions: expected age, an honest interval, group, gender or "undetermined"."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from edge.contract import ModelContract
from edge.types import Prediction


@dataclass
class DecodeConfig:
    gender_band: tuple[float, float] = (0.35, 0.65)   # p(female) inside it -> "undetermined"
    interval_mass: float = 0.8                         # central probability mass of age_range
    group_scheme: str = "adience"
    with_race: bool = False


def correct_age_prior(outputs: dict[str, np.ndarray], contract: ModelContract) -> dict[str, np.ndarray]:
    """The contract's inference-time prior correction: ``dist * prior**-tau``, renormalised, and the expected age
    recomputed. A model learns the age mix of its training data; dividing part of it out reads the ends of the
    scale (the old, most of all) less towards the middle. No-op without ``age_prior`` or without a distribution."""
    block = contract.age_prior or {}
    tau = float(block.get("tau", 0.0) or 0.0)
    if tau <= 0 or "age_dist" not in outputs:
        return outputs
    prior = np.clip(np.asarray(block["prior"], np.float64), 1e-6, None)
    dist = np.asarray(outputs["age_dist"], np.float64) * prior[None, :] ** -tau
    dist /= dist.sum(axis=1, keepdims=True)
    out = dict(outputs)
    out["age_dist"] = dist.astype(np.float32)
    out["age"] = (dist * np.arange(dist.shape[1])).sum(1, keepdims=True).astype(np.float32)
    return out


def age_interval(dist: np.ndarray, mass: float) -> tuple[float, float]:
    """Central interval holding ``mass`` of the age distribution. Bin ``a`` covers [a - 0.5, a + 0.5)
    and mass is spread evenly inside a bin."""
    cdf = np.concatenate([[0.0], np.cumsum(dist, dtype=np.float64)])
    cdf /= cdf[-1] if cdf[-1] > 0 else 1.0
    edges = np.arange(len(dist) + 1, dtype=np.float64) - 0.5
    tail = (1.0 - mass) / 2
    lo = float(np.interp(tail, cdf, edges))
    hi = float(np.interp(1.0 - tail, cdf, edges))
    return max(lo, 0.0), hi


def gender_label(p_female: float, band: tuple[float, float], labels: tuple[str, ...]) -> str:
    if band[0] <= p_female <= band[1]:
        return "undetermined"
    return labels[1] if p_female > band[1] else labels[0]


def decode(outputs: dict[str, np.ndarray], contract: ModelContract, cfg: Optional[DecodeConfig] = None
           ) -> list[Prediction]:
    cfg = cfg or DecodeConfig()
    dist = outputs.get("age_dist")
    if "age" in outputs:
        ages = np.asarray(outputs["age"], np.float32).reshape(-1)
    else:
        ages = (dist * np.arange(dist.shape[1], dtype=np.float32)).sum(1)
    gender = np.asarray(outputs["gender"], np.float32).reshape(-1)
    race = outputs.get("race")
    preds = []
    for i, age in enumerate(ages):
        d = None if dist is None else np.asarray(dist[i], np.float32)
        rng = age_interval(d, cfg.interval_mass) if d is not None else (float(age), float(age))
        p = float(np.clip(gender[i], 0.0, 1.0))
        r = None
        if cfg.with_race and race is not None:
            r = {label: float(v) for label, v in zip(contract.race_labels, race[i])}
        preds.append(Prediction(age=float(age), age_range=rng, age_group=contract.group_name(float(age), cfg.group_scheme),
                                p_female=p, gender=gender_label(p, cfg.gender_band, contract.gender_labels),
                                race=r, age_dist=d))
    return preds
