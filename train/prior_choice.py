"""Choosing the strength tau of the training-prior correction (edge/vision/decode.py ``correct_age_prior``) on
validation faces, for ``agegender calibrate --prior-tau auto``.

The model is run once per data set with the correction off; each tau on the grid is then applied to those
outputs in numpy and scored with the same metrics as ``agegender evaluate`` (the columns of the recipe table's
"ends" series). The old end is what the correction is for, so the rule is:

- with exact-age faces (UTKFace ``val``): among the taus whose MAE is at most ``max_mae_cost`` above tau = 0, the
  one whose 60+ signed error is closest to zero;
- with age bins alone (FairFace ``val``, for the FairFace-only model, which must not depend on UTKFace): among the
  taus whose age-bin accuracy is at most ``max_bin_cost`` below tau = 0, the one whose faces in the 60-69 and 70+
  bins are read above their bin as often as below it (pooled % above - % below closest to zero);

on a tie, the smaller tau. With neither there is nothing to choose on, and tau stays 0.
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

import numpy as np

from edge.contract import ModelContract
from edge.vision.decode import correct_age_prior
from train.recipe_table import ENDS_COLUMNS, Column, RecipeRun, Series, bin_direction, markdown_table

log = logging.getLogger(__name__)

TAUS = tuple(round(0.05 * i, 2) for i in range(11))   # 0 to 0.5
MAX_MAE_COST = 0.05
MAX_BIN_COST = 0.005
OLD_BINS = ("60-69", "70+")
MARKS = ("<!-- prior-tau -->", "<!-- /prior-tau -->")
COLUMNS = {c.title: c for c in ENDS_COLUMNS}


def old_bins_balance(ff: dict) -> Optional[float]:
    """FairFace faces in the 60-69 and 70+ bins, pooled: % read above their bin minus % read below it (None without
    them). Negative: the old read too young."""
    rows = [cell for b in OLD_BINS if (cell := bin_direction(ff, b)) is not None]
    n = sum(r["n"] for r in rows)
    return None if n == 0 else 100.0 * sum(r["n"] * (r["above"] - r["below"]) for r in rows) / n


OLD_BINS_COLUMN = Column("FF 60+ bins: % above − % below", lambda r: old_bins_balance(r.ff), "num", 0)
BIN_COLUMNS = [COLUMNS["FF age bin"], OLD_BINS_COLUMN, COLUMNS["FF 10–19 bin ≥ 25"], COLUMNS["FF race"]]


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

    def bin_error(self) -> Optional[float]:
        """FairFace age-bin error rate (1 - accuracy): lower is better, as MAE."""
        accuracy = COLUMNS["FF age bin"].get(self.as_run())
        return None if accuracy is None else 1.0 - accuracy

    def old_bins(self) -> Optional[float]:
        return old_bins_balance(self.ff)


def chosen_on_bins(rows: Sequence[TauRow]) -> bool:
    """Whether the rule falls back to age bins: no exact-age faces aged 60+ in the rows."""
    base = min(rows, key=lambda r: r.tau)
    return base.mae() is None or base.old_end() is None


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


def choose_tau(rows: Sequence[TauRow], max_mae_cost: float = MAX_MAE_COST,
               max_bin_cost: float = MAX_BIN_COST) -> TauRow:
    """The row whose 60+ signed error is closest to zero among those within ``max_mae_cost`` of tau 0's MAE; on
    age bins alone, the row whose 60+ bins are read above as often as below among those within ``max_bin_cost``
    of tau 0's age-bin accuracy."""
    if not chosen_on_bins(rows):
        return _closest_to_zero(rows, TauRow.old_end, TauRow.mae, max_mae_cost, digits=3)
    return _closest_to_zero(rows, TauRow.old_bins, TauRow.bin_error, max_bin_cost, digits=1)


def _closest_to_zero(rows: Sequence[TauRow], end: Callable[[TauRow], Optional[float]],
                     cost: Callable[[TauRow], Optional[float]], budget: float, digits: int) -> TauRow:
    """Among the rows whose ``cost`` is at most ``budget`` above tau 0's, the one whose ``end`` is closest to zero
    (rounded to ``digits``; a tie goes to the smaller tau). Tau 0 when tau 0 has no ``end`` or ``cost``."""
    base = min(rows, key=lambda r: r.tau)
    if end(base) is None or cost(base) is None:
        log.warning("no faces aged 60+ (exact or in age bins) to choose the prior correction on: tau stays %.2f",
                    base.tau)
        return base
    eligible = [r for r in rows if end(r) is not None and cost(r) is not None
                and cost(r) <= cost(base) + budget + 1e-9]
    return min(eligible, key=lambda r: (round(abs(end(r)), digits), r.tau))


def tau_table(rows: Sequence[TauRow], chosen: TauRow, max_mae_cost: float = MAX_MAE_COST,
              max_bin_cost: float = MAX_BIN_COST) -> str:
    """Markdown: one row per tau (deltas against tau 0), the chosen one named, and the rule."""
    recipes = {r.name: f"tau {r.tau:.2f}" + (" (**chosen**)" if r is chosen else "") for r in rows}
    runs = [r.as_run() for r in rows]
    base = min(rows, key=lambda r: r.tau)
    if chosen_on_bins(rows):
        columns = BIN_COLUMNS
        rule = (f"Rule (age bins only): among the taus whose FairFace `val` age-bin accuracy is at most "
                f"{100 * max_bin_cost:.1f} pp below tau 0, the one whose faces in the 60-69 and 70+ bins are read "
                f"above their bin as often as below it.")
    else:
        columns = ENDS_COLUMNS
        rule = (f"Rule: among the taus whose UTKFace `val` MAE is at most {max_mae_cost:.2f} y above tau 0, the one "
                f"whose 60+ signed error is closest to zero.")
    table = markdown_table(runs, Series(recipes, columns, MARKS), base_name=base.name, training_columns=False)
    return f"{table}\n\n{rule} Chosen: **tau {chosen.tau:.2f}**."
