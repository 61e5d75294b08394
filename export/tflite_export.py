"""SavedModel -> TFLite: FP32, FP16 weights, and full-integer INT8 with a uint8 input.

INT8 keeps float32 outputs: the converter dequantizes at the end, so the age keeps its
precision instead of a uint8 step of about 0.5 years that clips at its calibrated range.
"""
from __future__ import annotations

import csv
import io
import logging
from pathlib import Path
from typing import Iterator

import numpy as np

from edge.contract import METADATA_KEY, ModelContract

log = logging.getLogger(__name__)


def convert(saved_model: Path, precision: str, calib: np.ndarray | None = None, int8_output: bool = False) -> bytes:
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_saved_model(str(saved_model))
    if precision == "fp16":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.target_spec.supported_types = [tf.float16]
    elif precision == "int8":
        if calib is None:
            raise ValueError("INT8 conversion needs calibration images")
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = _representative(calib)
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.uint8
        conv.inference_output_type = tf.uint8 if int8_output else tf.float32
    elif precision != "fp32":
        raise ValueError(f"unknown TFLite precision {precision!r}")
    return conv.convert()


def _representative(images: np.ndarray):
    def gen() -> Iterator[list[np.ndarray]]:
        for img in images:
            yield [img[None].astype(np.float32)]
    return gen


def layer_quantization_errors(debugger) -> list[tuple[str, float]]:
    """(tensor name, RMSE of the quantized against the float activation in quantization steps) per layer,
    worst first, from a QuantizationDebugger that has run."""
    dump = io.StringIO()
    debugger.layer_statistics_dump(dump)
    errors = []
    for row in csv.DictReader(io.StringIO(dump.getvalue())):
        scale = float(row["scale"])
        if scale > 0:
            errors.append((row["tensor_name"], float(np.sqrt(float(row["mean_squared_error"]))) / scale))
    return sorted(errors, key=lambda e: -e[1])


def convert_selective_int8(saved_model: Path, calib: np.ndarray, float_layers: int, debug_faces: int = 64
                           ) -> tuple[bytes, list[tuple[str, float]]]:
    """INT8 with the ``float_layers`` layers whose quantization error is largest kept in float32.

    TFLite's QuantizationDebugger runs the quantized model beside its float twin on ``debug_faces`` calibration
    faces and measures every layer's error; the worst layers are denylisted and the model quantized again.
    Input and output stay float32 (the runtime feeds the raw 0..255 pixels as floats). Returns the model and
    the kept layers with their errors."""
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_saved_model(str(saved_model))
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = _representative(calib)
    debugger = tf.lite.experimental.QuantizationDebugger(converter=conv,
                                                         debug_dataset=_representative(calib[:debug_faces]))
    debugger.run()
    kept = layer_quantization_errors(debugger)[:float_layers]
    for name, err in kept:
        log.info("kept in float: %s (RMSE %.2f quantization steps)", name, err)
    debugger.options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=[n for n, _ in kept])
    return debugger.get_nondebug_quantized_model(), kept


def embed_metadata(model_bytes: bytes, contract: ModelContract) -> bytes:
    """Add the contract as a TFLite metadata entry named ``agegender_contract``."""
    from tensorflow.lite.python import schema_py_generated as schema

    import flatbuffers

    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(bytearray(model_bytes), 0))
    buf = schema.BufferT()
    buf.data = np.frombuffer(contract.to_json().encode("utf-8"), np.uint8)
    model.buffers.append(buf)
    meta = schema.MetadataT()
    meta.name = METADATA_KEY
    meta.buffer = len(model.buffers) - 1
    model.metadata = [m for m in (model.metadata or []) if m.name != METADATA_KEY.encode()] + [meta]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())
