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
    rows = [CrossRow(name, load_summary(utk), load_summary(ff)) for name, utk, ff in args.row]
    table = cross_dataset_table(rows)
    if args.out:
        Path(args.out).write_text(table + "\n")
    print(table)
    return 0
