"""`agegender bench soak --minutes N`: the whole pipeline on the looping demo clip for N minutes, with the
deployment sinks attached (visitor analytics into SQLite, annotated drawing, JSON lines to /dev/null),
sampling memory every few seconds. Reports peak RSS (VmHWM) and RSS after warm-up and at the end, the
RSS slope over the run, and processed FPS. Memory must stay flat: a leak shows as a positive slope."""
from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Optional

from benchmarks.pipeline_bench import DrawOnlySink
from benchmarks.report import command_line, write_report
from benchmarks.system import machine_info, machine_line, proc_status_mb

log = logging.getLogger(__name__)


def slope_per_minute(samples: list[dict], key: str) -> float:
    if len(samples) < 3:
        return float("nan")
    import numpy as np

    t = np.array([s["t_s"] for s in samples]) / 60.0
    y = np.array([s[key] for s in samples])
    return float(np.polyfit(t, y, 1)[0])


def thirds(samples: list[dict]) -> list[float]:
    """Median RSS of the first and the last third of the samples: robust to the per-frame sawtooth."""
    import statistics

    k = max(len(samples) // 3, 1)
    return [statistics.median(x["rss_mb"] for x in samples[:k]), statistics.median(x["rss_mb"] for x in samples[-k:])]


def run_soak(args: argparse.Namespace) -> int:
    from edge.service.analytics import AnalyticsConfig, AnalyticsSink
    from edge.vision.analyzer import FaceAnalyzer
    from edge.live.demo import DemoSource
    from edge.vision.detectors import create_detector
    from edge.vision.model import AgeGenderModel, resolve_model_path
    from edge.live.outputs import JsonLinesSink
    from edge.live.pipeline import Pipeline, PipelineConfig
    from edge.live.tracking import TrackerConfig

    minutes = float(args.minutes)
    dirs = tuple(args.models_dir)
    model_path = resolve_model_path(args.model, dirs)
    analyzer = FaceAnalyzer(create_detector("auto", models_dirs=dirs), AgeGenderModel(model_path))
    detector = getattr(analyzer.detector, "name", type(analyzer.detector).__name__)
    tmp = Path(tempfile.mkdtemp(prefix="agegender-soak-"))
    analytics = AnalyticsSink(tmp / "analytics.sqlite", AnalyticsConfig(window_s=60))
    sinks = [JsonLinesSink("/dev/null"), DrawOnlySink(), analytics]
    pipeline = Pipeline(DemoSource(loop=True), analyzer, sinks,
                        PipelineConfig(duration=minutes * 60, tracker=TrackerConfig(skip_frames=getattr(args, "skip_frames", 0))))
    load_start = os.getloadavg()[0]
    samples: list[dict] = []
    stop = threading.Event()
    every = 5.0 if minutes >= 2 else 1.0

    def sample() -> None:
        t0 = time.monotonic()
        while True:
            m = pipeline.metrics
            samples.append({"t_s": round(time.monotonic() - t0, 1), "rss_mb": round(proc_status_mb("VmRSS"), 1),
                            "hwm_mb": round(proc_status_mb("VmHWM"), 1), "frames": m.frames_processed})
            if stop.wait(every):
                return

    sampler = threading.Thread(target=sample, name="soak-sampler", daemon=True)
    sampler.start()
    summary = pipeline.run()
    stop.set()
    sampler.join()
    warm = max(30.0, minutes * 60 * 0.1)            # the first 10% (at least 30 s) is warm-up
    after = [s for s in samples if s["t_s"] >= warm] or samples
    start, end = after[0], samples[-1]
    report = {
        "command": command_line(),
        "machine": machine_line(machine_info()),
        "load_avg_1min": {"start": round(load_start, 2), "end": round(os.getloadavg()[0], 2)},
        "model": str(model_path), "detector": detector, "minutes": minutes, "warm_up_s": warm,
        "frames_processed": summary["frames_processed"], "processed_fps": summary["processed_fps"],
        "camera_fps": summary["camera_fps"], "frames_dropped": summary["frames_dropped"],
        "frame_errors": summary["frame_errors"], "faces_per_frame": summary["faces_per_frame"],
        "visitors_counted": analytics.visitors, "analytics_write_errors": analytics.write_errors,
        "rss_start_mb": start["rss_mb"], "rss_end_mb": end["rss_mb"],
        "peak_rss_start_mb": start["hwm_mb"], "peak_rss_end_mb": end["hwm_mb"],
        "rss_growth_mb": round(end["rss_mb"] - start["rss_mb"], 1),
        "rss_slope_mb_per_min": round(slope_per_minute(after, "rss_mb"), 3),
        "rss_min_max_mb": [min(x["rss_mb"] for x in after), max(x["rss_mb"] for x in after)],
        "rss_median_first_last_third_mb": thirds(after),
        "e2e_p50_ms": summary["stages"].get("end_to_end", {}).get("p50_ms"),
        "e2e_p95_ms": summary["stages"].get("end_to_end", {}).get("p95_ms"),
        "samples": samples,
    }
    write_report(Path(args.out), "soak", report, markdown(report))
    return 0


def markdown(r: dict) -> str:
    rows = [("frames processed", r["frames_processed"]), ("processed FPS", r["processed_fps"]),
            ("camera FPS (demo clip, paced at 30)", r["camera_fps"]), ("frames dropped (stale)", r["frames_dropped"]),
            ("frame errors", r["frame_errors"]), ("faces per frame", r["faces_per_frame"]),
            ("visitors counted (analytics sink)", r["visitors_counted"]),
            ("analytics write errors", r["analytics_write_errors"]),
            (f"RSS after warm-up ({r['warm_up_s']:.0f} s)", f"{r['rss_start_mb']} MiB"),
            ("RSS at the end", f"{r['rss_end_mb']} MiB"),
            ("peak RSS (VmHWM) after warm-up", f"{r['peak_rss_start_mb']} MiB"),
            ("peak RSS (VmHWM) at the end", f"{r['peak_rss_end_mb']} MiB"),
            ("RSS growth after warm-up", f"{r['rss_growth_mb']} MiB"),
            ("RSS min / max after warm-up (frame buffers come and go)",
             f"{r['rss_min_max_mb'][0]} / {r['rss_min_max_mb'][1]} MiB"),
            ("median RSS, first / last third after warm-up",
             f"{r['rss_median_first_last_third_mb'][0]} / {r['rss_median_first_last_third_mb'][1]} MiB"),
            ("RSS slope after warm-up (linear fit; noisy on short runs)", f"{r['rss_slope_mb_per_min']} MiB/min"),
            ("end-to-end latency p50 / p95", f"{r['e2e_p50_ms']} / {r['e2e_p95_ms']} ms")]
    lines = [f"# Soak test: {r['minutes']:g} minutes", "",
             f"Command: `{r['command']}`  ", f"Machine: {r['machine']}; 1-minute load average "
             f"{r['load_avg_1min']['start']} at the start, {r['load_avg_1min']['end']} at the end (other jobs share "
             "the CPUs, so FPS is a lower bound)  ",
             f"Model: `{Path(r['model']).name}`, detector `{r['detector']}`; source: the built-in demo clip, looping, "
             "paced at 30 FPS like a camera; sinks: JSON lines (to /dev/null), annotated drawing, visitor analytics "
             "(SQLite).", "", "| measure | value |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in rows]
    lines += ["", "RSS samples (MiB) every "
              f"{r['samples'][1]['t_s'] - r['samples'][0]['t_s'] if len(r['samples']) > 1 else 0:g} s: "
              + ", ".join(f"{s['rss_mb']:.0f}" for s in r["samples"]), ""]
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> int:   # `python -m benchmarks.soak` without the CLI
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--model", default=None)
    p.add_argument("--models-dir", action="append", default=[])
    p.add_argument("--out", default="benchmarks/results")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    return run_soak(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
