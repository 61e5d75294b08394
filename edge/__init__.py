"""agegender edge runtime: face detection, alignment, age/gender inference, tracking, outputs.

Layers, each importing only the ones before it:

- ``edge`` itself: errors, types, the model contract, image reading, progress bars;
- ``edge.vision``: backends, the model, detectors, alignment, decoding, the analyzer, ``predict``;
- ``edge.live``: sources, the threaded pipeline, tracking, outputs, run metrics;
- ``edge.service``: config file, dashboard, Prometheus, MQTT, analytics, kiosk, systemd, watchdog.

The public API below is imported lazily, so ``import edge`` stays cheap::

    from edge import FaceAnalyzer, Pipeline, create_detector, load_model, open_source

This package never imports TensorFlow or Keras; heavy runtimes are imported lazily by the
backend that needs them.
"""
from __future__ import annotations

import importlib
import logging
from typing import Any

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())

_PUBLIC = {
    "FaceAnalyzer": "edge.vision.analyzer",
    "DecodeConfig": "edge.vision.decode",
    "AgeGenderModel": "edge.vision.model",
    "load_model": "edge.vision.model",
    "create_detector": "edge.vision.detectors",
    "Pipeline": "edge.live.pipeline",
    "PipelineConfig": "edge.live.pipeline",
    "open_source": "edge.live.sources",
    "JsonLinesSink": "edge.live.outputs",
}
__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module 'edge' has no attribute {name!r}")
