"""`agegender bench latency|pipeline|accuracy|compare`: print figures, write JSON + Markdown (+ PNG charts)."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from benchmarks.report import command_line, write_report
from edge.errors import AgeGenderError
from edge.live import defaults as live_defaults

log = logging.getLogger(__name__)

QUICK_SECONDS = 4.0


def _csv_ints(text: str, what: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise AgeGenderError(f"{what}: expected a comma list of integers, got {text!r}") from None


def _sizes(text: str) -> list[tuple[int, int]]:
    try:
        return [tuple(int(v) for v in s.lower().split("x")) for s in text.split(",")]  # type: ignore[misc]
    except ValueError:
        raise AgeGenderError(f"--sizes: expected WxH[,WxH...], got {text!r}") from None


# What `bench latency` and `bench accuracy` measure when no model is named: the shipped device files (INT8, and the
# open model's float ONNX file); the default model's latency stands for the open one's: same network, same size.
SHIPPED_FOR = {"latency": ("agegender_int8.tflite", "agegender_int8.onnx"),
               "accuracy": ("agegender_int8.tflite", "agegender_int8.onnx",
                            "agegender_open_int8.tflite", "agegender_open_fp32.onnx")}


def shipped_models(what: str, models_dirs: tuple[str, ...] = ()) -> list[str]:
    from edge.vision import model_store

    found = [model_store.find_file((name,), (), models_dirs) for name in SHIPPED_FOR[what]]
    if not any(found):
        raise AgeGenderError(f"bench {what}: no model given (--models FILE ...) and none of "
                             f"{', '.join(SHIPPED_FOR[what])} found in {model_store.describe_search(models_dirs)}")
    return [str(p) for p in found if p is not None]


def _existing(args: argparse.Namespace, what: str) -> list[str]:
    paths = args.models or ([args.model] if getattr(args, "model", None) else [])
    if not paths:
        paths = shipped_models(what, tuple(args.models_dir))
        log.info("bench %s: the shipped models %s", what, ", ".join(Path(p).name for p in paths))
    missing = [p for p in paths if not Path(p).is_file()]
    if missing:
        raise AgeGenderError(f"bench {what}: no such model file: {', '.join(missing)} (set with --models)")
    return paths


def default_accuracy_data() -> list[str]:
    """UTKFace test beside the checkout ($AGEGENDER_SHARED or ../shared), when it is there."""
    import os

    for root in (os.environ.get("AGEGENDER_SHARED"), "../shared"):
        if root and (Path(root) / "datasets" / "utkface" / "labels.csv").is_file():
            return [f"{Path(root) / 'datasets' / 'utkface'},test"]
    return []


def run_latency(args: argparse.Namespace) -> dict:
    from benchmarks.charts import latency_chart
    from benchmarks.latency_bench import latency_rows, thread_counts
    from benchmarks.report import latency_markdown
    from benchmarks.system import machine_info

    models = _existing(args, "latency")
    threads = _csv_ints(args.threads, "--threads") if args.threads else thread_counts()
    batches = _csv_ints(args.batches, "--batches")
    runs, min_s = (30, 0.5) if args.quick else (args.runs, args.min_seconds)
    rows = latency_rows(models, threads, batches, runs, min_s)
    report = {"kind": "latency", "machine": machine_info(),
              "settings": {"threads": threads, "batches": batches, "runs": runs, "min_seconds": min_s}, "rows": rows}
    out = Path(args.out)
    write_report(out, "latency", report, latency_markdown(report, command_line()))
    latency_chart(report, out)
    return report


def run_pipeline(args: argparse.Namespace) -> dict:
    from benchmarks.charts import pipeline_charts
    from benchmarks.pipeline_bench import BenchSettings, pipeline_report, run_live
    from benchmarks.report import pipeline_markdown
    from benchmarks.system import machine_info
    from edge.vision.model import resolve_model_path

    model = str(resolve_model_path(args.model or "default", tuple(args.models_dir)))
    out = Path(args.out)
    detectors = ["auto"] if args.quick else [d for d in args.detectors.split(",") if d]
    settings = BenchSettings(model, tuple(args.models_dir), args.data,
                             QUICK_SECONDS if args.quick else args.seconds, args.threads_pipeline, args.smoothing,
                             detect_size=args.detect_size, detect_every=args.detect_every)
    if args.source:
        case = run_live(args.source, detectors[0], settings)
        report = {"kind": "pipeline", "machine": machine_info(), "model": Path(model).name,
                  "settings": {"source": args.source, "seconds": settings.seconds, "camera_fps": 0}, "cases": [case]}
        write_report(out, "pipeline_live", report, pipeline_markdown(report, command_line()))
        return report
    sizes = [(640, 480)] if args.quick else _sizes(args.sizes)
    faces = [0, 1, 3] if args.quick else _csv_ints(args.faces, "--faces")
    report = pipeline_report(settings, sizes, faces, detectors, skip_frames=args.skip_frames,
                             compare_detect_every=args.detect_every if args.quick else args.compare_detect_every,
                             detect_study_faces=0 if args.quick else args.detect_study_faces,
                             thread_counts=[] if args.quick else _csv_ints(args.thread_counts, "--thread-counts"),
                             jitter_frames=90 if args.quick else 150, crossing_frames=0 if args.quick else 300)
    write_report(out, "pipeline", report, pipeline_markdown(report, command_line()))
    pipeline_charts(report, out)
    return report


def run_accuracy(args: argparse.Namespace) -> dict:
    from benchmarks.accuracy_bench import accuracy_report
    from benchmarks.report import accuracy_markdown

    models = _existing(args, "accuracy")
    data = args.data or default_accuracy_data()
    if not data:
        raise AgeGenderError("bench accuracy: no labelled faces: give --data DIR[,SPLIT] (e.g. "
                             "../shared/datasets/utkface,test); looked in $AGEGENDER_SHARED and ../shared")
    report = accuracy_report(models, data, limit=300 if args.quick else args.limit)
    write_report(Path(args.out), "accuracy", report, accuracy_markdown(report, command_line()))
    return report


def run_compare(args: argparse.Namespace) -> None:
    from benchmarks.compare import compare

    if len(args.reports) != 2:
        raise AgeGenderError("bench compare: give exactly two report files, A.json B.json")
    print(compare(*args.reports))


def _common(p: argparse.ArgumentParser, quick: bool = True) -> None:
    p.add_argument("--models-dir", action="append", default=[], help="extra folder to search for the shipped models")
    if quick:
        p.add_argument("--quick", action="store_true", help="a short run (under 2 minutes, for a Pi)")
    p.add_argument("--out", default="benchmarks/results", help="folder for the JSON, Markdown and PNG reports")


def add_bench_parser(sub) -> None:
    """`bench` and one subcommand per benchmark, each listing only its own options."""
    p = sub.add_parser("bench", help="latency, pipeline and accuracy benchmarks: JSON, Markdown and PNG reports",
                       description="Benchmarks that print figures and write JSON, Markdown and PNG reports. "
                                   "`agegender bench WHAT --help` lists the options of one.")
    what = p.add_subparsers(dest="what", metavar="WHAT", required=True)

    q = what.add_parser("latency", help="model latency per backend, thread count and batch size")
    q.add_argument("--models", nargs="*", default=[],
                   help="model files (default: the shipped INT8 TFLite and ONNX)")
    q.add_argument("--threads", default="", help="comma list (default 1,2,4 up to the core count)")
    q.add_argument("--batches", default="1,8", help="comma list of batch sizes")
    q.add_argument("--runs", type=int, default=200, help="timed runs per row (at least)")
    q.add_argument("--min-seconds", type=float, default=2.0, help="minimum timed duration per row")
    _common(q)

    q = what.add_parser("pipeline", help="the whole live pipeline on generated clips (or a camera): FPS, stages, "
                                         "tracking quality, detection size, threads")
    q.add_argument("--model", default=None, help="model file (default: the shipped INT8 TFLite)")
    q.add_argument("--sizes", default="640x480,1280x720", help="frame sizes")
    q.add_argument("--faces", default="0,1,3,6", help="faces per frame")
    q.add_argument("--detectors", default="yunet,blazeface,res10,haar",
                   help="comma list; unavailable ones are skipped (--quick: auto)")
    q.add_argument("--skip-frames", type=int, default=2, help="track skipping to measure (0: none)")
    q.add_argument("--smoothing", type=float, default=0.3)
    q.add_argument("--detect-every", type=int, default=live_defaults.DETECT_EVERY,
                   help=f"detection every N frames while tracks are settled (default: the live default, "
                        f"{live_defaults.DETECT_EVERY})")
    q.add_argument("--compare-detect-every", type=int, default=1,
                   help="also measure this detection interval (the first detector at every face count, the "
                        "others at the most faces; the same as --detect-every: no such rows)")
    q.add_argument("--detect-size", type=int, default=live_defaults.DETECT_SIZE,
                   help="detection on a copy with this long side (default: the live default, "
                        f"{live_defaults.DETECT_SIZE or 'full frame'}; 0: full frame)")
    q.add_argument("--thread-counts", default="",
                   help="also run the first size with the most faces at these classifier thread counts, e.g. 1,2,4")
    q.add_argument("--detect-study-faces", type=int, default=1000,
                   help="with --data: UTKFace test faces per resolution for the detection-size table (0: skip)")
    q.add_argument("--threads-pipeline", type=int, default=live_defaults.CLASSIFIER_THREADS,
                   help="classifier threads (default: the live default; 0: the runtime's default)")
    q.add_argument("--source", default=None, help="a live camera/stream instead of generated clips")
    q.add_argument("--seconds", type=float, default=10.0, help="seconds per case (or of the live run)")
    q.add_argument("--data", default=None, help="UTKFace folder for the clips' faces (default: the demo face)")
    _common(q)

    q = what.add_parser("accuracy", help="accuracy of model files on labelled faces")
    q.add_argument("--models", nargs="*", default=[],
                   help="model files (default: the shipped INT8 TFLite and ONNX of both models)")
    q.add_argument("--data", action="append", default=None, help="DIR[,SPLIT], repeatable (default: UTKFace test "
                                                                  "in $AGEGENDER_SHARED or ../shared)")
    q.add_argument("--limit", type=int, default=0, help="evaluate on at most N faces")
    _common(q)

    q = what.add_parser("compare", help="two reports of the same kind, side by side")
    q.add_argument("reports", nargs="*", help="A.json B.json")

    q = what.add_parser("soak", help="the looping demo clip for a long time: memory, FPS and errors over time")
    q.add_argument("--model", default=None, help="model file (default: the shipped INT8 TFLite)")
    q.add_argument("--minutes", type=float, default=10.0, help="how long to run the looping demo clip")
    _common(q, quick=False)


def run_bench(args: argparse.Namespace) -> int:
    if args.what == "soak":
        from benchmarks.soak import run_soak

        return run_soak(args)
    {"latency": run_latency, "pipeline": run_pipeline, "accuracy": run_accuracy, "compare": run_compare}[args.what](args)
    return 0
