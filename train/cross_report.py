"""Cross-dataset table: each model on the UTKFace test split and the FairFace val split.

Reads what `agegender evaluate` wrote (its JSON summary on stdout, or its ``--out`` folder) and
prints one Markdown row per model, so the table in ``models/report.md`` is reproducible.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

from edge.errors import AgeGenderError
from train.age_verification import rate_text

UTK_COLUMNS = (("age_mae", "UTK MAE", "num"), ("cs5", "UTK CS@5", "pct"), ("gender_acc", "UTK gender", "pct"),
               ("race_acc", "UTK race", "pct"))
FF_COLUMNS = (("age_bin_acc", "FF age bin", "pct"), ("age_bin_one_off", "FF one-off", "pct"),
              ("gender_acc", "FF gender", "pct"), ("race_acc", "FF race", "pct"),
              ("gender_gap_over_race7", "FF gender gap over race7", "pp"),
              ("gender_gap_over_race7_adults", "FF same gap, age 20+", "pp"))


@dataclass
class CrossRow:
    name: str
    utkface: dict
    fairface: dict


def load_metrics(path: str | Path) -> dict:
    """The whole metrics.json of an evaluate --out folder (or the file itself)."""
    path = Path(path)
    metrics_file = path / "metrics.json" if path.is_dir() else path
    try:
        data = json.loads(metrics_file.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise AgeGenderError(f"{metrics_file}: not an evaluate report ({e})") from e
    if not isinstance(data, dict) or "age_verification" not in data:
        raise AgeGenderError(f"{metrics_file}: no age-verification figures (evaluate it again with this version)")
    return data


def _r(metrics: dict, *keys: str) -> str:
    d = metrics
    for k in keys:
        d = d.get(k) if isinstance(d, dict) else None
    return rate_text(d if isinstance(d, dict) else None, with_n=False)


def age_check_table(rows: list[CrossRow]) -> str:
    """The Challenge-T table of the model cards: per file, UTKFace (exact ages) and FairFace (bins), with 95%
    bootstrap intervals; with an age gate evaluated (``evaluate --age-gate``), its rates too."""
    headers = ["model file", "UTK 13–17 ≥ 25", "UTK 13–17 ≥ 21", "UTK 3–12 ≥ 18", "UTK 25+ under 25",
               "UTK 18–20 ≥ 25", "FF 10–19 ≥ 25", "FF 10–19 ≥ 21", "FF 3–9 ≥ 18",
               "gate: 13–17 judged adult", "gate: 25+ asked for ID", "gate: FF 10–19 judged adult"]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in rows:
        u, f = row.utkface, row.fairface
        cells = [row.name,
                 _r(u, "age_verification", "exact", "minors_passed", "25"),
                 _r(u, "age_verification", "exact", "minors_passed", "21"),
                 _r(u, "age_verification", "exact", "children_read_adult"),
                 _r(u, "age_verification", "exact", "adults_referred", "25"),
                 _r(u, "age_verification", "exact", "young_adults_passed", "25"),
                 _r(f, "age_verification", "bins", "bin_10_19_passed", "25"),
                 _r(f, "age_verification", "bins", "bin_10_19_passed", "21"),
                 _r(f, "age_verification", "bins", "bin_3_9_read_adult"),
                 _r(u, "age_gate", "exact", "minors_passed"),
                 _r(u, "age_gate", "exact", "adults_25_referred"),
                 _r(f, "age_gate", "bin_10_19_passed")]
        lines.append("| " + " | ".join(cells) + " |")
    n = next((r.utkface["age_verification"]["exact"]["minors_passed"]["25"]["n"] for r in rows
              if "exact" in r.utkface.get("age_verification", {})), None)
    if n:
        lines += ["", f"UTKFace faces aged 13–17: {n}; intervals are 95% bootstrap intervals."]
    return "\n".join(lines)


def load_summary(path: str | Path) -> dict:
    """An evaluate summary: the JSON it printed, or the metrics.json in its --out folder."""
    from train.evaluate import summarize

    path = Path(path)
    metrics_file = path / "metrics.json" if path.is_dir() else path
    if not metrics_file.is_file():
        raise AgeGenderError(f"{path}: no evaluate summary or report folder there")
    try:
        data = json.loads(metrics_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise AgeGenderError(f"{metrics_file}: not an evaluate summary ({e})") from e
    if not isinstance(data, dict):
        raise AgeGenderError(f"{metrics_file}: not an evaluate summary (expected a JSON object)")
    return summarize(data) if "age" in data or "age_bins" in data else data


def _cell(summary: dict, key: str, kind: str) -> str:
    value = summary.get(key)
    if not isinstance(value, (int, float)):
        return "–"
    if kind == "num":
        return f"{value:.2f}"
    return f"{100 * value:.1f}{'%' if kind == 'pct' else ' pp'}"


def cross_dataset_table(rows: list[CrossRow]) -> str:
    headers = ["model"] + [h for _, h, _ in UTK_COLUMNS + FF_COLUMNS]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for row in rows:
        cells = [row.name] + [_cell(row.utkface, k, kind) for k, _, kind in UTK_COLUMNS]
        cells += [_cell(row.fairface, k, kind) for k, _, kind in FF_COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run_cross_report(args: argparse.Namespace) -> int:
    if getattr(args, "kind", "accuracy") == "age-check":
        table = age_check_table([CrossRow(name, load_metrics(utk), load_metrics(ff)) for name, utk, ff in args.row])
    else:
        table = cross_dataset_table([CrossRow(name, load_summary(utk), load_summary(ff)) for name, utk, ff in args.row])
    if args.out:
        Path(args.out).write_text(table + "\n")
    print(table)
    return 0
