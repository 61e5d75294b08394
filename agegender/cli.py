"""`agegender` command line. Each subcommand imports its stack only when it runs."""
from __future__ import annotations

import argparse
import logging
import sys
from typing import Callable, Optional, Sequence

from agegender import deploy_cli, live_cli
from agegender.builders import build_analyzer, build_detector, build_model
from edge.errors import AgeGenderError
from edge.live import defaults as live_defaults

log = logging.getLogger("agegender")


# ---------------------------------------------------------------------------- shared options
def _add_model_options(p: argparse.ArgumentParser, threads: int = 0, model: Optional[str] = None) -> None:
    g = p.add_argument_group("model")
    g.add_argument("--model", default=model,
                   help="model file (.tflite, .onnx, .xml) or a shipped name: default (INT8), open, default-fp16 "
                        f"(steadier on single faces, slower) (default: {model or 'default'})")
    g.add_argument("--backend", default="auto", choices=["auto", "tflite", "onnx", "openvino"])
    g.add_argument("--threads", type=int, default=threads,
                   help=f"inference threads (0: the runtime's default; default {threads or 'the runtime default'})")
    g.add_argument("--providers", default="", help="ONNX Runtime providers in order, e.g. tensorrt,cuda,cpu")
    g.add_argument("--models-dir", action="append", default=[],
                   help="extra folder to search for model files (also $AGEGENDER_MODELS_DIR)")
    g.add_argument("--gender-band", default="0.35,0.65",
                   help="p(female) range reported as 'undetermined' (default 0.35,0.65)")
    g.add_argument("--race", action="store_true", help="also report race (off by default)")


def _add_detector_options(p: argparse.ArgumentParser, detect_size: int = 0) -> None:
    g = p.add_argument_group("face detection")
    g.add_argument("--detector", default="auto",
                   help="auto, yunet, blazeface, blazeface-full, res10, haar (auto: best available)")
    g.add_argument("--detector-model", default=None, help="detector model file (with an explicit --detector)")
    g.add_argument("--score-threshold", type=float, default=0.6)
    g.add_argument("--nms-threshold", type=float, default=0.3)
    g.add_argument("--min-face", type=int, default=24, help="smallest face side in pixels")
    g.add_argument("--max-faces", type=int, default=16)
    g.add_argument("--detect-size", type=int, default=detect_size, metavar="N",
                   help="detect on a copy of the image whose long side is N pixels (0: full size); alignment and "
                        f"classification still use the full image (default {detect_size or 'full size'})")
    g.add_argument("--download-models", action="store_true",
                   help="download YuNet (sha256-checked) into the cache if it is not found")


def _add_gate_options(p: argparse.ArgumentParser, photo: bool = False) -> None:
    from edge.live import defaults as d

    g = p.add_argument_group("age check (an aid to staff: it refers people to an ID check, never replaces one)")
    g.add_argument("--age-gate", type=float, default=0.0, metavar="T",
                   help="judge each face 'adult' or 'ask_id' under a Challenge-T policy (e.g. 25): 'adult' only if the "
                        "estimate is at least T and P(age < --legal-age) is under --gate-risk (0: off)")
    g.add_argument("--legal-age", type=int, default=18, help="the age P(minor) is about (default 18)")
    g.add_argument("--gate-risk", type=float, default=None, metavar="ALPHA",
                   help="largest P(minor) judged 'adult' (default: the model's calibrated value for T, chosen on "
                        "validation faces so that at most 2 in 100 validation minors pass)")
    if photo:
        return
    g.add_argument("--gate-looks", type=int, default=d.GATE_LOOKS, metavar="N",
                   help=f"decide a person once, from N usable looks (default {d.GATE_LOOKS}); the decision sticks")
    g.add_argument("--gate-min-face", type=float, default=d.GATE_MIN_FACE, metavar="PX",
                   help=f"a look at a face narrower than PX frame pixels is not used (default {d.GATE_MIN_FACE:g})")
    g.add_argument("--gate-max-yaw", type=float, default=d.GATE_MAX_YAW, metavar="R",
                   help="a look at a face turned further than R (nose offset from the eye midpoint, in eye distances) "
                        f"is not used (default {d.GATE_MAX_YAW:g}; 0: off)")
    g.add_argument("--gate-min-sharpness", type=float, default=d.GATE_MIN_SHARPNESS, metavar="V",
                   help="a look at a face crop whose Laplacian variance is under V (blurred) is not used "
                        f"(default {d.GATE_MIN_SHARPNESS:g}; 0: off)")


def gate_settings_from(args: argparse.Namespace):
    """The age check's settings from parsed options, or None when --age-gate is off."""
    if not getattr(args, "age_gate", 0):
        return None
    from edge.age_gate import GateSettings

    return GateSettings(args.age_gate, args.legal_age, args.gate_risk,
                        looks=getattr(args, "gate_looks", 1), min_face=getattr(args, "gate_min_face", 0.0),
                        max_yaw=getattr(args, "gate_max_yaw", 0.0),
                        min_sharpness=getattr(args, "gate_min_sharpness", 0.0))


# ---------------------------------------------------------------------------- subcommands
def cmd_predict(args: argparse.Namespace) -> int:
    from edge.vision.predict import run_predict

    analyzer = build_analyzer(args, need_detector=not args.crops)
    result = run_predict(analyzer, args.inputs, args.out, args.json, args.crops, args.race,
                         gate_settings_from(args))
    log.info("%d image(s) processed, %d failed, %d face(s)", result.processed, result.failed, result.faces)
    return 1 if result.failed or not result.processed else 0


def cmd_trt_build(args: argparse.Namespace) -> int:
    from export.tensorrt import run_trt_build

    return run_trt_build(args)


def cmd_bench(args: argparse.Namespace) -> int:
    from benchmarks.cli import run_bench

    return run_bench(args)


def cmd_run(args: argparse.Namespace) -> int:
    from edge.service.runner import run_pipeline_command

    if args.config:
        from agegender.deploy_cli import apply_run_config

        args = apply_run_config(args, make_parser)
    from edge.service.settings import RunSettings

    if getattr(args, "age_gate", 0) and not args.model:
        # a per-person decision runs on the file whose single-face answers agree with float (docs/age-check.md)
        args.model = live_defaults.STEADY_MODEL
        log.info("age check: model %s (pass --model to choose another)", args.model)
    settings = RunSettings.from_options(vars(args), getattr(args, "app_config", None))
    return run_pipeline_command(settings, lambda: build_analyzer(args))


def cmd_tune(args: argparse.Namespace) -> int:
    from agegender.tune_cli import run_tune

    return run_tune(args, make_parser, build_analyzer)


def cmd_ui(args: argparse.Namespace) -> int:
    from agegender.ui.app import run_ui

    return run_ui(args, build_model, build_detector)


def cmd_align_template(args: argparse.Namespace) -> int:
    import json

    import numpy as np

    from edge.vision.align import check_alignment, estimate_template
    from edge.contract import ModelContract
    from edge.imageio import expand_inputs, read_image

    files = expand_inputs(args.chips)
    rng = np.random.default_rng(args.seed)
    if len(files) > args.n:
        files = [files[i] for i in sorted(rng.choice(len(files), args.n, replace=False))]
    from edge.progress import progress

    chips = [read_image(f) for f in progress(files, total=len(files), desc="align-template", unit="chip")]
    detector = build_detector(args)
    est = estimate_template(chips, detector)
    contract = ModelContract(input_size=args.input_size)
    contract.alignment_templates = {est.detector: est.template}
    contract.box_crops = {est.detector: est.box_crop}
    check = check_alignment(chips, detector, contract)
    print(json.dumps({"detector": est.detector, "chips": est.n_chips, "found": est.n_found,
                      "template": est.template, "box_crop": est.box_crop, "spread": est.spread,
                      "check": {"landmark_error_px": round(check.landmark_error_px, 3),
                                "pixel_correlation": round(check.pixel_correlation, 4),
                                "input_size": args.input_size}}, indent=2))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from train.cli import run_train

    return run_train(args)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from train.evaluate import run_evaluate

    return run_evaluate(args)


def cmd_calibrate(args: argparse.Namespace) -> int:
    from train.calibrate_cli import run_calibrate

    return run_calibrate(args)


def cmd_cross_report(args: argparse.Namespace) -> int:
    from train.cross_report import run_cross_report

    return run_cross_report(args)


def cmd_recipe_table(args: argparse.Namespace) -> int:
    from train.recipe_table import run_recipe_table

    return run_recipe_table(args)


def cmd_export(args: argparse.Namespace) -> int:
    from export.cli import run_export

    return run_export(args)


# ---------------------------------------------------------------------------- parser
def make_parser() -> argparse.ArgumentParser:
    from edge import __version__

    parser = argparse.ArgumentParser(prog="agegender", description="Real-time face age and gender estimation")
    parser.add_argument("--version", action="version", version=f"agegender {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0)
    parser.add_argument("-q", "--quiet", action="store_true")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("predict", help="estimate age and gender on images or folders")
    p.add_argument("inputs", nargs="+", help="image files or folders")
    p.add_argument("--json", action="store_true", help="one JSON object per image on stdout")
    p.add_argument("--out", default=None, help="folder for annotated images")
    p.add_argument("--crops", action="store_true", help="inputs are aligned face chips: no detection")
    _add_gate_options(p, photo=True)
    _add_model_options(p, model=live_defaults.STEADY_MODEL)
    _add_detector_options(p)
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("align-template", help="measure a detector's landmark template on aligned training chips")
    p.add_argument("chips", nargs="+", help="chip files or folders (e.g. UTKFace/)")
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--input-size", type=int, default=96)
    p.add_argument("--models-dir", action="append", default=[])
    _add_detector_options(p)
    p.set_defaults(func=cmd_align_template, score_threshold=0.5, min_face=10)

    p = sub.add_parser("run", help="the real-time pipeline on a camera, file, stream, folder or the demo clip")
    p.add_argument("source", nargs="?", default=None,
                   help="camera index (0), video file, rtsp://..., GStreamer pipeline, picamera2, folder, or demo "
                        "(default: camera 0 if it opens, else demo)")
    p.add_argument("--display", default="none", choices=["none", "window"])
    p.add_argument("--fullscreen", action="store_true", help="full-screen window (kiosk look)")
    p.add_argument("--json", nargs="?", const="-", default=None, help="JSON lines per frame to stdout or a file")
    p.add_argument("--save-video", default=None, help="write an annotated video")
    p.add_argument("--stats-json", default=None, help="write the run summary as JSON")
    p.add_argument("--max-frames", type=int, default=0)
    p.add_argument("--duration", type=float, default=0.0, help="seconds")
    p.add_argument("--loop", action="store_true", help="loop a video file, folder or the demo")
    p.add_argument("--realtime", action="store_true", help="pace a video file at its frame rate, like a camera")
    p.add_argument("--width", type=int, default=0)
    p.add_argument("--height", type=int, default=0)
    p.add_argument("--fps", type=float, default=0)
    p.add_argument("--demo-frames", type=int, default=0, help="length of the demo clip (default 300)")
    p.add_argument("--smoothing", type=float, default=0.3, help="EMA weight of a new observation; 1 turns it off")
    p.add_argument("--skip-frames", type=int, default=0, help="re-classify a stable track only every N+1 frames")
    p.add_argument("--detect-every", type=int, default=live_defaults.DETECT_EVERY, metavar="N",
                   help="detect faces only every N frames while every track is stable (new or lost tracks: every "
                        "frame); between detections tracks move on at constant velocity (1: every frame; default "
                        f"{live_defaults.DETECT_EVERY})")
    p.add_argument("--blur-faces", action="store_true", help="pixelate faces in every displayed or saved image")
    _add_gate_options(p)
    deploy_cli.add_run_options(p)
    live_cli.add_run_options(p)
    _add_model_options(p, threads=live_defaults.CLASSIFIER_THREADS)
    _add_detector_options(p, detect_size=live_defaults.DETECT_SIZE)
    p.set_defaults(func=cmd_run)
    live_cli.add_parsers(sub, p, cmd_run)   # serve, kiosk: run + dashboard or kiosk view

    p = sub.add_parser("tune", help="measure the live settings on this device and write them into a config file",
                       description="Runs the pipeline for a few seconds per candidate setting (detection size, "
                                   "detection interval, classifier threads, model file) on SOURCE and writes the "
                                   "best one that keeps up with the camera with headroom, and keeps faces of "
                                   "--min-face-px, into the [run] section of --config FILE (created if missing).")
    p.add_argument("source", nargs="?", default=None,
                   help="camera, file, stream or demo (default: the config file's source, else the demo clip)")
    p.add_argument("--config", required=True, metavar="FILE", help="config file to write the chosen [run] settings to")
    p.add_argument("--faces", type=int, default=2, help="faces in view to plan for (the demo clip draws them; "
                                                         "default 2)")
    p.add_argument("--min-face-px", type=float, default=64.0, metavar="PX",
                   help="smallest face width in frame pixels that must still be detected (default 64)")
    p.add_argument("--fps", type=float, default=0.0, help="the camera's frame rate (default: the source's; demo 30)")
    p.add_argument("--width", type=int, default=0)
    p.add_argument("--height", type=int, default=0)
    p.add_argument("--headroom", type=float, default=0.3, help="spare capacity to keep (default 0.3, i.e. 30 percent)")
    p.add_argument("--seconds", type=float, default=3.0, help="measured per candidate setting (default 3)")
    p.add_argument("--models", default="", metavar="NAME[,NAME]",
                   help="model files to try in order of preference (default: the config's model, else default)")
    p.add_argument("--max-threads", type=int, default=2, help="classifier threads to try, 1..N (default 2)")
    p.add_argument("--json", default=None, metavar="FILE", help="also write every measured setting as JSON")
    _add_model_options(p, threads=live_defaults.CLASSIFIER_THREADS)
    _add_detector_options(p, detect_size=live_defaults.DETECT_SIZE)
    p.set_defaults(func=cmd_tune)

    p = sub.add_parser("ui", help="try the model in a browser: a local Gradio page (needs the 'ui' extra)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--share", action="store_true", help="also publish a temporary public Gradio share link")
    _add_gate_options(p, photo=True)
    _add_model_options(p, model=live_defaults.STEADY_MODEL)
    _add_detector_options(p)
    p.set_defaults(func=cmd_ui)

    _add_train_parser(sub)
    _add_evaluate_parser(sub)
    _add_export_parser(sub)
    deploy_cli.add_parsers(sub, make_parser)

    from benchmarks.cli import add_bench_parser

    add_bench_parser(sub)
    sub.choices["bench"].set_defaults(func=cmd_bench)

    p = sub.add_parser("trt-build", help="build a TensorRT engine from the ONNX export (on a Jetson)")
    p.add_argument("onnx", help="exported FP32 .onnx file")
    p.add_argument("--out", required=True, help="engine file to write")
    p.add_argument("--precision", default="fp16", choices=["fp16", "int8"])
    p.add_argument("--calib", default=None, help="data folder for INT8 calibration")
    p.add_argument("--calib-n", type=int, default=400)
    p.add_argument("--calib-cache", default=None, help="TensorRT calibration cache to read or write")
    p.add_argument("--max-batch", type=int, default=8)
    p.add_argument("--input-size", type=int, default=96, help="used when the .onnx has no contract beside it")
    p.add_argument("--print-command", action="store_true", help="only print the equivalent trtexec command")
    p.set_defaults(func=cmd_trt_build)
    return parser


def _add_train_parser(sub) -> None:
    p = sub.add_parser("train", help="train the multi-task model (needs the 'train' extra: TensorFlow)")
    p.add_argument("--data", action="append", default=[],
                   help="data set folder (UTKFace or FairFace layout); repeat for several")
    p.add_argument("--out", default="runs/agegender", help="run folder (checkpoints, logs, best model)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    p.add_argument("--backbone-weights", default="imagenet", help="PATH to a MobileNetV2 .h5, imagenet, or none")
    p.add_argument("--input-size", type=int, default=96)
    p.add_argument("--alpha", type=float, default=1.0)
    p.add_argument("--freeze-until", default="block_2_add",
                   help="backbone layer up to which weights stay frozen while fine-tuning ('' for none)")
    p.add_argument("--epochs", type=int, default=12, help="fine-tuning epochs")
    p.add_argument("--frozen-epochs", type=int, default=1, help="epochs with the backbone frozen, first")
    p.add_argument("--steps-per-epoch", type=int, default=0, help="0: one pass over the training data")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--loss-weights", default="1,1,0.5", help="age,gender,race weights of the joint loss")
    p.add_argument("--age-loss", default="ldl", choices=["ldl", "mean-variance"],
                   help="exact-age loss: label distribution + L1 (ldl) or mean-variance (Pan et al. 2018)")
    p.add_argument("--interval-prior", type=float, default=0.0, metavar="WEIGHT",
                   help="for age bins (FairFace): weight of a uniform prior over where in its bin a face's age "
                        "mass lies, the open top bin (70+) up to 90 (e.g. 0.1; 0: off)")
    p.add_argument("--age-sigma", default="", metavar="BASE,SLOPE[,KNEE]",
                   help="width in years of the exact-age label distribution: BASE up to age KNEE (default 0), "
                        "then + SLOPE per year (default 1.5,0.05: wider for older faces)")
    p.add_argument("--threshold-loss", type=float, default=0.0, metavar="WEIGHT",
                   help="add WEIGHT x the cross-entropy of P(age < t) for each --age-thresholds t, from exact ages "
                        "and from age bins wholly on one side of t (0: off)")
    p.add_argument("--age-thresholds", default="18,25", metavar="T[,T...]",
                   help="the ages of --threshold-loss (default 18,25)")
    p.add_argument("--age-weight", default="", metavar="LO-HI:W[,...]",
                   help="sample faces aged LO..HI (an age bin by its middle) W times as often, e.g. 5-25:2")
    p.add_argument("--ema", type=float, default=0.0, metavar="DECAY",
                   help="keep an exponential moving average of the weights (e.g. 0.999); validation, best.keras "
                        "and the exports use it (0: off)")
    p.add_argument("--mixup", type=float, default=0.0, metavar="ALPHA",
                   help="mixup with Beta(ALPHA, ALPHA) mixing weights on the training batches (0: off)")
    p.add_argument("--init-model", default="", metavar="KERAS",
                   help="start from this trained .keras model (same --input-size): a fine-tune, e.g. with "
                        "--frozen-epochs 0 and a small --lr")
    p.add_argument("--consistency", type=float, default=0.0, metavar="WEIGHT",
                   help="train each face beside its camera twin (sub-pixel shift, grey-level noise) and add WEIGHT x "
                        "the change of its age (years) and p(female) (/0.03) to the loss; a batch then holds "
                        "--batch-size/2 faces, each twice (0: off)")
    p.add_argument("--consistency-noise", type=int, default=1, metavar="LEVELS",
                   help="the twin's integer noise in grey levels (default 1)")
    p.add_argument("--consistency-shift", type=float, default=0.25, metavar="PX",
                   help="the twin's sub-pixel shift of the sampling grid, up to PX pixels in x and y (default 0.25)")
    p.add_argument("--source-mix", default="", help="sampling weight per --data source, e.g. 1,1 (default: by size)")
    p.add_argument("--balance", default="none", choices=["none", "age", "age+race", "age+race7"],
                   help="balance sampling within each source over age bands (and race: UTKFace's 5 or FairFace's 7)")
    p.add_argument("--max-train", type=int, default=0, help="cap training faces per source (smoke tests)")
    p.add_argument("--max-val", type=int, default=0)
    p.add_argument("--name", default="agegender")
    p.add_argument("--licence", default="", help="licence note for the contract (default: from the data sets)")
    p.add_argument("--cache-dir", default="", help="where decoded chips are cached (default ~/.cache/agegender)")
    p.add_argument("--seed", type=int, default=2026)
    p.set_defaults(func=cmd_train)


def _add_evaluate_parser(sub) -> None:
    p = sub.add_parser("evaluate", help="accuracy report of a Keras, TFLite, ONNX or OpenVINO model")
    p.add_argument("model", help="model file (.keras, .tflite, .onnx, .xml)")
    p.add_argument("--data", required=True, help="UTKFace or FairFace folder")
    p.add_argument("--split", default="test")
    p.add_argument("--out", default=None, help="folder for report.md, metrics.json and plots")
    p.add_argument("--limit", type=int, default=0, help="evaluate at most N faces (0: all)")
    p.add_argument("--flip-tta", action="store_true", help="average with the mirrored face")
    _add_gate_options(p, photo=True)
    p.add_argument("--backend", default="auto", choices=["auto", "tflite", "onnx", "openvino"])
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--framing-check", action="store_true",
                   help="also run detector + alignment on chips padded with a border, and compare")
    p.add_argument("--models-dir", action="append", default=[])
    p.add_argument("--detector", default="yunet")
    p.add_argument("--history", default=None, help="training history.csv to plot")
    p.add_argument("--gate-quality", action="store_true",
                   help="with --age-gate: also measure the gate's error rates against face width, blur and turn "
                        "(the study behind --gate-min-face, --gate-min-sharpness and --gate-max-yaw)")
    p.add_argument("--stability", type=int, default=0, metavar="N",
                   help="also measure on N faces how far one face's age and p(female) move under ±1 grey level of "
                        "noise and a 0.25 px shift of the alignment")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("calibrate", help="fit the age check (and the age-prior correction) to a model file on val")
    p.add_argument("model", help="model file (.keras, .tflite, .onnx); its contract beside it is rewritten")
    p.add_argument("--data", action="append", required=True,
                   help="UTKFace and/or FairFace folder (repeat); their val split is used")
    p.add_argument("--split", default="val")
    p.add_argument("--legal-age", type=int, default=18)
    p.add_argument("--prior-tau", default="0", metavar="TAU",
                   help="also store the training-prior correction dist * prior**-TAU (prior from the --data train "
                        "splits at --source-mix); 0 removes it; auto chooses TAU on the split (0 to 0.5: the 60+ "
                        "signed error closest to zero within --prior-max-mae-cost of tau 0's MAE; with FairFace "
                        "alone, its 60+ bins read above as often as below within --prior-max-bin-cost)")
    p.add_argument("--prior-max-mae-cost", type=float, default=0.05, metavar="YEARS",
                   help="with --prior-tau auto: how much UTKFace MAE the correction may cost (default 0.05 y)")
    p.add_argument("--prior-max-bin-cost", type=float, default=0.5, metavar="PP",
                   help="with --prior-tau auto on age bins alone: how much FairFace age-bin accuracy the correction "
                        "may cost (default 0.5 pp)")
    p.add_argument("--prior-report", default=None, metavar="FILE",
                   help="with --prior-tau auto: write the table of every tau tried (Markdown)")
    p.add_argument("--source-mix", default="", help="the training run's source mix, e.g. 1,1 (default: by size)")
    p.set_defaults(func=cmd_calibrate)

    p = sub.add_parser("cross-report", help="cross-dataset table from evaluate summaries (UTKFace test, FairFace val)")
    p.add_argument("--row", nargs=3, action="append", required=True, metavar=("NAME", "UTKFACE", "FAIRFACE"),
                   help="a model's name and its two evaluate summaries (JSON or --out folder); repeat per model")
    p.add_argument("--out", default=None, help="also write the Markdown table to this file")
    p.add_argument("--kind", default="accuracy", choices=["accuracy", "age-check"],
                   help="accuracy: the cross-dataset table; age-check: the Challenge-T table of the model cards "
                        "(from the --out folders of evaluate, with intervals)")
    p.set_defaults(func=cmd_cross_report)

    p = sub.add_parser("recipe-table", help="the recipe table of models/RECIPES.md from the scored recipe runs")
    p.add_argument("--runs", default="models/recipes", help="folder of scored recipe runs (train/recipes/run.sh)")
    p.add_argument("--out", default=None, help="Markdown page whose recipe-table block to fill (else: stdout)")
    p.add_argument("--series", default="main", choices=["main", "ends"],
                   help="main: the recipe table; ends: the series on the ends of the age scale (models/recipes_ends)")
    p.set_defaults(func=cmd_recipe_table)


def _add_export_parser(sub) -> None:
    p = sub.add_parser("export", help="export a Keras model to TFLite / ONNX / OpenVINO, INT8 included")
    p.add_argument("model", help="trained .keras file")
    p.add_argument("--formats", default="tflite-int8,tflite-fp16,tflite-fp32,onnx-fp32,onnx-int8",
                   help="comma list of tflite-int8, tflite-fp16, tflite-fp32, onnx-fp32, onnx-int8, openvino")
    p.add_argument("--calib", default=None, help="data folder for INT8 calibration (training split is used)")
    p.add_argument("--calib-n", type=int, default=400, help="calibration faces, stratified by age, gender and race")
    p.add_argument("--out", default="models", help="output folder")
    p.add_argument("--name", default=None, help="file stem (default: the contract's name)")
    p.add_argument("--onnx-reduce-range", default="on", choices=["on", "off", "auto"],
                   help="ONNX INT8 with 7-bit weights (on, the default: right on x86 with and without VNNI and on "
                        "ARM); off: 8-bit weights, which saturate on x86 without VNNI; auto: decided by the CPU that "
                        "exports, not the one that runs the file")
    p.add_argument("--float-tail", action="store_true",
                   help="end the files at the logits; the runtime applies softmax, sigmoid and the expected age in "
                        "float32 (an INT8 file then does not round the 101-bin age softmax)")
    p.add_argument("--float-layers", type=int, default=0, metavar="N",
                   help="INT8 TFLite: keep the N layers with the largest quantization error (measured by TFLite's "
                        "QuantizationDebugger on 64 calibration faces) in float32; input and output become float32")
    p.add_argument("--verify", action="store_true", help="evaluate every file on --verify-data and write EXPORTS.md")
    p.add_argument("--verify-only", action="store_true", help="verify files an earlier export wrote to --out")
    p.add_argument("--verify-data", default=None, help="data folder for --verify (test split)")
    p.add_argument("--verify-limit", type=int, default=0)
    p.add_argument("--verify-report", default=None, metavar="FILE",
                   help="where --verify writes its markdown table (default: EXPORTS.md in --out)")
    p.add_argument("--agreement-bound", default="p95=1,max=4,flips=0.005", metavar="p95=Y,max=Y,flips=F",
                   help="with --verify: fail (exit 1) when a file's per-face |age - Keras age| exceeds p95 or max "
                        "years, or its gender decisions differ from Keras on more than a share F of the faces "
                        "(default p95=1,max=4,flips=0.005; none: report only)")
    p.add_argument("--verify-stability", type=int, default=300, metavar="N",
                   help="faces for the stability table of --verify (±1 grey level, 0.25 px shift; 0: skip)")
    p.set_defaults(func=cmd_export)


def setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet else logging.DEBUG if verbose > 1 else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    args._argv = list(sys.argv[1:] if argv is None else argv)   # `run --config`: which options were explicit
    setup_logging(args.verbose, args.quiet)
    from edge.progress import set_enabled

    set_enabled(not args.quiet)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except AgeGenderError as e:
        if args.debug:
            raise
        print(f"agegender: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
