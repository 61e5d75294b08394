"""TFLite backend: ai-edge-litert, then tflite-runtime, then TensorFlow's tf.lite as a last resort."""
from __future__ import annotations

import importlib
import logging
from pathlib import Path
from typing import Any, Optional

import numpy as np

from edge.vision.backends.base import BackendOptions, TensorInfo, check_model_file, warm_up
from edge.vision.backends.tflite_meta import read_tflite_metadata
from edge.errors import BackendUnavailable, ModelLoadError

log = logging.getLogger(__name__)

_RUNTIMES = ("ai_edge_litert.interpreter", "tflite_runtime.interpreter", "tensorflow.lite")


def load_interpreter_class() -> Any:
    for module_name in _RUNTIMES:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        log.debug("TFLite runtime: %s", module_name)
        return module.Interpreter
    raise BackendUnavailable(
        "no TFLite runtime is installed: pip install 'agegender[tflite]' (ai-edge-litert), "
        "or tflite-runtime where no ai-edge-litert wheel exists")


class TFLiteBackend:
    name = "tflite"

    def __init__(self, path: str | Path, options: BackendOptions | None = None):
        self.path = Path(path)
        self.options = options or BackendOptions()
        check_model_file(self.path, "TFLite")
        interpreter_cls = load_interpreter_class()
        kwargs: dict[str, Any] = {"model_path": str(self.path)}
        if self.options.threads:
            kwargs["num_threads"] = self.options.threads
        try:
            self._interp = interpreter_cls(**kwargs)
            self._interp.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            raise ModelLoadError(f"{self.path}: not a valid TFLite model ({str(e).splitlines()[0]})") from e
        self._signature = None
        sigs = self._interp.get_signature_list() if hasattr(self._interp, "get_signature_list") else {}
        if sigs:
            key = "serving_default" if "serving_default" in sigs else next(iter(sigs))
            self._signature = self._interp.get_signature_runner(key)
            in_details = self._signature.get_input_details()
            out_details = self._signature.get_output_details()
            self._in = [(n, d) for n, d in in_details.items()]
            self._out = [(n, d) for n, d in sorted(out_details.items())]
        else:
            self._in = [(d["name"], d) for d in self._interp.get_input_details()]
            self._out = [(d["name"], d) for d in self._interp.get_output_details()]
        self.inputs = [TensorInfo(n, tuple(int(x) for x in d.get("shape_signature", d["shape"])),
                                  np.dtype(d["dtype"]).name) for n, d in self._in]
        self.outputs = [TensorInfo(n, tuple(int(x) for x in d.get("shape_signature", d["shape"])),
                                   np.dtype(d["dtype"]).name) for n, d in self._out]
        self._batch = 1
        warm_up(self, self.options.warmup)

    @property
    def max_batch(self) -> Optional[int]:
        return None if self.inputs[0].shape[0] == -1 else self.inputs[0].shape[0]

    def _quantize(self, batch: np.ndarray, detail: dict) -> np.ndarray:
        dtype = np.dtype(detail["dtype"])
        scale, zero = detail.get("quantization", (0.0, 0))
        if dtype == np.float32 or dtype == np.float16:
            return batch.astype(dtype, copy=False)
        if batch.dtype == dtype and (not scale or (scale == 1.0 and zero == 0)):
            return batch
        if not scale:
            return batch.astype(dtype)
        info = np.iinfo(dtype)
        q = np.round(batch.astype(np.float32) / scale + zero)
        return np.clip(q, info.min, info.max).astype(dtype)

    @staticmethod
    def _dequantize(value: np.ndarray, detail: dict) -> np.ndarray:
        scale, zero = detail.get("quantization", (0.0, 0))
        if value.dtype in (np.float32, np.float64, np.float16):
            return value.astype(np.float32, copy=False)
        if scale:
            return (value.astype(np.float32) - zero) * scale
        return value.astype(np.float32)

    def infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        name, detail = self._in[0]
        x = self._quantize(batch, detail)
        if self._signature is not None:
            result = self._signature(**{name: x})
            return {n: self._dequantize(result[n], d) for n, d in self._out}
        index = detail["index"]
        if x.shape[0] != self._batch:
            self._interp.resize_tensor_input(index, list(x.shape))
            self._interp.allocate_tensors()
            self._batch = x.shape[0]
        self._interp.set_tensor(index, x)
        self._interp.invoke()
        return {n: self._dequantize(self._interp.get_tensor(d["index"]), d) for n, d in self._out}

    def embedded_metadata(self) -> Optional[str]:
        from edge.contract import METADATA_KEY

        meta = read_tflite_metadata(self.path.read_bytes())
        value = meta.get(METADATA_KEY)
        return value.decode("utf-8") if value is not None else None
