"""`agegender calibrate MODEL --data UTK [--data FF]`: fit the age check (and, with --prior-tau, the training-prior
correction) to one model file on the val split and write both into its contract (the fit: train/gate_calibration.py)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Optional

import numpy as np

from edge.errors import AgeGenderError
from train.gate_calibration import fit_gate, training_age_prior


def _run_on(model, data: str, split: str):
    from train.evaluate import evaluate

    res = evaluate(model, data, split)
    if "age_dist" not in res.outputs:
        raise AgeGenderError(f"{model.path}: the model gives no age distribution; the age check needs one")
    return res


def _prior_tau(text: str) -> Optional[float]:
    """``--prior-tau``: a number >= 0, or ``auto`` (None: chosen on the split, train/prior_choice.py)."""
    if str(text).strip().lower() == "auto":
        return None
    try:
        tau = float(text)
    except ValueError:
        raise AgeGenderError(f"--prior-tau {text}: give a number (0 turns the correction off) or auto") from None
    if tau < 0:
        raise AgeGenderError(f"--prior-tau {text}: must be 0 or more")
    return tau


def run_calibrate(args: argparse.Namespace) -> int:
    """``agegender calibrate MODEL --data UTK [--data FF]``: fit the age check (and, with --prior-tau, the prior
    correction) to MODEL on the val split; write both into MODEL's contract."""
    from edge.contract import contract_path_for
    from edge.vision.decode import correct_age_prior
    from train.evaluate import load_model_for_eval
    from train.prior_choice import Scored, choose_tau, prior_block, score_taus, tau_table
    from train.sources import read_source

    path = Path(args.model)
    contract_file = contract_path_for(path)
    if not contract_file.is_file():
        raise AgeGenderError(f"{path}: calibrate writes into {contract_file.name}, which is missing")
    tau = _prior_tau(args.prior_tau)
    model = load_model_for_eval(path)
    contract = model.contract
    # the loaded model reads this same contract object per batch: run it uncorrected, correct in numpy below
    contract.age_prior = {}
    scored = []
    for d in args.data:
        res = _run_on(model, d, args.split)
        scored.append(Scored(res.outputs, res.faces))
    block: dict = {}
    prior: list[float] = []
    if tau is None or tau > 0:
        mix = [float(v) for v in args.source_mix.split(",")] if args.source_mix else None
        parts = [read_source(d, "train") for d in args.data]
        prior = [round(float(v), 6) for v in training_age_prior(
            [p.age_lo for p in parts], [p.age_hi for p in parts], [p.has_exact_age for p in parts], mix,
            contract.age_max)]
        block = {"from": [f"{Path(d).name} train" for d in args.data], "source_mix": mix}
    if tau is None:
        rows = score_taus(scored, contract, prior, block)
        bin_cost = args.prior_max_bin_cost / 100
        chosen = choose_tau(rows, args.prior_max_mae_cost, bin_cost)
        tau = chosen.tau
        block["chosen_on"] = f"{', '.join(Path(d).name for d in args.data)} {args.split}"
        if args.prior_report:
            data = " ".join(f"--data {Path(d).name.upper()}" for d in args.data)
            data += f" --source-mix {args.source_mix}" if args.source_mix else ""
            head = (f"# Training-prior correction of `{path.name}`: tau chosen on {block['chosen_on']}\n\n"
                    f"Reproduce: `agegender calibrate MODEL {data} --prior-tau auto --prior-report FILE` "
                    "(docs/training.md).\n\n")
            table = tau_table(rows, chosen, args.prior_max_mae_cost, bin_cost)
            Path(args.prior_report).write_text(head + table + "\n", encoding="utf-8")
    contract.age_prior = prior_block(tau, prior, block)
    outs = [correct_age_prior(s.outputs, contract) for s in scored]
    fit = fit_gate(np.concatenate([o["age_dist"] for o in outs]),
                   np.concatenate([o["age"].reshape(-1) for o in outs]),
                   np.concatenate([s.faces.age_lo for s in scored]), np.concatenate([s.faces.age_hi for s in scored]),
                   np.concatenate([s.faces.has_exact_age for s in scored]), args.legal_age)
    contract.age_check = fit.as_contract_block(", ".join(f"{Path(d).name} {args.split}" for d in args.data))
    contract_file.write_text(contract.to_json() + "\n", encoding="utf-8")
    print(json.dumps({"model": str(path), "age_check": contract.age_check,
                      "age_prior_tau": contract.age_prior.get("tau", 0.0)}, indent=2))
    return 0
