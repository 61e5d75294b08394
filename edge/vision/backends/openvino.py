"""OpenVINO backend for IR (``.xml`` + ``.bin``) or ONNX files."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from edge.vision.backends.base import BackendOptions, TensorInfo, check_model_file, warm_up
from edge.errors import BackendUnavailable, ModelLoadError


class OpenVinoBackend:
    name = "openvino"

    def __init__(self, path: str | Path, options: BackendOptions | None = None):
        self.path = Path(path)
        self.options = options or BackendOptions()
        check_model_file(self.path, "OpenVINO")
        try:
            import openvino as ov
        except ImportError as e:
            raise BackendUnavailable("OpenVINO is not installed: pip install 'agegender[openvino]'") from e
        core = ov.Core()
        try:
            self._model = core.read_model(str(self.path))
            config = {"INFERENCE_NUM_THREADS": self.options.threads} if self.options.threads else {}
            self._compiled = core.compile_model(self._model, self.options.device, config)
        except Exception as e:  # noqa: BLE001
            raise ModelLoadError(f"{self.path}: OpenVINO cannot load this model ({str(e).splitlines()[0][:200]})") from e

        def info(port) -> TensorInfo:
            shape = tuple(d.get_length() if d.is_static else -1 for d in port.get_partial_shape())
            return TensorInfo(port.get_any_name(), shape, port.get_element_type().to_dtype().name)

        self.inputs = [info(p) for p in self._compiled.inputs]
        self.outputs = [info(p) for p in self._compiled.outputs]
        self._input_dtype = np.dtype(self.inputs[0].dtype)
        self._request = self._compiled.create_infer_request()
        warm_up(self, self.options.warmup)

    @property
    def max_batch(self) -> Optional[int]:
        return None if self.inputs[0].shape[0] == -1 else self.inputs[0].shape[0]

    def infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        result = self._request.infer({0: batch.astype(self._input_dtype, copy=False)})
        return {o.name: np.asarray(result[port], np.float32) for o, port in zip(self.outputs, self._compiled.outputs)}

    def embedded_metadata(self) -> Optional[str]:
        from edge.contract import METADATA_KEY

        try:
            return str(self._model.get_rt_info([METADATA_KEY]).astype(str))
        except Exception:  # noqa: BLE001 - absent key
            return None
