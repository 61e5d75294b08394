"""SavedModel -> TFLite: FP32, FP16 weights, and full-integer INT8 with a uint8 input.

INT8 keeps float32 outputs: the converter dequantizes at the end, so the age keeps its
precision instead of a uint8 step of about 0.5 years that clips at its calibrated range.
"""
from __future__ import annotations

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

        def representative() -> Iterator[list[np.ndarray]]:
            for img in calib:
                yield [img[None].astype(np.float32)]

        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = representative
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.uint8
        conv.inference_output_type = tf.uint8 if int8_output else tf.float32
    elif precision != "fp32":
        raise ValueError(f"unknown TFLite precision {precision!r}")
    return conv.convert()


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
