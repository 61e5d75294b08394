"""`agegender bench latency|pipeline`: print figures and write JSON + Markdown reports."""
from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def _md_table(rows: list[dict], cols: list[str]) -> str:
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(str(r.get(c, "")) for c in cols) + " |")
    return "\n".join(lines)


def run_latency(args: argparse.Namespace) -> dict:
    from benchmarks.latency_bench import bench_model, thread_counts
    from benchmarks.pipeline_bench import machine_info

    rows = []
    threads = [int(t) for t in args.threads.split(",")] if args.threads else thread_counts()
    for model in args.models:
        for t in threads:
            for b in (1, 8):
                row = bench_model(model, t, b, runs=30 if args.quick else 100, min_seconds=0.5 if args.quick else 2.0)
                rows.append(row)
                log.info("%s t=%d b=%d: p50 %.3f ms (%.3f ms/face)", row["model"], t, b, row["p50_ms"],
                         row["ms_per_face_p50"])
    report = {"machine": machine_info(), "rows": rows}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "latency.json").write_text(json.dumps(report, indent=2))
    cols = ["model", "backend", "precision", "size_mb", "threads", "batch", "p50_ms", "p95_ms", "p99_ms",
            "ms_per_face_p50", "faces_per_second", "load_ms", "first_inference_ms"]
    (out / "latency.md").write_text(f"# Model latency\n\nMachine: {report['machine']}\n\n" + _md_table(rows, cols) + "\n")
    print(_md_table(rows, cols))
    return report


def run_pipeline(args: argparse.Namespace) -> dict:
    from benchmarks.pipeline_bench import main_pipeline_report

    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    faces = [int(v) for v in args.faces.split(",")]
    report = main_pipeline_report(args.model, tuple(args.models_dir), args.data, Path(args.out), sizes, faces,
                                  args.detector, seconds=5.0 if args.quick else args.seconds)
    rows = []
    for c in report["cases"]:
        st = c["stages"]
        rows.append({"resolution": f"{c['case']['width']}x{c['case']['height']}", "faces": c["case"]["faces"],
                     "processed_fps": c["processed_fps"], "camera_fps": c["camera_fps"], "dropped": c["frames_dropped"],
                     "e2e_p50_ms": st.get("end_to_end", {}).get("p50_ms"), "e2e_p95_ms": st.get("end_to_end", {}).get("p95_ms"),
                     **{f"{k}_p50_ms": st.get(k, {}).get("p50_ms") for k in ("detect", "align", "infer", "track")}})
    table = _md_table(rows, list(rows[0]))
    jit = report["jitter"]
    text = (f"# Pipeline\n\nMachine: {report['machine']}\nModel: `{Path(args.model).name}`, detector `{args.detector}`; "
            "clips of UTKFace test faces on generated backgrounds, paced at 30 FPS like a camera.\n\n" + table +
            f"\n\nAge jitter (mean over tracks of the std of a track's age across frames, 3 faces, 150 frames): "
            f"without smoothing {jit['raw']['age_std_mean']} years, with smoothing (0.3) {jit['smoothed']['age_std_mean']} years.\n")
    (Path(args.out) / "pipeline.md").write_text(text)
    print(text)
    return report
