"""Fitting the age check (edge/age_gate.py) and the age-prior correction to one model file, on validation faces.

- **Temperature** of P(age < legal age): the one that minimises the cross-entropy of P(minor) against faces whose
  side of the legal age is known (exact ages; age bins wholly on one side).
- **alpha per challenge age T**: the largest P(minor) bound under which at most ``max_pass`` of the validation
  minors (UTKFace 13-17 and FairFace's 10-19 bin, pooled) would be judged "adult" at T.
- **Training age prior** for the prior correction: the age mix the model was trained on (exact ages as they are,
  age bins spread evenly, the open top bin up to 90), each data set at its share of the source mix.

Plain numpy; `agegender calibrate` (train/calibrate_cli.py) runs the model and writes the fit into its contract.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

from edge.age_gate import p_minor
from edge.errors import AgeGenderError

log = logging.getLogger(__name__)

TEMPERATURES = np.geomspace(0.5, 5.0, 47)
# alpha is searched up to 0.2: a face with a one-in-five chance of being a minor is never judged adult, whatever
# the validation set allows
RISKS = np.geomspace(1e-4, 0.2, 80)
CHALLENGE_AGES = (18, 21, 25)
MAX_PASS = 0.02


@dataclass
class GateFit:
    legal_age: int
    temperature: float
    risk: dict[str, float] = field(default_factory=dict)
    val: dict = field(default_factory=dict)

    def as_contract_block(self, fitted_on: str) -> dict:
        return {"legal_age": self.legal_age, "temperature": round(self.temperature, 4),
                "risk": {t: round(a, 5) for t, a in self.risk.items()}, "fitted_on": fitted_on,
                "max_minors_passed": MAX_PASS, "val": self.val}


def known_minor(lo: np.ndarray, hi: np.ndarray, exact: np.ndarray, legal_age: int) -> tuple[np.ndarray, np.ndarray]:
    """(is_minor, known): exact ages always; an age bin only when it lies wholly on one side."""
    lo, hi, exact = np.asarray(lo), np.asarray(hi), np.asarray(exact, bool)
    minor = np.where(exact, lo < legal_age, hi < legal_age)
    known = exact | (hi < legal_age) | (lo >= legal_age)
    return minor.astype(bool), known.astype(bool)


def fit_temperature(dist: np.ndarray, minor: np.ndarray, legal_age: int,
                    grid: Sequence[float] = TEMPERATURES) -> float:
    """The temperature on ``grid`` with the lowest cross-entropy of P(minor) against ``minor``."""
    if len(minor) == 0 or minor.all() or not minor.any():
        raise AgeGenderError("calibration needs faces on both sides of the legal age")
    best, best_loss = 1.0, np.inf
    for t in grid:
        p = np.clip(p_minor(dist, legal_age, float(t)), 1e-7, 1 - 1e-7)
        loss = -np.mean(minor * np.log(p) + (~minor) * np.log(1 - p))
        if loss < best_loss:
            best, best_loss = float(t), loss
    return best


def passed(p: np.ndarray, age: np.ndarray, challenge_age: float, risk: float) -> np.ndarray:
    """Which faces the rule of :func:`edge.age_gate.decide` would judge "adult"."""
    return (np.asarray(p) < risk) & (np.asarray(age) >= challenge_age)


def choose_risk(p_minors: np.ndarray, age_minors: np.ndarray, challenge_age: float, max_pass: float = MAX_PASS,
                grid: Sequence[float] = RISKS) -> float:
    """The largest alpha on ``grid`` that passes at most ``max_pass`` of the minors."""
    ok = [float(a) for a in grid if passed(p_minors, age_minors, challenge_age, a).mean() <= max_pass]
    return max(ok) if ok else float(min(grid))


def tradeoff_curve(p: np.ndarray, age: np.ndarray, true_age: np.ndarray, challenge_age: float,
                   grid: Sequence[float] = RISKS) -> list[dict]:
    """Per alpha: the share of 13-17s passed and of adults aged >= T referred (exact ages)."""
    teen = (true_age >= 13) & (true_age <= 17)
    adult = true_age >= challenge_age
    rows = []
    for a in grid:
        ok = passed(p, age, challenge_age, float(a))
        rows.append({"risk": float(a), "minors_passed": float(ok[teen].mean()) if teen.any() else None,
                     "adults_referred": float((~ok[adult]).mean()) if adult.any() else None})
    return rows


def reliability(p: np.ndarray, minor: np.ndarray, bins: int = 10) -> dict:
    """Reliability-diagram points of P(minor): mean predicted and observed share per bin, and the ECE."""
    from train.metrics import calibration

    return calibration(np.asarray(p, np.float64), np.asarray(minor, np.float64), bins)


def gate_rates(p: np.ndarray, age: np.ndarray, true_age: np.ndarray, challenge_age: float, risk: float) -> dict:
    """The gate's error rates on exact ages, with bootstrap intervals."""
    from train.age_verification import share

    ok = passed(p, age, challenge_age, risk)
    teen = (true_age >= 13) & (true_age <= 17)
    return {"challenge_age": challenge_age, "risk": risk,
            "minors_passed": share(ok[teen]).as_dict(),
            "children_passed": share(ok[(true_age >= 3) & (true_age <= 12)]).as_dict(),
            "adults_referred": share(~ok[true_age >= challenge_age]).as_dict(),
            "adults_25_referred": share(~ok[true_age >= 25]).as_dict()}


def fit_gate(dist: np.ndarray, age: np.ndarray, lo: np.ndarray, hi: np.ndarray, exact: np.ndarray,
             legal_age: int = 18, challenge_ages: Sequence[int] = CHALLENGE_AGES,
             max_pass: float = MAX_PASS) -> GateFit:
    """Temperature on every face with a known side of the legal age; alpha per T on the pooled minors (exact
    13-17 and the 10-19 bin)."""
    minor, known = known_minor(lo, hi, exact, legal_age)
    temperature = fit_temperature(dist[known], minor[known], legal_age)
    p = p_minor(dist, legal_age, temperature)
    exact = np.asarray(exact, bool)
    pool = (exact & (lo >= 13) & (lo <= 17)) | (~exact & (lo == 10) & (hi == 19))
    fit = GateFit(legal_age, temperature)
    for t in challenge_ages:
        fit.risk[str(t)] = choose_risk(p[pool], age[pool], t, max_pass)
    rel = reliability(p[known], minor[known])
    fit.val = {"faces": int(known.sum()), "pooled_minors": int(pool.sum()), "ece": rel["ece"],
               "ece_untempered": reliability(p_minor(dist[known], legal_age, 1.0), minor[known])["ece"],
               "pooled_minors_passed": {str(t): float(passed(p[pool], age[pool], t, fit.risk[str(t)]).mean())
                                        for t in challenge_ages}}
    return fit


def training_age_prior(parts_lo: list[np.ndarray], parts_hi: list[np.ndarray], parts_exact: list[np.ndarray],
                       shares: Optional[Sequence[float]] = None, age_max: int = 100,
                       open_top: float = 90.0) -> np.ndarray:
    """The age mix a model was trained on, over 0..age_max: each source's faces (exact ages as one-hot, age
    bins spread evenly, an open top bin up to ``open_top``) at that source's share."""
    shares = np.asarray(shares if shares is not None else [len(p) for p in parts_lo], np.float64)
    shares = shares / shares.sum()
    prior = np.zeros(age_max + 1)
    for share_, lo, hi, exact in zip(shares, parts_lo, parts_hi, parts_exact):
        h = np.zeros(age_max + 1)
        for a, b, e in zip(lo, hi, exact):
            a = int(min(max(a, 0), age_max))
            b = int(min(max(b, a), age_max if b < age_max else open_top)) if not e else a
            h[a:b + 1] += 1.0 / (b - a + 1)
        prior += share_ * h / max(h.sum(), 1e-9)
    return prior / prior.sum()

def gate_metrics(age: np.ndarray, dist: np.ndarray, lo: np.ndarray, hi: np.ndarray, exact: np.ndarray,
                 true_age: np.ndarray, groups: dict[str, np.ndarray], gate) -> dict:
    """``evaluate --age-gate T``: the gate's rates (exact ages, per group), FairFace's 10-19 bin passed, the
    trade-off curve over alpha and the reliability of P(minor). ``gate`` is an ``edge.age_gate.AgeGate``."""
    from train.age_verification import SMALL_GROUP, share

    s = gate.settings
    p = p_minor(dist, s.legal_age, gate.temperature)
    exact = np.asarray(exact, bool)
    out: dict = {"settings": gate.describe()}
    if exact.any():
        t_age = true_age[exact]
        out["exact"] = gate_rates(p[exact], age[exact], t_age, s.challenge_age, gate.risk)
        ok = passed(p[exact], age[exact], s.challenge_age, gate.risk)
        teen = (t_age >= 13) & (t_age <= 17)
        out["exact"]["groups"] = {}
        for name, member in groups.items():
            sel = teen & member[exact]
            if sel.any():
                out["exact"]["groups"][name] = {**share(ok[sel]).as_dict(), "small": bool(sel.sum() < SMALL_GROUP)}
        out["tradeoff"] = tradeoff_curve(p[exact], age[exact], t_age, s.challenge_age)
    teens = ~exact & (np.asarray(lo) == 10) & (np.asarray(hi) == 19)
    if teens.any():
        out["bin_10_19_passed"] = share(passed(p[teens], age[teens], s.challenge_age, gate.risk)).as_dict()
    minor, known = known_minor(lo, hi, exact, s.legal_age)
    if known.any() and minor[known].any() and not minor[known].all():
        out["reliability"] = reliability(p[known], minor[known])
    return out
