"""`agegender bench compare A.json B.json`: two reports of the same kind side by side, with ratios."""
from __future__ import annotations

import json
from pathlib import Path

from benchmarks.report import md_table
from edge.errors import AgeGenderError

KEYS = {"latency": (("model", "backend", "threads", "batch"), ("p50_ms", "p95_ms", "faces_per_second")),
        "pipeline": (("resolution", "faces", "detector", "skip"), ("processed_fps", "capacity_fps", "e2e_p50")),
        "accuracy": (("model", "data", "split"), ("age_mae", "gender_acc", "race_acc", "age_bin_acc"))}


def load_report(path: str) -> dict:
    try:
        report = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise AgeGenderError(f"{path}: not a readable benchmark report ({e})") from e
    if report.get("kind") not in KEYS:
        raise AgeGenderError(f"{path}: not a benchmark report (no known 'kind')")
    return report


def _rows(report: dict) -> list[dict]:
    if report["kind"] == "pipeline":
        from benchmarks.report import pipeline_rows

        return pipeline_rows(report)
    return report["rows"]


def compare(a_path: str, b_path: str) -> str:
    a, b = load_report(a_path), load_report(b_path)
    if a["kind"] != b["kind"]:
        raise AgeGenderError(f"cannot compare a {a['kind']} report with a {b['kind']} report")
    keys, metrics = KEYS[a["kind"]]
    index_b = {tuple(r.get(k) for k in keys): r for r in _rows(b)}
    rows = []
    for ra in _rows(a):
        rb = index_b.get(tuple(ra.get(k) for k in keys))
        if rb is None:
            continue
        row = {k: ra.get(k) for k in keys}
        for m in metrics:
            va, vb = ra.get(m), rb.get(m)
            row[f"{m} A"], row[f"{m} B"] = va, vb
            row[f"{m} B/A"] = round(vb / va, 3) if isinstance(va, (int, float)) and isinstance(vb, (int, float)) and va else None
        rows.append(row)
    if not rows:
        raise AgeGenderError("the two reports share no rows (different models, backends or cases)")
    head = f"A: {a_path} ({a['machine']['cpu']})\nB: {b_path} ({b['machine']['cpu']})\n\n"
    return head + md_table(rows, list(rows[0]))
