"""Choosing the strength tau of the training-prior correction (edge/vision/decode.py ``correct_age_prior``) on
validation faces, for ``agegender calibrate --prior-tau auto``.

The model is run once per data set with the correction off; each tau on the grid is then applied to those
outputs in numpy and scored with the same metrics as ``agegender evaluate`` (the columns of the recipe table's
"ends" series). The rule: among the taus whose UTKFace ``val`` MAE is at most ``max_mae_cost`` above tau = 0,
take the one whose 60+ signed error is closest to zero (the old end is what the correction is for); on a tie, the
smaller tau. Without exact-age faces there is no 60+ column, and tau stays 0.
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import Optional, Sequence

import numpy as np

from edge.contract import ModelContract
from edge.vision.decode import correct_age_prior
from train.recipe_table import ENDS_COLUMNS, RecipeRun, Series, markdown_table

log = logging.getLogger(__name__)

TAUS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25)
MAX_MAE_COST = 0.05
MARKS = ("<!-- prior-tau -->", "<!-- /prior-tau -->")
COLUMNS = {c.title: c for c in ENDS_COLUMNS}


@dataclass
class Scored:
    """One data set's model outputs (correction off) with its faces."""
    outputs: dict
    faces: object                  # train.sources.LabeledFaces

    @property
    def exact(self) -> bool:
        return bool(np.asarray(self.faces.has_exact_age).any())


@dataclass
class TauRow:
    tau: float
    utk: dict = field(default_factory=dict)    # evaluate metrics of the exact-age data (UTKFace val)
    ff: dict = field(default_factory=dict)     # evaluate metrics of the age-bin data (FairFace val)

    @property
    def name(self) -> str:
        return f"tau_{self.tau:.2f}"

    def as_run(self) -> RecipeRun:
        return RecipeRun(self.name, self.utk, self.ff)

    def mae(self) -> Optional[float]:
        return COLUMNS["UTK MAE"].get(self.as_run())

    def old_end(self) -> Optional[float]:
        return COLUMNS["UTK 60+ signed error"].get(self.as_run())


def prior_block(tau: float, prior: Sequence[float], extra: dict) -> dict:
    """The contract's ``age_prior`` block at strength ``tau`` (empty at tau 0: the correction off)."""
    return {**extra, "tau": tau, "prior": list(prior)} if tau > 0 else {}


def with_prior(contract: ModelContract, tau: float, prior: Sequence[float], extra: dict) -> ModelContract:
    """A copy of ``contract`` carrying :func:`prior_block`."""
    return dataclasses.replace(contract, age_prior=prior_block(tau, prior, extra))


def score_taus(scored: Sequence[Scored], contract: ModelContract, prior: Sequence[float], block: dict,
               taus: Sequence[float] = TAUS) -> list[TauRow]:
    """Each tau on the grid applied to the uncorrected outputs and scored (metrics as ``agegender evaluate``)."""
    from train.evaluate import compute_metrics

    rows = []
    for tau in taus:
        c = with_prior(contract, tau, prior, block)
        row = TauRow(float(tau))
        for s in scored:
            metrics = compute_metrics(correct_age_prior(s.outputs, c), s.faces, c)
            if s.exact:
                row.utk = metrics
            else:
                row.ff = metrics
        rows.append(row)
    return rows


def choose_tau(rows: Sequence[TauRow], max_mae_cost: float = MAX_MAE_COST) -> TauRow:
    """The row whose 60+ signed error is closest to zero among those within ``max_mae_cost`` of tau 0's MAE."""
    base = min(rows, key=lambda r: r.tau)
    if base.mae() is None or base.old_end() is None:
        log.warning("no exact-age faces aged 60+ to choose the prior correction on: tau stays %.2f", base.tau)
        return base
    eligible = [r for r in rows if r.mae() is not None and r.old_end() is not None
                and r.mae() <= base.mae() + max_mae_cost + 1e-9]
    return min(eligible, key=lambda r: (round(abs(r.old_end()), 3), r.tau))


def tau_table(rows: Sequence[TauRow], chosen: TauRow, max_mae_cost: float) -> str:
    """Markdown: one row per tau (deltas against tau 0), the chosen one named, and the rule."""
    recipes = {r.name: f"tau {r.tau:.2f}" + (" (**chosen**)" if r is chosen else "") for r in rows}
    runs = [r.as_run() for r in rows]
    base = min(rows, key=lambda r: r.tau)
    table = markdown_table(runs, Series(recipes, ENDS_COLUMNS, MARKS), base_name=base.name, training_columns=False)
    rule = (f"Rule: among the taus whose UTKFace `val` MAE is at most {max_mae_cost:.2f} y above tau 0, the one whose "
            f"60+ signed error is closest to zero. Chosen: **tau {chosen.tau:.2f}**.")
    return f"{table}\n\n{rule}"
