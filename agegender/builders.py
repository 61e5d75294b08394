"""Model, detector and analyzer from command-line options: shared by the CLI and `agegender ui`."""
from __future__ import annotations

import argparse

from edge.errors import AgeGenderError


def parse_gender_band(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError as e:
        raise AgeGenderError(f"--gender-band must be two numbers like 0.35,0.65, not {text!r}") from e
    if not 0 <= lo <= hi <= 1:
        raise AgeGenderError(f"--gender-band {text!r}: need 0 <= low <= high <= 1")
    return lo, hi


def build_model(args: argparse.Namespace):
    from edge.vision.backends import BackendOptions
    from edge.vision.model import AgeGenderModel, resolve_model_path
    from edge.vision.model_store import cache_dir

    path = resolve_model_path(args.model, tuple(args.models_dir))
    providers = [p for p in args.providers.split(",") if p]
    trt_cache = str(cache_dir().parent / "trt") if "tensorrt" in providers else None
    return AgeGenderModel(path, args.backend, BackendOptions(threads=args.threads, providers=providers,
                                                             cache_dir=trt_cache))


def build_detector(args: argparse.Namespace):
    from edge.vision.detectors import DetectorConfig, create_detector

    cfg = DetectorConfig(score_threshold=args.score_threshold, nms_threshold=args.nms_threshold,
                         min_face=args.min_face, max_faces=args.max_faces)
    return create_detector(args.detector, cfg, args.detector_model, tuple(args.models_dir), args.download_models)


def build_analyzer(args: argparse.Namespace, need_detector: bool = True):
    from edge.vision.analyzer import FaceAnalyzer
    from edge.vision.decode import DecodeConfig

    model = build_model(args)
    detector = build_detector(args) if need_detector else None
    return FaceAnalyzer(detector, model, DecodeConfig(gender_band=parse_gender_band(args.gender_band), with_race=args.race),
                        detect_size=args.detect_size)
