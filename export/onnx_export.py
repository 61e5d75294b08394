"""SavedModel -> ONNX FP32 (tf2onnx), and ONNX Runtime static INT8 (QDQ, per-channel).

ONNX Runtime's default u8/s8 QDQ model can saturate on x86 CPUs without VNNI, because
the non-VNNI kernels add pairs of u8*s8 products in 16 bits. ``reduce_range`` (7-bit
weights) avoids it at a small cost in speed; ``auto`` turns it on exactly there.
"""
from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import numpy as np

from edge.contract import METADATA_KEY, ModelContract
from edge.errors import AgeGenderError

log = logging.getLogger(__name__)

OPSET = 17


def should_reduce_range(setting: str) -> bool:
    """``on`` (the default): 7-bit weights, right on every CPU; ``off``: 8-bit weights, which saturate on x86
    without VNNI; ``auto``: on where the exporting CPU is x86 without VNNI (decided by the machine that builds
    the file, not the one that runs it: kept for comparisons only)."""
    from edge.vision.backends.cpu_features import has_vnni, is_x86

    if setting == "on":
        return True
    if setting == "off":
        return False
    return is_x86() and not has_vnni()


def convert_fp32(saved_model: Path, out: Path) -> Path:
    cmd = [sys.executable, "-m", "tf2onnx.convert", "--saved-model", str(saved_model), "--opset", str(OPSET),
           "--output", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0 or not out.is_file():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise AgeGenderError(f"tf2onnx failed: {' | '.join(tail)}")
    return out


def set_metadata(path: Path, contract: ModelContract, rename_input: str = "image") -> None:
    """Embed the contract in ``metadata_props`` and give the input its contract name."""
    import onnx

    model = onnx.load(str(path))
    old = model.graph.input[0].name
    if old != rename_input:
        for node in model.graph.node:
            node.input[:] = [rename_input if i == old else i for i in node.input]
        model.graph.input[0].name = rename_input
    for out in model.graph.output:   # tf2onnx may suffix names (age:0); keep the contract's
        clean = out.name.split(":")[0]
        if clean != out.name:
            for node in model.graph.node:
                node.output[:] = [clean if o == out.name else o for o in node.output]
            out.name = clean
    kept = [p for p in model.metadata_props if p.key != METADATA_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, contract.to_json()
    onnx.save(model, str(path))


class _Reader:
    """ONNX Runtime CalibrationDataReader over the calibration faces."""

    def __init__(self, images: np.ndarray, input_name: str, batch: int = 16):
        self._batches = [images[i:i + batch].astype(np.float32) for i in range(0, len(images), batch)]
        self._name = input_name
        self._i = 0

    def get_next(self):
        if self._i >= len(self._batches):
            return None
        self._i += 1
        return {self._name: self._batches[self._i - 1]}

    def rewind(self) -> None:
        self._i = 0


def quantize_int8(fp32: Path, out: Path, calib: np.ndarray, reduce_range: bool) -> Path:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prep = out.with_name(out.stem + ".prep.onnx")
    quant_pre_process(str(fp32), str(prep), skip_symbolic_shape=False)
    reader = type("Reader", (_Reader, CalibrationDataReader), {})(calib, "image")
    try:
        quantize_static(str(prep), str(out), reader, quant_format=QuantFormat.QDQ, per_channel=True,
                        reduce_range=reduce_range, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    finally:
        prep.unlink(missing_ok=True)
    return out
