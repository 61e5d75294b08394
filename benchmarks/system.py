"""What every report records about the run: the machine, library versions, CPU use and peak memory."""
from __future__ import annotations

import os
import platform
import resource
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

LIBRARIES = ("agegender", "numpy", "opencv-python-headless", "opencv-python", "ai-edge-litert", "tflite-runtime",
             "onnxruntime", "onnxruntime-gpu", "openvino")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.split(":")[0].strip() in ("model name", "Model", "Hardware"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def library_versions() -> dict[str, str]:
    out = {}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    try:
        import cv2

        out["cv2"] = cv2.__version__
    except ImportError:
        pass
    return out


def machine_info() -> dict:
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "arch": platform.machine(), "os": platform.platform(),
            "python": platform.python_version(), "libraries": library_versions()}


def machine_line(m: dict) -> str:
    return f"{m['cpu']}, {m['cores']} cores, {m['arch']}, {m['os']}, Python {m['python']}"


def proc_status_mb(field: str) -> float:
    """A memory field of /proc/self/status (``VmRSS``, ``VmHWM``) in MiB; KeyError where there is none."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    raise KeyError(field)


def peak_rss_mb() -> float:
    """Peak resident memory of this process (VmHWM, or ru_maxrss where /proc is missing)."""
    try:
        return proc_status_mb("VmHWM")
    except KeyError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark so the next reading covers only what follows (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


@dataclass
class ResourceUse:
    wall_s: float
    cpu_percent: float          # of one core, as top shows it (200% = two cores busy)
    machine_percent: float      # of all cores
    peak_rss_mb: float


class ResourceMeter:
    """CPU time and peak memory of this process between start() and stop()."""

    def start(self) -> "ResourceMeter":
        reset_peak_rss()
        self._t = time.monotonic()
        self._cpu = _cpu_seconds()
        return self

    def stop(self) -> ResourceUse:
        wall = max(time.monotonic() - self._t, 1e-9)
        pct = 100.0 * (_cpu_seconds() - self._cpu) / wall
        return ResourceUse(round(wall, 3), round(pct, 1), round(pct / (os.cpu_count() or 1), 1), round(peak_rss_mb(), 1))


def _cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system
