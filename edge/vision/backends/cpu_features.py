"""What this CPU can do that changes how an INT8 file computes (read from /proc/cpuinfo; no extra package)."""
from __future__ import annotations

import platform
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith(("flags", "Features")):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def is_x86() -> bool:
    return platform.machine().lower() in ("x86_64", "amd64", "i686", "i386")


def has_vnni() -> bool:
    """x86 VNNI (AVX512-VNNI, AVX-VNNI or AMX-INT8): ONNX Runtime's u8 x s8 kernels then add in 32 bits."""
    return bool({"avx512_vnni", "avx_vnni", "amx_int8"} & cpu_flags())


def int8_saturates(reduce_range: bool) -> bool:
    """True where ONNX Runtime's u8 x s8 kernels add pairs of products in 16 bits (x86 without VNNI) and the
    file was built with 8-bit weights: one face's answer can then move by years."""
    return not reduce_range and is_x86() and not has_vnni()
