"""The recipe table of ``models/RECIPES.md``: one row per controlled training run, scored on
UTKFace ``val`` and FairFace ``val``, with deltas against the baseline row.

``train/recipes/run.sh`` leaves, per recipe, a folder ``models/recipes/NAME/`` with the run's
``config.json`` and ``history.csv`` and the ``agegender evaluate --out`` folders ``utkface_val/`` and
``fairface_val/``; an optional ``latency.json`` (``agegender bench latency`` of the run's INT8 export)
gives the cost per face (batch 1 on 2 threads; for a ``*_flip`` row, one batch of two crops). ``agegender recipe-table`` turns them into Markdown, so the table is
regenerated, never typed.
"""
from __future__ import annotations

import argparse
import csv
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from edge.errors import AgeGenderError

log = logging.getLogger(__name__)

BASELINE = "baseline"
MARK_BEGIN, MARK_END = "<!-- recipe-table -->", "<!-- /recipe-table -->"

# What each recipe changes against the baseline, in the order the table shows them
RECIPES: dict[str, str] = {
    "baseline": "96 px, LDL + L1 age loss, source mix 1,1, frozen through block_2_add",
    "size112": "input 112 px",
    "size128": "input 128 px",
    "mean_variance": "mean-variance age loss",
    "balance_age": "age-balanced sampling (1/√count per age band)",
    "balance_age_race7": "age × race7-balanced sampling",
    "freeze_block5": "frozen through block_5_add (the first 6 blocks)",
    "finetune_all": "whole backbone fine-tuned",
    "ema": "weight EMA 0.999",
    "mixup": "mixup, Beta(0.2, 0.2)",
    "baseline_flip": "baseline + horizontal-flip averaging at inference",
    "baseline_seed2": "the baseline again with another seed: how far a row moves by chance",
}


@dataclass
class Column:
    title: str
    get: Callable[["RecipeRun"], Optional[float]]
    fmt: str = "num"          # num | pct | pp | int
    better: int = -1          # -1: lower is better, +1: higher, 0: neither


@dataclass
class RecipeRun:
    name: str
    utk: dict = field(default_factory=dict)     # evaluate metrics.json, UTKFace val
    ff: dict = field(default_factory=dict)      # evaluate metrics.json, FairFace val
    samples: Optional[int] = None
    samples_per_s: Optional[float] = None       # fine-tuning epochs, mean
    ms_per_face: Optional[float] = None


def _bias(run: RecipeRun, band: str) -> Optional[float]:
    cell = run.utk.get("age", {}).get("bias_by_band_race", {}).get("cells", {}).get(band, {}).get("all")
    return None if cell is None else cell["mean_signed"]


def bin_direction(ff: dict, label: str) -> Optional[dict]:
    """FairFace metrics' cell for one true age bin over all groups: ``{"n", "above", "below"}`` (shares read above
    and below the bin), or None without faces in it."""
    return ff.get("age_bins", {}).get("direction_by_bin_race", {}).get("cells", {}).get(label, {}).get("all")


def _bin_acc(run: RecipeRun, label: str) -> Optional[float]:
    cell = bin_direction(run.ff, label)
    return None if cell is None else 1.0 - cell["above"] - cell["below"]


def _get(d: dict, *keys) -> Optional[float]:
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


COLUMNS = [
    Column("UTK MAE", lambda r: _get(r.utk, "age", "mae")),
    Column("UTK CS@5", lambda r: _get(r.utk, "age", "cs5"), "pct", +1),
    Column("UTK gender", lambda r: _get(r.utk, "gender", "accuracy"), "pct", +1),
    Column("UTK race", lambda r: _get(r.utk, "race", "accuracy"), "pct", +1),
    Column("UTK 10–19 signed error", lambda r: _bias(r, "10-19"), "num", 0),
    Column("UTK 60+ signed error", lambda r: _bias(r, "60+"), "num", 0),
    Column("FF age bin", lambda r: _get(r.ff, "age_bins", "bin_accuracy"), "pct", +1),
    Column("FF 10–19 bin", lambda r: _bin_acc(r, "10-19"), "pct", +1),
    Column("FF one-off", lambda r: _get(r.ff, "age_bins", "bin_one_off"), "pct", +1),
    Column("FF gender", lambda r: _get(r.ff, "gender", "accuracy"), "pct", +1),
    Column("FF race", lambda r: _get(r.ff, "race", "accuracy"), "pct", +1),
    Column("FF gender gap over race7", lambda r: _get(r.ff, "gender", "gap_over_race7"), "pp", -1),
]


def _verif(d: dict, part: str, *keys) -> Optional[float]:
    return _get(d, "age_verification", part, *keys)


# The series on the ends of the age scale (issue #25; models/RECIPES.md, second table): the columns to choose on
ENDS_RECIPES: dict[str, str] = {
    "baseline": "96 px, LDL + L1 age loss, source mix 1,1, frozen through block_2_add (run again, scored anew)",
    "baseline_seed2": "the baseline again with another seed: how far a row moves by chance",
    "threshold_loss": "+ cross-entropy of P(age < 18) and P(age < 25), weight 1 (exact ages; bins wholly on one side)",
    "young_weight": "ages 5–25 (bins by their middle: FairFace 10–19) sampled twice as often",
    "age_sigma": "label width 1.0 y up to 18, then + 0.08 y per year (narrow in youth)",
    "finetune_all_128": "whole backbone fine-tuned at 128 px",
    "baseline_prior025": "baseline + training-prior correction at inference, tau 0.25",
    "baseline_prior05": "baseline + training-prior correction at inference, tau 0.5",
}

ENDS_COLUMNS = [
    Column("UTK MAE", lambda r: _get(r.utk, "age", "mae")),
    Column("UTK 10–19 signed error", lambda r: _verif(r.utk, "exact", "signed_error", "10-19", "mean"), "num", 0),
    Column("UTK 60+ signed error", lambda r: _verif(r.utk, "exact", "signed_error", "60+", "mean"), "num", 0),
    Column("UTK 13–17 ≥ 25", lambda r: _verif(r.utk, "exact", "minors_passed", "25", "rate"), "pct", -1),
    Column("UTK 13–17 ≥ 21", lambda r: _verif(r.utk, "exact", "minors_passed", "21", "rate"), "pct", -1),
    Column("UTK 25+ read under 25", lambda r: _verif(r.utk, "exact", "adults_referred", "25", "rate"), "pct", -1),
    Column("FF 10–19 bin ≥ 25", lambda r: _verif(r.ff, "bins", "bin_10_19_passed", "25", "rate"), "pct", -1),
    Column("FF age bin", lambda r: _get(r.ff, "age_bins", "bin_accuracy"), "pct", +1),
    Column("UTK gender", lambda r: _get(r.utk, "gender", "accuracy"), "pct", +1),
    Column("FF race", lambda r: _get(r.ff, "race", "accuracy"), "pct", +1),
]


@dataclass
class Series:
    recipes: dict[str, str]
    columns: list[Column]
    marks: tuple[str, str]


SERIES = {"main": Series(RECIPES, COLUMNS, (MARK_BEGIN, MARK_END)),
          "ends": Series(ENDS_RECIPES, ENDS_COLUMNS, ("<!-- recipe-table ends -->", "<!-- /recipe-table ends -->"))}


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise AgeGenderError(f"{path}: cannot read ({e})") from e


def load_run(folder: Path) -> Optional[RecipeRun]:
    """A scored recipe folder, or None when it has not been scored on both splits yet."""
    utk, ff = folder / "utkface_val" / "metrics.json", folder / "fairface_val" / "metrics.json"
    if not (utk.is_file() and ff.is_file()):
        return None
    run = RecipeRun(folder.name, _read_json(utk), _read_json(ff))
    history = folder / "history.csv"
    if history.is_file():
        with history.open(newline="") as f:
            rows = list(csv.DictReader(f))
        cfg = _read_json(folder / "config.json") if (folder / "config.json").is_file() else {}
        if rows and cfg.get("steps_per_epoch"):
            run.samples = len(rows) * cfg["steps_per_epoch"] * cfg.get("batch_size", 64)
        rates = [float(r["samples_per_s"]) for r in rows[1:] if r.get("samples_per_s")]
        if rates:
            run.samples_per_s = sum(rates) / len(rates)
    latency = folder / "latency.json"
    if latency.is_file():
        # flip averaging runs two crops per face: its cost per face is one batch of two
        batch = 2 if folder.name.endswith("_flip") else 1
        rows = [r for r in _read_json(latency).get("rows", []) if r.get("threads") == 2 and r.get("batch") == batch]
        if rows:
            run.ms_per_face = rows[0]["p50_ms"]
    return run


def _format(value: Optional[float], fmt: str) -> str:
    if value is None:
        return "–"
    if fmt == "pct":
        return f"{100 * value:.1f}%"
    if fmt == "pp":
        return f"{100 * value:.1f} pp"
    if fmt == "int":
        return f"{int(value):,}"
    return f"{value:+.2f}" if fmt == "signed" else f"{value:.2f}"


def _delta(value: Optional[float], base: Optional[float], col: Column) -> str:
    if value is None or base is None:
        return ""
    d = value - base
    scale = 100 if col.fmt in ("pct", "pp") else 1
    unit = " pp" if col.fmt in ("pct", "pp") else ""
    text = f"{scale * d:+.1f}{unit}" if col.fmt in ("pct", "pp") else f"{d:+.2f}"
    good = col.better != 0 and d * col.better > (0.002 if col.fmt in ("pct", "pp") else 0.02)
    return f" ({'**' + text + '**' if good else text})"


def markdown_table(runs: list[RecipeRun], series: Optional[Series] = None, base_name: str = BASELINE,
                   training_columns: bool = True) -> str:
    """One row per run, each metric with its delta against the ``base_name`` row; ``training_columns`` adds the
    run's samples, training speed and cost per face (rows that are not training runs leave them out)."""
    series = series or SERIES["main"]
    recipes, columns = series.recipes, series.columns
    base = next((r for r in runs if r.name == base_name), None)
    head = ["recipe", "change"] + (["samples", "train samples/s", "ms/face"] if training_columns else [])
    head += [c.title for c in columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in runs:
        cells = [f"`{r.name}`", recipes.get(r.name, "")]
        if training_columns:
            cells += [_format(r.samples, "int"), "–" if r.samples_per_s is None else f"{r.samples_per_s:.0f}",
                      "–" if r.ms_per_face is None else f"{r.ms_per_face:.2f}"]
        for col in columns:
            value = col.get(r)
            fmt = "signed" if col.better == 0 else col.fmt
            cells.append(_format(value, fmt) + ("" if base is None or r is base else _delta(value, col.get(base), col)))
        lines.append("| " + " | ".join(cells) + " |")
    missing = [name for name in recipes if name not in {r.name for r in runs}]
    if missing:
        lines += ["", "Not run yet: " + ", ".join(f"`{m}`" for m in missing) + "."]
    return "\n".join(lines)


def collect(root: Path, recipes: Optional[dict[str, str]] = None) -> list[RecipeRun]:
    recipes = RECIPES if recipes is None else recipes
    if not root.is_dir():
        raise AgeGenderError(f"{root}: no recipe folder (train/recipes/run.sh writes it)")
    found = {f.name: run for f in root.iterdir() if f.is_dir() and (run := load_run(f)) is not None}
    order = [n for n in recipes if n in found] + sorted(n for n in found if n not in recipes)
    return [found[n] for n in order]


def replace_between_marks(text: str, table: str, marks: tuple[str, str] = (MARK_BEGIN, MARK_END)) -> str:
    begin, end = marks
    if begin not in text or end not in text:
        raise AgeGenderError(f"the page has no {begin} ... {end} block to fill")
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{begin}\n{table}\n{end}{tail}"


def run_recipe_table(args: argparse.Namespace) -> int:
    series = SERIES[getattr(args, "series", "main")]
    table = markdown_table(collect(Path(args.runs), series.recipes), series)
    if args.out:
        out = Path(args.out)
        out.write_text(replace_between_marks(out.read_text(), table, series.marks) if out.is_file() else table + "\n")
        log.info("recipe table written to %s", out)
    else:
        print(table)
    return 0
