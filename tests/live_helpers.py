"""Helpers shared by the dashboard, MQTT and kiosk tests: a fast fake analyzer, a live source that
can be paused (like an unplugged camera), and a pipeline running in a background thread."""
from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional

import numpy as np

from edge.contract import ModelContract
from edge.vision.decode import DecodeConfig
from edge.live.demo import astronaut_face, render_demo_frame
from edge.live.pipeline import Pipeline, PipelineConfig
from edge.types import Detection, Frame, Prediction


class FakeModel:
    contract = ModelContract()


class FakeAnalyzer:
    """Two faces at the places the demo clip draws them; ages 30 (female) and 45 (male)."""

    def __init__(self) -> None:
        self.model, self.decode = FakeModel(), DecodeConfig()

    def detect(self, image, times=None):
        h, w = image.shape[:2]
        return [Detection(np.array([w * .1, h * .2, w * .35, h * .6], np.float32), 0.9),
                Detection(np.array([w * .55, h * .2, w * .8, h * .6], np.float32), 0.9)]

    def classify(self, image, dets, times=None):
        preds = [Prediction(30.0, (25.0, 35.0), "25-32", 0.9, "female"),
                 Prediction(45.0, (40.0, 52.0), "38-43", 0.1, "male")]
        return [preds[int(d.box[0] > image.shape[1] / 2)] for d in dets]


class PausableSource:
    """A live demo-like source at ``fps`` whose frames stop while ``paused`` is set."""

    live = True
    name = "pausable"

    def __init__(self, fps: float = 20.0, width: int = 320, height: int = 240):
        self.fps, self.width, self.height = fps, width, height
        self.paused = threading.Event()
        self._i = 0
        self._face = None

    def open(self) -> None:
        self._face = astronaut_face()

    def read(self, timeout: float = 1.0) -> Optional[Frame]:
        if self.paused.is_set():
            time.sleep(min(timeout, 0.1))
            return None
        time.sleep(1.0 / self.fps)
        img = render_demo_frame(self._i, self.width, self.height, 2, self.fps, self._face)
        f = Frame(img, self._i, time.time(), time.monotonic(), self.name)
        self._i += 1
        return f

    def close(self) -> None:
        pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running(pipeline: Pipeline) -> Iterator[dict]:
    """Run the pipeline in a thread; stop it and wait on exit. Yields a dict that gets 'summary'."""
    out: dict = {}

    def target() -> None:
        out["summary"] = pipeline.run()

    t = threading.Thread(target=target, daemon=True)
    t.start()
    try:
        yield out
    finally:
        pipeline.stop("test done")
        t.join(timeout=20)
        assert not t.is_alive(), "pipeline did not stop"


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met in {timeout} s")


def fake_pipeline(source, sinks=(), **cfg) -> Pipeline:
    return Pipeline(source, FakeAnalyzer(), list(sinks), PipelineConfig(**cfg))


def tiny_tflite_model(tmp_path_factory) -> Path:
    """The shipped INT8 model if there is one, else a tiny untrained model exported to TFLite INT8
    only (about a minute with TensorFlow; built once per test session). Skips without TensorFlow."""
    import importlib.util

    import pytest

    root = Path(__file__).resolve().parents[1]
    shipped = root / "models" / "agegender_int8.tflite"
    if shipped.is_file():
        return shipped
    out = tmp_path_factory.getbasetemp() / "live_tiny_tflite"
    done = out / "tiny_int8.tflite"
    if done.is_file():
        return done
    if importlib.util.find_spec("tensorflow") is None:
        pytest.skip("no shipped model and no TensorFlow to build a tiny one")
    from conftest import write_synthetic_utkface
    from edge.contract import ModelContract
    from export.cli import export_all
    from train.model import build_model, save_for_inference

    out.mkdir(parents=True, exist_ok=True)
    keras_path = out / "tiny.keras"
    save_for_inference(build_model(input_size=64, alpha=0.35, backbone_weights="none"), keras_path)
    ModelContract(name="tiny", input_size=64, licence="test model").save_beside(keras_path)
    data = write_synthetic_utkface(out / "synth", n=560)
    results = export_all(keras_path, ["tflite-int8"], out, str(data), calib_n=300)
    return Path(results[0].path)
