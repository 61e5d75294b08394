"""How closely an exported model agrees with its Keras reference on the same faces."""
from __future__ import annotations

import numpy as np

from edge.contract import ModelContract


def compare_outputs(reference: dict, candidate: dict, contract: ModelContract) -> dict:
    """Agreement between two models' outputs on the same faces."""
    a_ref, a_c = reference["age"].reshape(-1), candidate["age"].reshape(-1)
    g_ref, g_c = reference["gender"].reshape(-1), candidate["gender"].reshape(-1)
    groups_ref = np.array([contract.group_index(a) for a in a_ref])
    groups_c = np.array([contract.group_index(a) for a in a_c])
    out = {"age_abs_diff_mean": float(np.abs(a_ref - a_c).mean()), "age_abs_diff_max": float(np.abs(a_ref - a_c).max()),
           "gender_abs_diff_max": float(np.abs(g_ref - g_c).max()),
           "same_gender_decision": float(((g_ref > 0.5) == (g_c > 0.5)).mean()),
           "same_age_group": float((groups_ref == groups_c).mean())}
    if "race" in reference and "race" in candidate:
        out["same_race"] = float((reference["race"].argmax(1) == candidate["race"].argmax(1)).mean())
    return out
