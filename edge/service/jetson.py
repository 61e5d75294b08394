"""Which JetPack a Jetson runs (from /etc/nv_tegra_release) and what this runtime can use on it: the support
matrix of docs/install.md, in one place for `service install --profile jetson` and `trt-build`."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

RELEASE_FILE = Path("/etc/nv_tegra_release")
# L4T major release -> (JetPack, the board's Python, whether this runtime can use the GPU there)
L4T_TO_JETPACK = {36: ("6", "3.10", True), 35: ("5", "3.8", False), 34: ("5", "3.8", False), 32: ("4", "3.6", False)}


@dataclass(frozen=True)
class JetsonRelease:
    l4t: int
    revision: str
    jetpack: str
    python: str
    gpu_supported: bool

    def gpu_note(self) -> str:
        if self.gpu_supported:
            return (f"JetPack {self.jetpack} (L4T R{self.l4t}): the GPU is used through onnxruntime-gpu's TensorRT "
                    "and CUDA providers or a TensorRT engine (docs/install.md, Jetson)")
        return (f"JetPack {self.jetpack} (L4T R{self.l4t}): NVIDIA's TensorRT and onnxruntime-gpu wheels there are for "
                f"its Python {self.python}, below this runtime's 3.9: the GPU is not supported, TFLite or ONNX "
                "Runtime run on the CPU (docs/install.md, Jetson)")


def jetson_release(path: Path = RELEASE_FILE) -> Optional[JetsonRelease]:
    """The running JetPack, or None off a Jetson (or with an unreadable or unknown release file)."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return None
    m = re.search(r"R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)", text)
    if not m:
        return None
    l4t = int(m.group(1))
    jetpack, python, gpu = L4T_TO_JETPACK.get(l4t, ("6+" if l4t > 36 else "?", "?", l4t > 36))
    return JetsonRelease(l4t, m.group(2), jetpack, python, gpu)
