"""`agegender calibrate MODEL --data UTK [--data FF]`: fit the age check (and, with --prior-tau, the training-prior
correction) to one model file on the val split and write both into its contract (the fit: train/gate_calibration.py)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from edge.errors import AgeGenderError
from train.gate_calibration import fit_gate, training_age_prior


def _run_on(model, data: str, split: str):
    from train.evaluate import evaluate

    res = evaluate(model, data, split)
    if "age_dist" not in res.outputs:
        raise AgeGenderError(f"{model.path}: the model gives no age distribution; the age check needs one")
    return res


def run_calibrate(args: argparse.Namespace) -> int:
    """``agegender calibrate MODEL --data UTK [--data FF]``: fit the age check (and, with --prior-tau, the prior
    correction) to MODEL on the val split; write both into MODEL's contract."""
    from edge.contract import contract_path_for
    from train.evaluate import load_model_for_eval
    from train.sources import read_source

    path = Path(args.model)
    contract_file = contract_path_for(path)
    if not contract_file.is_file():
        raise AgeGenderError(f"{path}: calibrate writes into {contract_file.name}, which is missing")
    model = load_model_for_eval(path)
    contract = model.contract
    if args.prior_tau > 0:
        mix = [float(v) for v in args.source_mix.split(",")] if args.source_mix else None
        parts = [read_source(d, "train") for d in args.data]
        prior = training_age_prior([p.age_lo for p in parts], [p.age_hi for p in parts],
                                   [p.has_exact_age for p in parts], mix, contract.age_max)
        contract.age_prior = {"tau": args.prior_tau, "prior": [round(float(v), 6) for v in prior],
                              "from": [f"{Path(d).name} train" for d in args.data], "source_mix": mix}
    else:
        contract.age_prior = {}
    # the loaded model reads this same contract object per batch, so the prior correction applies below
    dists, ages, los, his, exacts = [], [], [], [], []
    for d in args.data:
        res = _run_on(model, d, args.split)
        dists.append(res.outputs["age_dist"])
        ages.append(res.outputs["age"].reshape(-1))
        los.append(res.faces.age_lo)
        his.append(res.faces.age_hi)
        exacts.append(res.faces.has_exact_age)
    fit = fit_gate(np.concatenate(dists), np.concatenate(ages), np.concatenate(los), np.concatenate(his),
                   np.concatenate(exacts), args.legal_age)
    contract.age_check = fit.as_contract_block(", ".join(f"{Path(d).name} {args.split}" for d in args.data))
    contract_file.write_text(contract.to_json() + "\n", encoding="utf-8")
    print(json.dumps({"model": str(path), "age_check": contract.age_check,
                      "age_prior_tau": contract.age_prior.get("tau", 0.0)}, indent=2))
    return 0

