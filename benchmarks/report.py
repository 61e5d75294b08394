"""Markdown tables for the benchmark reports (JSON is written as measured)."""
from __future__ import annotations

import json
import logging
import os
import shlex
import sys
from pathlib import Path
from typing import Optional

from benchmarks.system import machine_line

log = logging.getLogger(__name__)

STAGE_COLUMNS = ("decode", "detect", "align", "infer", "track", "draw")


REPO_ROOT = Path(__file__).resolve().parents[1]


def portable_arg(arg: str, root: Path = REPO_ROOT) -> str:
    """An absolute path (alone or after ``--opt=``) written relative to the repository, so that a report's
    "Reproduce" line names ``../shared/...``, not the home folder of the machine that ran it."""
    prefix, _, value = arg.rpartition("=") if arg.startswith("--") and "=" in arg else ("", "", arg)
    if not value.startswith("/"):
        return arg
    home = str(Path.home())
    rel = os.path.relpath(value, root)                 # models/..., ../shared/datasets/utkface
    if rel.startswith(os.pardir + os.sep + os.pardir) and value.startswith(home + os.sep):
        rel = "~/" + os.path.relpath(value, home)      # far from the checkout: a run folder in the cache, say
    return f"{prefix}={rel}" if prefix else rel


def portable_paths(obj):
    """``obj`` (a report) with every absolute path string written as :func:`portable_arg` writes it."""
    if isinstance(obj, dict):
        return {k: portable_paths(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [portable_paths(v) for v in obj]
    if isinstance(obj, str) and obj.startswith("/") and os.path.isabs(obj.split(",")[0]):
        head, sep, tail = obj.partition(",")      # DIR,SPLIT
        return portable_arg(head) + sep + tail
    return obj


def command_line(argv: Optional[list[str]] = None) -> str:
    """The command that is running, for a report's "Reproduce" line, with paths relative to the repository."""
    args = sys.argv[1:] if argv is None else argv
    return "agegender " + " ".join(shlex.quote(portable_arg(a)) for a in args)


def write_report(out: Path, name: str, report: dict, markdown: str) -> None:
    """``name.json`` (as measured) and ``name.md`` in ``out``; the Markdown is printed too."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(portable_paths(report), indent=2, default=str) + "\n")
    (out / f"{name}.md").write_text(markdown)
    print(markdown)
    log.info("wrote %s and %s", out / f"{name}.json", out / f"{name}.md")


def md_table(rows: list[dict], cols: list[str], headers: Optional[list[str]] = None) -> str:
    def cell(v) -> str:
        if v is None:
            return "–"
        if isinstance(v, float):
            return f"{v:.3g}" if abs(v) < 1 else f"{v:.1f}" if abs(v) < 1000 else f"{v:.0f}"
        return str(v)

    lines = ["| " + " | ".join(headers or cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def _header(title: str, report: dict, command: str) -> str:
    libs = ", ".join(f"{k} {v}" for k, v in report["machine"].get("libraries", {}).items())
    return (f"# {title}\n\nMachine: {machine_line(report['machine'])}  \nLibraries: {libs}  \n"
            f"Reproduce: `{command}`\n\n")


def latency_markdown(report: dict, command: str) -> str:
    cols = ["model", "backend", "precision", "size_mb", "threads", "batch", "p50_ms", "p95_ms", "p99_ms", "mean_ms",
            "std_ms", "min_ms", "ms_per_face_p50", "faces_per_second", "load_ms", "first_inference_ms", "peak_rss_mb"]
    return (_header("Model latency", report, command) +
            f"Warm-up excluded; at least {report['settings']['runs']} timed runs and "
            f"{report['settings']['min_seconds']} s per row. Random uint8 crops.\n\n" + md_table(report["rows"], cols) + "\n")


def pipeline_rows(report: dict) -> list[dict]:
    rows = []
    for c in report["cases"]:
        k, st = c["case"], c["stages"]
        floor = c.get("floor", {})
        row = {"resolution": f"{k['width']}x{k['height']}" if "width" in k else k.get("source"),
               "faces": k.get("faces", round(c["faces_per_frame"], 1)), "detector": k["detector"],
               "skip": k.get("skip_frames", 0), "detect_every": k.get("detect_every", 1),
               "threads": k.get("threads") or "default", "variant": k.get("variant", ""),
               "processed_fps": c["processed_fps"], "camera_fps": c["camera_fps"],
               "dropped": c["frames_dropped"], "capacity_fps": c.get("capacity_fps"), "floor_fps": floor.get("floor_fps"),
               "share": c.get("share_of_floor"), "overhead_ms": c.get("overhead_ms"),
               "e2e_p50": st.get("end_to_end", {}).get("p50_ms"), "e2e_p95": st.get("end_to_end", {}).get("p95_ms"),
               "cpu_pct": c["resources"]["cpu_percent"], "rss_mb": c["resources"]["peak_rss_mb"],
               "id_switches_per_1k": c.get("tracking", {}).get("switches_per_1000_face_frames"),
               "visitors_per_face": c.get("tracking", {}).get("visitors_per_distinct_face")}
        for s in STAGE_COLUMNS:
            if s in st:
                row[s] = f"{st[s]['p50_ms']:.2f}/{st[s]['p95_ms']:.2f}"
        rows.append(row)
    return rows


def pipeline_markdown(report: dict, command: str) -> str:
    rows = pipeline_rows(report)
    main_cols = ["resolution", "faces", "detector", "skip", "detect_every", "threads", "processed_fps", "camera_fps",
                 "dropped", "capacity_fps", "floor_fps", "share", "overhead_ms", "e2e_p50", "e2e_p95", "cpu_pct", "rss_mb",
                 "id_switches_per_1k", "visitors_per_face"]
    stage_cols = ["resolution", "faces", "detector", "skip", "detect_every", *STAGE_COLUMNS]
    text = _header("Pipeline", report, command)
    text += (f"Model `{report['model']}`. Clips of UTKFace test faces (or the demo portrait) moving on generated "
             f"backgrounds, paced at {report['settings']['camera_fps']:g} FPS like a camera; every frame is drawn as "
             "for a display.\n\n"
             "- **processed_fps**: frames the pipeline finished per second; **camera_fps**: frames offered.\n"
             "- **capacity_fps**: 1000 / mean time of the processing thread per frame (detect + align + infer + track): "
             "what it could do unpaced.\n"
             "- **floor_fps**: the compute floor: 1000 / (detector model-only time + classifier model-only time for "
             "that many faces). **overhead_ms** = processing time − model-only time: what the pipeline adds.\n"
             "- **share**: processed FPS / min(floor FPS, camera FPS).\n"
             "- **detect_every**: detection every N frames while tracks are stable (`--detect-every`); "
             "**id_switches_per_1k**: a known face's track id changed, per 1,000 matched face-frames; "
             "**visitors_per_face**: distinct track ids reported per distinct face in the clip (1.0 is a right count).\n\n")
    if report.get("targets"):
        text += ("## Targets\n\nThe real-time targets, checked on this run's cases with the default settings "
                 f"(detection size {report['settings'].get('detect_size') or 'full frame'}, detection every "
                 f"{report['settings'].get('detect_every', 1)} frame(s) while tracks are settled, no track skipping). "
                 "For a miss, `why` names the stage that costs the processing thread most.\n\n")
        text += md_table([{**r, "met": "yes" if r["met"] else "**no**"} for r in report["targets"]],
                         ["setting", "target", "measured", "met", "why"]) + "\n\n"
    if report.get("fps_by_faces"):
        text += ("## FPS against faces per frame\n\nCapacity FPS of the processing thread (unpaced), and in brackets "
                 f"the frames dropped in {report['settings']['seconds']:g} s at a 30 FPS camera.\n\n")
        cols = [k for k in report["fps_by_faces"][0] if k != "faces"]
        text += md_table(report["fps_by_faces"], ["faces", *cols]) + "\n\n"
    threaded = [r for r in rows if r["variant"] == "threads"]
    if threaded:
        text += "## Classifier threads inside the pipeline\n\n"
        keys = {(t["resolution"], t["faces"], t["detector"]) for t in threaded}
        same = [r for r in rows if not r["variant"] and (r["resolution"], r["faces"], r["detector"]) in keys]
        text += md_table(same + threaded, ["resolution", "faces", "detector", "threads", "capacity_fps", "processed_fps",
                                           "dropped", "infer", "e2e_p95", "cpu_pct"]) + "\n\n"
    text += "## All cases\n\n"
    text += md_table(rows, main_cols) + "\n\n## Stage times, p50/p95 ms\n\n" + md_table(rows, stage_cols) + "\n"
    study = report.get("detection_size")
    if study:
        text += (f"\n## Detection size\n\n{study['faces']} UTKFace test faces per resolution, one per frame at sizes "
                 f"that put the face between about 24 and 200 px wide, detected by {study.get('detector', 'the detector')} "
                 "on the full frame (the reference) and on copies whose long side is `detect_size` pixels. Recall and "
                 "landmark error are against the full-frame detection; the age MAE is after alignment with each size's "
                 "landmarks (`age_mae_full`: the same detected faces with full-frame landmarks). A size at or above the frame's long side is the full frame.\n\n")
        text += md_table(study["rows"], ["resolution", "detect_size", "face_width", "faces", "recall",
                                         "landmark_error_px", "age_mae", "age_mae_full"]) + "\n"
        text += (f"\nChosen default: **{study['default'] or 'full frame'}** ({study['rule']}).\n")
    if report.get("face_cost"):
        text += "\n## Cost of one more face (line fit of processing time against faces per frame)\n\n"
        text += md_table(report["face_cost"], ["resolution", "detector", "ms_with_no_face", "ms_per_extra_face"]) + "\n"
    if report.get("batching"):
        text += "\n## Batching (model only): one batch of N crops against N single calls\n\n"
        text += md_table(report["batching"], ["faces", "batched_ms", "one_by_one_ms", "saved_percent"]) + "\n"
    if report.get("skipping"):
        text += ("\n## Track skipping: stable tracks re-classified every (skip+1)th frame\n\n"
                 "A position carried between detections (`--detect-every`) is a prediction and is not classified, so "
                 "with a detection interval above 1 most frames classify nothing already; `--skip-frames` then only "
                 "thins the detection frames further. Where the two classifications_per_frame columns barely differ, the difference "
                 "in process time is run-to-run variation, not an effect of skipping.\n\n")
        text += md_table(report["skipping"], ["resolution", "faces", "detector", "skip_frames", "classifications_per_frame",
                                              "classifications_per_frame_skipping", "process_ms", "process_ms_skipping",
                                              "saved_percent"]) + "\n"
    j = report.get("jitter")
    if j:
        text += (f"\n## Temporal smoothing\n\nAge jitter (mean over tracks of the std of a track's age across frames; "
                 f"{j['faces']} faces, {j['frames']} frames, every frame processed, the run's detection interval): "
                 "without smoothing "
                 f"**{j['raw']['age_std_mean']} years**, with smoothing ({j['smoothing']}) "
                 f"**{j['smoothed']['age_std_mean']} years**.\n")
    if report.get("crossing"):
        text += ("\n## Counting faces that cross\n\nThe demo clip (10 s): two faces whose paths cross, one hidden "
                 "behind the other for about a second. A right count is 2 visitors.\n\n")
        text += md_table(report["crossing"], ["clip", "detector", "detect_every", "frames", "distinct_faces",
                                              "visitors_counted", "visitors_per_distinct_face"]) + "\n"
    return text


def accuracy_markdown(report: dict, command: str) -> str:
    cols = ["model", "format", "size_mb", "data", "split", "n", "age_mae", "cs5", "adience_exact", "age_bin_acc",
            "age_bin_one_off", "gender_acc", "gender_gap_over_race7", "race_acc", "seconds", "error"]
    present = [c for c in cols if any(c in r for r in report["rows"])]
    return _header("Accuracy of the shipped model files", report, command) + md_table(report["rows"], present) + "\n"
