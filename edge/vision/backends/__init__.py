"""Inference backends by name. Each runtime is imported only when its backend is created."""
from __future__ import annotations

import importlib
from pathlib import Path

from edge.vision.backends.base import Backend, BackendOptions, TensorInfo
from edge.errors import AgeGenderError

BACKENDS = {
    "tflite": "edge.vision.backends.tflite:TFLiteBackend",
    "onnx": "edge.vision.backends.onnx:OnnxBackend",
    "openvino": "edge.vision.backends.openvino:OpenVinoBackend",
}
SUFFIXES = {".tflite": "tflite", ".onnx": "onnx", ".xml": "openvino"}

__all__ = ["Backend", "BackendOptions", "TensorInfo", "BACKENDS", "backend_for", "open_backend"]


def backend_for(path: str | Path) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        raise AgeGenderError(f"{path}: unknown model format {suffix or '(no suffix)'}; "
                             f"expected one of {', '.join(SUFFIXES)}")
    return SUFFIXES[suffix]


def open_backend(path: str | Path, backend: str = "auto", options: BackendOptions | None = None) -> Backend:
    name = backend_for(path) if backend == "auto" else backend
    if name not in BACKENDS:
        raise AgeGenderError(f"unknown backend {name!r}; choose from {', '.join(BACKENDS)}")
    module_name, cls_name = BACKENDS[name].split(":")
    cls = getattr(importlib.import_module(module_name), cls_name)
    return cls(path, options)
