"""Age-verification metrics in plain numpy: how often a minor is read as old enough, and what that costs
adults, as NIST's FATE age-verification track reports them ("Challenge-T": ask for ID from anyone who looks
under T).

Every rate comes with its face count and a 95% bootstrap interval, because the groups that matter are small
(UTKFace has about 80 faces aged 13-17 per split)."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional, Sequence

import numpy as np

CHALLENGES = (21, 25)
LEGAL_AGE = 18
SMALL_GROUP = 30          # groups under this many faces are shown with their n, not compared
BOOTSTRAP_SAMPLES = 2000


@dataclass
class Rate:
    """A share of ``n`` faces with its 95% bootstrap interval."""

    rate: Optional[float]
    n: int
    lo: Optional[float] = None
    hi: Optional[float] = None

    def as_dict(self) -> dict:
        return asdict(self)


def rate_text(r: Optional[dict], with_n: bool = True) -> str:
    """A :class:`Rate` (as a dict) for a table: ``10.1% [3.8–16.5] (n 79)``; ⚠ marks n under 30."""
    if not r or r.get("rate") is None:
        return "–"
    interval = f" [{100 * r['lo']:.1f}–{100 * r['hi']:.1f}]" if r.get("lo") is not None else ""
    count = f" (n {r['n']}{' ⚠' if r['n'] < SMALL_GROUP else ''})" if with_n else ""
    return f"{100 * r['rate']:.1f}%{interval}{count}"


def share(hits: np.ndarray, seed: int = 0, samples: int = BOOTSTRAP_SAMPLES) -> Rate:
    """The share of True in ``hits`` with a percentile bootstrap interval (fixed seed: reports are repeatable)."""
    hits = np.asarray(hits, bool)
    n = int(hits.size)
    if n == 0:
        return Rate(None, 0)
    rng = np.random.default_rng(seed)
    means = hits[rng.integers(0, n, size=(samples, n))].mean(1)
    return Rate(float(hits.mean()), n, float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975)))


def _in(age: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return (age >= lo) & (age <= hi)


def exact_age_table(pred: np.ndarray, true: np.ndarray, challenges: Sequence[int] = CHALLENGES,
                    legal_age: int = LEGAL_AGE, p_minor: Optional[np.ndarray] = None) -> dict:
    """Challenge-T rates on faces with exact ages.

    - ``minors_passed[T]``: faces aged 13-17 estimated >= T (the Challenge-T false positive rate);
    - ``children_read_adult``: faces aged 3-12 estimated >= legal age;
    - ``adults_referred[T]``: faces aged >= T estimated under T (the cost: adults asked for ID);
    - ``young_adults_passed[T]``: faces aged legal age..20 estimated >= T;
    - ``signed_error``: mean predicted - true age at 10-19 and at 60+;
    - with ``p_minor`` (P(age < legal age)), ``confident_minors_missed``: 13-17s given P(minor) under 2%."""
    pred, true = np.asarray(pred, np.float64), np.asarray(true, np.float64)
    teen = _in(true, 13, 17)
    out: dict = {"legal_age": legal_age, "minors_passed": {}, "adults_referred": {}, "young_adults_passed": {}}
    for t in challenges:
        out["minors_passed"][str(t)] = share(pred[teen] >= t).as_dict()
        out["adults_referred"][str(t)] = share(pred[true >= t] < t).as_dict()
        out["young_adults_passed"][str(t)] = share(pred[_in(true, legal_age, 20)] >= t).as_dict()
    out["children_read_adult"] = share(pred[_in(true, 3, 12)] >= legal_age).as_dict()
    out["signed_error"] = {}
    for name, sel in (("10-19", _in(true, 10, 19)), ("60+", true >= 60), ("13-17", teen)):
        if sel.any():
            out["signed_error"][name] = {"mean": float(np.mean(pred[sel] - true[sel])), "n": int(sel.sum())}
    if p_minor is not None:
        out["confident_minors_missed"] = share(np.asarray(p_minor)[teen] < 0.02).as_dict()
    return out


def grouped_minors_passed(pred: np.ndarray, true: np.ndarray, groups: dict[str, np.ndarray],
                          challenges: Sequence[int] = CHALLENGES) -> dict:
    """``minors_passed`` per group (gender, race): each with its n; ``small`` marks n under 30."""
    teen = _in(np.asarray(true, np.float64), 13, 17)
    rows = {}
    for name, member in groups.items():
        sel = teen & member
        if not sel.any():
            continue
        rows[name] = {"n": int(sel.sum()), "small": bool(sel.sum() < SMALL_GROUP),
                      **{str(t): share(np.asarray(pred)[sel] >= t).as_dict() for t in challenges}}
    return rows


def age_bin_table(pred: np.ndarray, lo: np.ndarray, hi: np.ndarray, legal_age: int = LEGAL_AGE,
                  challenges: Sequence[int] = CHALLENGES) -> dict:
    """FairFace's bins: the share of the 10-19 bin estimated >= T, and of the 3-9 bin estimated >= legal age."""
    pred = np.asarray(pred, np.float64)
    teens = (lo == 10) & (hi == 19)
    kids = (lo == 3) & (hi == 9)
    out = {"bin_10_19_passed": {str(t): share(pred[teens] >= t).as_dict() for t in challenges},
           "bin_3_9_read_adult": share(pred[kids] >= legal_age).as_dict()}
    return out


def summary_row(table: dict) -> dict:
    """The figures the recipe table and the model cards choose on, flat."""
    row = {}
    for t, r in table.get("minors_passed", {}).items():
        row[f"minors_passed_{t}"] = r["rate"]
    for t, r in table.get("adults_referred", {}).items():
        row[f"adults_referred_{t}"] = r["rate"]
    for t, r in table.get("bin_10_19_passed", {}).items():
        row[f"bin_10_19_passed_{t}"] = r["rate"]
    for band, r in table.get("signed_error", {}).items():
        row[f"signed_error_{band}"] = r["mean"]
    return row


def verification_metrics(age: np.ndarray, dist: Optional[np.ndarray], lo: np.ndarray, hi: np.ndarray,
                         exact: np.ndarray, true_age: np.ndarray, groups: dict[str, np.ndarray],
                         legal_age: int = LEGAL_AGE, temperature: float = 1.0) -> dict:
    """The Challenge-T tables of one evaluation: exact ages (with per-group minors), and age bins."""
    from edge.age_gate import p_minor as minor_probability

    out: dict = {}
    exact = np.asarray(exact, bool)
    if exact.any():
        p = None if dist is None else minor_probability(dist[exact], legal_age, temperature)
        out["exact"] = exact_age_table(age[exact], true_age[exact], legal_age=legal_age, p_minor=p)
        out["exact"]["groups"] = grouped_minors_passed(age[exact], true_age[exact],
                                                       {k: v[exact] for k, v in groups.items()})
    interval = ~exact & (np.asarray(hi) > np.asarray(lo))
    if interval.any():
        out["bins"] = age_bin_table(age[interval], np.asarray(lo)[interval], np.asarray(hi)[interval], legal_age)
    return out

