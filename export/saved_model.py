"""Keras model -> TensorFlow SavedModel with a named ``image`` input and a dynamic batch."""
from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger(__name__)


def export_saved_model(model, out_dir: Path, input_size: int) -> Path:
    import tensorflow as tf

    out_dir = Path(out_dir)
    spec = [tf.TensorSpec([None, input_size, input_size, 3], tf.float32, name="image")]
    model.export(str(out_dir), format="tf_saved_model", input_signature=spec, verbose=False)
    return out_dir
