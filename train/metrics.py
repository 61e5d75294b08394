"""Evaluation metrics in plain numpy (no TensorFlow), so they are testable and reusable."""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from edge.contract import ModelContract

AGE_BANDS = ((0, 2), (3, 9), (10, 19), (20, 29), (30, 39), (40, 49), (50, 59), (60, 69), (70, 200))


def band_name(band: Sequence[int]) -> str:
    return f"{band[0]}+" if band[1] >= 200 else f"{band[0]}-{band[1]}"


def age_metrics(pred: np.ndarray, true: np.ndarray, contract: ModelContract) -> dict:
    err = np.abs(pred - true)
    g_pred = np.array([contract.group_index(a, "adience") for a in pred])
    g_true = np.array([contract.group_index(a, "adience") for a in true])
    return {
        "n": int(len(true)),
        "mae": float(err.mean()),
        "median_ae": float(np.median(err)),
        "cs5": float((err <= 5).mean()),
        "bias": float((pred - true).mean()),
        "adience_exact": float((g_pred == g_true).mean()),
        "adience_one_off": float((np.abs(g_pred - g_true) <= 1).mean()),
    }


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve from ranks (ties averaged)."""
    labels = labels.astype(bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), np.float64)
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def calibration(p: np.ndarray, labels: np.ndarray, bins: int = 10) -> dict:
    """Expected calibration error of p(female) and the reliability-diagram points."""
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(p, edges) - 1, 0, bins - 1)
    conf, acc, count = [], [], []
    ece = 0.0
    for b in range(bins):
        m = idx == b
        if not m.any():
            conf.append(float("nan")); acc.append(float("nan")); count.append(0)
            continue
        conf.append(float(p[m].mean())); acc.append(float(labels[m].mean())); count.append(int(m.sum()))
        ece += m.mean() * abs(p[m].mean() - labels[m].mean())
    return {"ece": float(ece), "bin_confidence": conf, "bin_frequency": acc, "bin_count": count}


def gender_metrics(p_female: np.ndarray, labels: np.ndarray) -> dict:
    pred = p_female > 0.5
    labels = labels.astype(bool)
    tp = float((pred & labels).sum())
    precision = tp / max(pred.sum(), 1)
    recall = tp / max(labels.sum(), 1)
    return {
        "n": int(len(labels)),
        "accuracy": float((pred == labels).mean()),
        "f1_female": float(2 * precision * recall / max(precision + recall, 1e-9)),
        "roc_auc": roc_auc(p_female, labels),
        **{k: v for k, v in calibration(p_female, labels.astype(np.float64)).items()},
    }


def confusion(pred: np.ndarray, true: np.ndarray, n: int) -> np.ndarray:
    m = np.zeros((n, n), np.int64)
    np.add.at(m, (true, pred), 1)
    return m


def race_metrics(probs: np.ndarray, labels: np.ndarray, names: Sequence[str]) -> dict:
    pred = probs.argmax(1)
    cm = confusion(pred, labels, len(names))
    f1 = {}
    for i, name in enumerate(names):
        tp = cm[i, i]
        prec = tp / max(cm[:, i].sum(), 1)
        rec = tp / max(cm[i].sum(), 1)
        f1[name] = float(2 * prec * rec / max(prec + rec, 1e-9))
    recall = {name: float(cm[i, i] / max(cm[i].sum(), 1)) for i, name in enumerate(names)}
    return {"n": int(len(labels)), "accuracy": float((pred == labels).mean()), "f1": f1, "recall": recall,
            "confusion": cm.tolist(), "labels": list(names)}


def race7_metrics(probs: np.ndarray, labels: np.ndarray, race7: Sequence[str], names: Sequence[str],
                  min_faces: int = 20) -> dict:
    """The 5-class race head over FairFace's 7 groups: per group, accuracy against the group's 5-class label
    and the share of each predicted class (where Latino and Middle Eastern faces go, for instance)."""
    pred = probs.argmax(1)
    race7_arr = np.asarray(race7, dtype=object)
    groups = {}
    for group in sorted({r for r in race7 if r}):
        member = race7_arr == group
        counts = np.bincount(pred[member], minlength=len(names))
        groups[group] = {"n": int(member.sum()), "accuracy": float((pred[member] == labels[member]).mean()),
                         "predicted": {name: float(c / member.sum()) for name, c in zip(names, counts)}}
    accs = [g["accuracy"] for g in groups.values() if g["n"] >= min_faces]
    return {"groups": groups, "labels": list(names), "accuracy_gap": float(max(accs) - min(accs)) if len(accs) >= 2 else None}


def interval_metrics(pred_age: np.ndarray, lo: np.ndarray, hi: np.ndarray, contract: ModelContract) -> dict:
    """FairFace-style age bins: the expected age mapped to a bin, exact and one-off."""
    groups = contract.groups("fairface")
    g_pred = np.array([contract.group_index(a, "fairface") for a in pred_age])
    g_true = np.array([contract.group_index((a + b) / 2, "fairface") for a, b in zip(lo, hi)])
    return {"n": int(len(lo)), "bin_accuracy": float((g_pred == g_true).mean()),
            "bin_one_off": float((np.abs(g_pred - g_true) <= 1).mean()),
            "bins": [f"{g[0]}+" if g[1] is None else f"{g[0]}-{g[1]}" for g in groups],
            "confusion": confusion(g_pred, g_true, len(groups)).tolist()}


def subgroup_table(groups: dict[str, np.ndarray], age_err: Optional[np.ndarray], gender_hit: Optional[np.ndarray]
                   ) -> dict:
    """Per subgroup: n, age MAE and gender accuracy; plus the worst-to-best gaps."""
    rows = {}
    for name, mask in groups.items():
        if not mask.any():
            continue
        row = {"n": int(mask.sum())}
        if age_err is not None and not np.all(np.isnan(age_err[mask])):
            row["age_mae"] = float(np.nanmean(age_err[mask]))
        if gender_hit is not None:
            row["gender_accuracy"] = float(gender_hit[mask].mean())
        rows[name] = row
    gaps = {}
    for key in ("age_mae", "gender_accuracy"):
        vals = [r[key] for r in rows.values() if key in r and r["n"] >= 20]
        if len(vals) >= 2:
            gaps[key] = float(max(vals) - min(vals))
    return {"rows": rows, "gaps": gaps}


# ---------------------------------------------------------------------------- bias tables
BIAS_BANDS = ((0, 9), (10, 19), (20, 39), (40, 59), (60, 200))
BIAS_MIN_FACES = 50   # cells with fewer faces are shown but not held to the target


def signed_error_table(pred: np.ndarray, true: np.ndarray, race: np.ndarray, has_race: np.ndarray,
                       race_names: Sequence[str], min_faces: int = BIAS_MIN_FACES) -> dict:
    """Mean signed age error (predicted - true, years) per age band x race group: positive reads
    too old. ``worst`` is the largest |mean| over cells with at least ``min_faces`` faces."""
    cells: dict = {}
    worst = None
    columns = [(name, has_race & (race == i)) for i, name in enumerate(race_names)] + [("all", np.ones(len(true), bool))]
    for band in BIAS_BANDS:
        in_band = (true >= band[0]) & (true <= band[1])
        row = {}
        for name, member in columns:
            sel = in_band & member
            if not sel.any():
                continue
            mean = float(np.mean(pred[sel] - true[sel]))
            row[name] = {"n": int(sel.sum()), "mean_signed": mean}
            if name != "all" and sel.sum() >= min_faces and (worst is None or abs(mean) > abs(worst["mean_signed"])):
                worst = {"band": band_name(band), "race": name, "n": int(sel.sum()), "mean_signed": mean}
        cells[band_name(band)] = row
    return {"cells": cells, "columns": [c for c, _ in columns], "min_faces": min_faces, "worst": worst}


def bin_direction_table(pred: np.ndarray, lo: np.ndarray, hi: np.ndarray, groups: Sequence[str]) -> dict:
    """Per true age bin x group: the share of faces whose expected age falls above and below the bin
    (the same edges as ``interval_metrics``)."""
    above = pred >= hi + 0.5
    below = pred < lo - 0.5
    groups = np.asarray(list(groups), dtype=object)
    names = sorted({g for g in groups if g}) + ["all"]
    cells: dict = {}
    for b_lo, b_hi in sorted({(float(a), float(b)) for a, b in zip(lo, hi)}):
        in_bin = (lo == b_lo) & (hi == b_hi)
        label = f"{int(b_lo)}+" if b_hi >= 100 else f"{int(b_lo)}-{int(b_hi)}"
        row = {}
        for name in names:
            sel = in_bin & ((groups == name) if name != "all" else True)
            if np.any(sel):
                row[name] = {"n": int(np.sum(sel)), "above": float(above[sel].mean()), "below": float(below[sel].mean())}
        cells[label] = row
    return {"cells": cells, "columns": names}
