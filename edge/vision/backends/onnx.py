"""ONNX Runtime backend with a selectable execution-provider list."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import numpy as np

from edge.vision.backends.base import BackendOptions, TensorInfo, check_model_file, warm_up
from edge.errors import BackendUnavailable, ModelLoadError

log = logging.getLogger(__name__)

PROVIDERS = {
    "tensorrt": "TensorrtExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "cpu": "CPUExecutionProvider",
}
_ORT_TYPES = {"tensor(float)": "float32", "tensor(uint8)": "uint8", "tensor(int8)": "int8",
              "tensor(float16)": "float16"}


def resolve_providers(requested: list[str], available: list[str], cache_dir: Optional[str]) -> list:
    """Map short names to ONNX Runtime providers; a requested provider that is missing is an error."""
    if not requested:
        return ["CPUExecutionProvider"]
    out: list = []
    for name in requested:
        full = PROVIDERS.get(name.lower(), name)
        if full not in available:
            raise BackendUnavailable(
                f"ONNX Runtime provider {name!r} ({full}) is not available here; available: {', '.join(available)}. "
                "Install the onnxruntime build that has it (e.g. onnxruntime-gpu, or JetPack's wheel for TensorRT)")
        if full == "TensorrtExecutionProvider":
            opts = {"trt_fp16_enable": True, "trt_engine_cache_enable": True}
            if cache_dir:
                Path(cache_dir).mkdir(parents=True, exist_ok=True)
                opts["trt_engine_cache_path"] = cache_dir
            out.append((full, opts))
        else:
            out.append(full)
    return out


class OnnxBackend:
    name = "onnx"

    def __init__(self, path: str | Path, options: BackendOptions | None = None):
        self.path = Path(path)
        self.options = options or BackendOptions()
        check_model_file(self.path, "ONNX")
        try:
            import onnxruntime as ort
        except ImportError as e:
            raise BackendUnavailable("ONNX Runtime is not installed: pip install 'agegender[onnx]'") from e
        so = ort.SessionOptions()
        if self.options.threads:
            so.intra_op_num_threads = self.options.threads
            so.inter_op_num_threads = 1
        so.log_severity_level = 3
        providers = resolve_providers(self.options.providers, ort.get_available_providers(), self.options.cache_dir)
        try:
            self._session = ort.InferenceSession(str(self.path), so, providers=providers)
        except Exception as e:  # noqa: BLE001 - ORT raises its own exception types
            raise ModelLoadError(f"{self.path}: not a valid ONNX model ({str(e).splitlines()[0][:200]})") from e
        log.info("ONNX Runtime providers: %s", ", ".join(self._session.get_providers()))
        self.inputs = [TensorInfo(i.name, tuple(d if isinstance(d, int) else -1 for d in i.shape),
                                  _ORT_TYPES.get(i.type, i.type)) for i in self._session.get_inputs()]
        self.outputs = [TensorInfo(o.name, tuple(d if isinstance(d, int) else -1 for d in o.shape),
                                   _ORT_TYPES.get(o.type, o.type)) for o in self._session.get_outputs()]
        self._input_dtype = np.dtype(self.inputs[0].dtype)
        warm_up(self, self.options.warmup)

    @property
    def max_batch(self) -> Optional[int]:
        return None if self.inputs[0].shape[0] == -1 else self.inputs[0].shape[0]

    def infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        x = batch.astype(self._input_dtype, copy=False)
        values = self._session.run(None, {self.inputs[0].name: x})
        return {o.name: np.asarray(v, np.float32) for o, v in zip(self.outputs, values)}

    def embedded_metadata(self) -> Optional[str]:
        from edge.contract import METADATA_KEY

        return self._session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
