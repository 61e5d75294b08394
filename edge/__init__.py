"""agegender edge runtime: face detection, alignment, age/gender inference, tracking, outputs.

This package never imports TensorFlow or Keras; heavy runtimes are imported lazily by the
backend that needs them.
"""
from __future__ import annotations

import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())
