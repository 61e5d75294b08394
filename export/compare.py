"""How closely an exported model agrees with its Keras reference on the same faces."""
from __future__ import annotations

import numpy as np

from edge.contract import ModelContract


def compare_outputs(reference: dict, candidate: dict, contract: ModelContract) -> dict:
    """Agreement between two models' outputs on the same faces, face by face: the mean, p95 and max of
    |age - reference age|, and the share of gender decisions that differ."""
    a_ref, a_c = reference["age"].reshape(-1), candidate["age"].reshape(-1)
    g_ref, g_c = reference["gender"].reshape(-1), candidate["gender"].reshape(-1)
    groups_ref = np.array([contract.group_index(a) for a in a_ref])
    groups_c = np.array([contract.group_index(a) for a in a_c])
    diff = np.abs(a_ref - a_c)
    same_gender = (g_ref > 0.5) == (g_c > 0.5)
    out = {"n": int(len(diff)), "age_abs_diff_mean": float(diff.mean()),
           "age_abs_diff_p95": float(np.percentile(diff, 95)), "age_abs_diff_max": float(diff.max()),
           "gender_abs_diff_max": float(np.abs(g_ref - g_c).max()),
           "same_gender_decision": float(same_gender.mean()), "gender_flips": int((~same_gender).sum()),
           "same_age_group": float((groups_ref == groups_c).mean())}
    if "race" in reference and "race" in candidate:
        out["same_race"] = float((reference["race"].argmax(1) == candidate["race"].argmax(1)).mean())
    return out
