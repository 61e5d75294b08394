"""The device runtime must not need TensorFlow or Keras."""
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_edge_sources_never_import_tensorflow_or_keras():
    pattern = re.compile(r"^\s*(import|from)\s+(tensorflow|keras|tf_keras)\b", re.M)
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "edge").rglob("*.py") if pattern.search(p.read_text())]
    assert offenders == []


def test_importing_the_runtime_loads_no_tensorflow():
    code = ("import sys; import edge, edge.live.pipeline, edge.service.runner, edge.vision.backends.tflite, edge.vision.backends.onnx, "
            "edge.vision.detectors.blazeface, edge.vision.detectors.yunet, edge.vision.predict, agegender.cli; "
            "agegender.cli.make_parser(); "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
