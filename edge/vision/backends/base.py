"""The inference-backend interface: one runtime per module, imported only when chosen."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Protocol

import numpy as np


@dataclass
class BackendOptions:
    threads: int = 0                      # 0: the runtime's default
    providers: list[str] = field(default_factory=list)   # ONNX Runtime: tensorrt, cuda, openvino, cpu
    device: str = "CPU"                  # OpenVINO device
    cache_dir: Optional[str] = None      # TensorRT engine cache
    warmup: int = 1


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]               # -1 for a dynamic dimension
    dtype: str


class Backend(Protocol):
    """Runs one model file. ``infer`` takes a batch in the model's input layout (NHWC) and
    returns its outputs by name, as float32 (dequantized where the model is quantized)."""

    name: str
    path: Path
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]

    def infer(self, batch: np.ndarray) -> dict[str, np.ndarray]: ...

    def embedded_metadata(self) -> Optional[str]: ...

    @property
    def max_batch(self) -> Optional[int]: ...


def check_model_file(path: Path, kind: str) -> None:
    from edge.errors import ModelLoadError

    if not path.is_file():
        raise ModelLoadError(f"{path}: {kind} model file not found (--model sets it; a shipped name such as "
                             f"'default' or 'open' is looked up on the model search path)")
    if path.stat().st_size == 0:
        raise ModelLoadError(f"{path}: {kind} model file is empty")


def warm_up(backend: "Backend", times: int) -> None:
    if times <= 0:
        return
    info = backend.inputs[0]
    shape = tuple(1 if d is None or d < 0 else d for d in info.shape)
    dtype = np.uint8 if info.dtype == "uint8" else np.float32
    for _ in range(times):
        backend.infer(np.zeros(shape, dtype))
