"""PNG charts for the reports: latency by backend, FPS by faces per frame, stage breakdown.

matplotlib is optional (the `test`/`train` extras have it); without it the charts are skipped with one note.
"""
from __future__ import annotations

import logging
from pathlib import Path

from benchmarks.pipeline_targets import is_default
from benchmarks.report import STAGE_COLUMNS

log = logging.getLogger(__name__)


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.warning("matplotlib is not installed: no PNG charts (pip install matplotlib)")
        return None
    return plt


def _finish(plt, fig, ax, title: str, ylabel: str, path: Path) -> Path:
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def latency_chart(report: dict, out: Path) -> list[Path]:
    plt = _pyplot()
    rows = [r for r in report["rows"] if r["batch"] == 1]
    if plt is None or not rows:
        return []
    labels = sorted({f"{r['model']}\n({r['backend']})" for r in rows})
    threads = sorted({r["threads"] for r in rows})
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(labels)), 4))
    width = 0.8 / len(threads)
    for i, t in enumerate(threads):
        vals = [next((r["p50_ms"] for r in rows if f"{r['model']}\n({r['backend']})" == lab and r["threads"] == t), 0)
                for lab in labels]
        ax.bar([x + i * width for x in range(len(labels))], vals, width, label=f"{t} thread(s)")
    ax.set_xticks([x + width * (len(threads) - 1) / 2 for x in range(len(labels))], labels, fontsize=8)
    return [_finish(plt, fig, ax, "Classifier latency by model and backend", "p50 ms per face (batch 1)",
                    out / "latency_by_backend.png")]


def pipeline_charts(report: dict, out: Path) -> list[Path]:
    plt = _pyplot()
    cases = [c for c in report["cases"] if is_default(c)]
    if plt is None or not cases:
        return []
    paths = []
    fig, ax = plt.subplots(figsize=(7, 4))
    groups = sorted({(f"{c['case']['width']}x{c['case']['height']}", c["case"]["detector"]) for c in cases})
    for res, det in groups:
        pts = sorted((c["case"]["faces"], c.get("capacity_fps", 0), c["processed_fps"], c.get("floor", {}).get("floor_fps", 0))
                     for c in cases if (f"{c['case']['width']}x{c['case']['height']}", c["case"]["detector"]) == (res, det))
        n = [p[0] for p in pts]
        line, = ax.plot(n, [p[1] for p in pts], marker="o", label=f"{det} {res}: capacity")
        ax.plot(n, [p[3] for p in pts], linestyle=":", color=line.get_color(), label=f"{det} {res}: compute floor")
    ax.axhline(30, color="grey", linewidth=0.8, linestyle="--", label="camera 30 FPS")
    ax.set_xlabel("faces per frame")
    ax.set_yscale("log")
    paths.append(_finish(plt, fig, ax, "Pipeline FPS by faces per frame", "frames per second", out / "fps_by_faces.png"))

    first = cases[0]["case"]["detector"]          # the stage chart: the first (default) detector's cases
    cases = [c for c in cases if c["case"]["detector"] == first]
    fig, ax = plt.subplots(figsize=(max(7, 0.6 * len(cases)), 4))
    labels = [f"{c['case']['detector']}\n{c['case']['width']}x{c['case']['height']}\n{c['case']['faces']} faces" for c in cases]
    bottom = [0.0] * len(cases)
    for stage in STAGE_COLUMNS:
        vals = [c["stages"].get(stage, {}).get("mean_ms", 0.0) for c in cases]
        ax.bar(range(len(cases)), vals, bottom=bottom, label=stage)
        bottom = [b + v for b, v in zip(bottom, vals)]
    ax.set_xticks(range(len(cases)), labels, fontsize=6)
    paths.append(_finish(plt, fig, ax, f"Where a frame's time goes ({first})", "mean ms per frame",
                         out / "stage_breakdown.png"))
    return paths
