"""Shared fixtures. Tests that need ../shared read it from $AGEGENDER_SHARED and skip without it;
tests that need TensorFlow skip where it is not installed (a device install)."""
from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def run_cli(*args: str, env_extra: dict | None = None, timeout: float = 300):
    """`python -m agegender ARGS` from the repo root, output captured as text."""
    import subprocess

    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "agegender", *args], cwd=ROOT, capture_output=True, text=True,
                          env=env, timeout=timeout)


def shared_dir() -> Path | None:
    env = os.environ.get("AGEGENDER_SHARED")
    if env and Path(env).is_dir():
        return Path(env)
    return None


@pytest.fixture(scope="session")
def shared() -> Path:
    d = shared_dir()
    if d is None:
        pytest.skip("shared data not available (set AGEGENDER_SHARED to ../shared)")
    return d


def _shared_part(shared: Path, relative: str, marker: str, what: str) -> Path:
    p = shared / relative
    if not (p / marker).exists():
        pytest.skip(f"{what} not in shared data")
    return p


@pytest.fixture(scope="session")
def utkface(shared) -> Path:
    return _shared_part(shared, "datasets/utkface", "labels.csv", "UTKFace")


@pytest.fixture(scope="session")
def fairface(shared) -> Path:
    return _shared_part(shared, "datasets/fairface", "labels.csv", "FairFace")


@pytest.fixture(scope="session")
def detector_models(shared) -> Path:
    return _shared_part(shared, "models/face_detection", ".", "detector models")


def has_tensorflow() -> bool:
    return importlib.util.find_spec("tensorflow") is not None


needs_tf = pytest.mark.skipif(not has_tensorflow(), reason="TensorFlow not installed (train/export extras)")


def write_synthetic_utkface(folder: Path, n: int = 560, size: int = 64, seed: int = 0, with_csv: bool = True) -> Path:
    """A UTKFace-style folder of smooth random images with labels, for pipeline tests."""
    import cv2

    rng = np.random.default_rng(seed)
    img_dir = folder / "UTKFace"
    img_dir.mkdir(parents=True, exist_ok=True)
    rows = ["filename,age,gender,race,split"]
    for i in range(n):
        age, gender, race = int(rng.integers(1, 90)), int(rng.integers(0, 2)), int(rng.integers(0, 5))
        small = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)
        img = cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)
        name = f"{age}_{gender}_{race}_2017{i:010d}.jpg.chip.jpg"
        cv2.imwrite(str(img_dir / name), img)
        split = "train" if i % 5 < 3 else ("val" if i % 5 == 3 else "test")
        rows.append(f"{name},{age},{gender},{race},{split}")
    if with_csv:
        (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    return folder


@pytest.fixture(scope="session")
def synthetic_utk(tmp_path_factory) -> Path:
    return write_synthetic_utkface(tmp_path_factory.mktemp("synthutk"))


@pytest.fixture(scope="session")
def tiny_keras_model(tmp_path_factory):
    """A small untrained model (MobileNetV2 alpha 0.35 at 64 px) saved as .keras with its contract."""
    if not has_tensorflow():
        pytest.skip("TensorFlow not installed")
    from edge.contract import ModelContract
    from train.model import build_model, save_for_inference

    out = tmp_path_factory.mktemp("tiny") / "tiny.keras"
    model = build_model(input_size=64, alpha=0.35, backbone_weights="none")
    save_for_inference(model, out)
    ModelContract(name="tiny", input_size=64, licence="test model").save_beside(out)
    return out


@pytest.fixture(scope="session")
def tiny_exports(tiny_keras_model, synthetic_utk, tmp_path_factory):
    """The tiny model through every format export/ writes (OpenVINO where installed)."""
    from export.cli import export_all

    formats = ["tflite-int8", "tflite-fp16", "tflite-fp32", "onnx-fp32", "onnx-int8"]
    if importlib.util.find_spec("openvino") is not None:
        formats.append("openvino")
    out = tmp_path_factory.mktemp("exports")
    results = export_all(tiny_keras_model, formats, out, str(synthetic_utk), calib_n=300)
    return {r.format: r for r in results}


@pytest.fixture(scope="session")
def runtime_model(tiny_exports) -> Path:
    return tiny_exports["tflite-int8"].path


@pytest.fixture(scope="session")
def face_image() -> np.ndarray:
    """A BGR frame with two faces (the demo clip's astronaut portraits)."""
    from edge.live.demo import render_demo_frame

    return render_demo_frame(60)
