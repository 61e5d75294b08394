"""Face detectors by name, with model files found on a search path and a fallback chain."""
from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import Optional

from edge.vision.detectors.base import Detector, DetectorConfig
from edge.errors import AgeGenderError, ModelLoadError
from edge.vision import model_store

log = logging.getLogger(__name__)

# name -> (module:class, model filenames, sub-folder under a models dir, constructor kwargs)
DETECTORS: dict[str, tuple[str, tuple[str, ...], str, dict]] = {
    "yunet": ("edge.vision.detectors.yunet:YuNetDetector",
              ("face_detection_yunet_2023mar.onnx", "face_detection_yunet_2026may.onnx"), "yunet", {}),
    "blazeface": ("edge.vision.detectors.blazeface:BlazeFaceDetector", ("face_detection_short_range.tflite",),
                  "blazeface", {}),
    "blazeface-full": ("edge.vision.detectors.blazeface:BlazeFaceDetector", ("face_detection_full_range.tflite",),
                       "blazeface", {"full_range": True}),
    "res10": ("edge.vision.detectors.res10:Res10Detector", ("opencv_face_detector_uint8.pb",), "opencv_res10", {}),
    "haar": ("edge.vision.detectors.haar:HaarDetector", (), "", {}),
}
DEFAULT_CHAIN = ("yunet", "blazeface", "res10", "haar")

__all__ = ["Detector", "DetectorConfig", "DETECTORS", "create_detector", "find_detector_file"]


def find_detector_file(name: str, models_dirs: tuple[str, ...] = ()) -> Optional[Path]:
    _, files, sub, _ = DETECTORS[name]
    if not files:
        return None
    return model_store.find_file(files, (sub, "face_detection/" + sub, "face_detection"), models_dirs)


def _construct(name: str, path: Optional[Path], config: DetectorConfig) -> Detector:
    target, _, _, kwargs = DETECTORS[name]
    module_name, cls_name = target.split(":")
    cls = getattr(importlib.import_module(module_name), cls_name)
    return cls(path, config, **kwargs)


def create_detector(name: str = "auto", config: Optional[DetectorConfig] = None, model_path: Optional[str] = None,
                    models_dirs: tuple[str, ...] = (), allow_download: bool = False) -> Detector:
    """Create a detector. ``auto`` takes the best one whose file is found, falling back to the
    Haar cascade that ships with OpenCV, and logs one line naming what it chose."""
    config = config or DetectorConfig()
    if name != "auto" and name not in DETECTORS:
        raise AgeGenderError(f"unknown detector {name!r}; choose from auto, {', '.join(DETECTORS)}")
    if model_path:
        if name == "auto":
            raise AgeGenderError("--detector-model needs an explicit --detector")
        return _construct(name, Path(model_path), config)
    chain = DEFAULT_CHAIN if name == "auto" else (name,)
    for candidate in chain:
        path = find_detector_file(candidate, models_dirs)
        if path is None and candidate == "yunet" and allow_download:
            try:
                path = model_store.download(model_store.YUNET_RELEASE)
            except ModelLoadError as e:
                log.warning("%s", e)
        if path is None and DETECTORS[candidate][1]:
            if name != "auto":
                raise ModelLoadError(
                    f"detector {candidate!r}: none of {', '.join(DETECTORS[candidate][1])} found in "
                    f"{model_store.describe_search(models_dirs)}; pass --detector-model PATH, or --models-dir / "
                    f"${model_store.MODELS_DIR_ENV} naming the folder that holds it")
            continue
        detector = _construct(candidate, path, config)
        if name == "auto" and candidate != DEFAULT_CHAIN[0]:
            log.warning("face detector: %s (YuNet's file was not found in %s; pass --models-dir or "
                        "--download-models for better accuracy)", candidate, model_store.describe_search(models_dirs))
        else:
            log.info("face detector: %s%s", candidate, f" ({path})" if path else "")
        return detector
    raise ModelLoadError("no face detector is available")  # pragma: no cover - haar always exists with OpenCV 4
