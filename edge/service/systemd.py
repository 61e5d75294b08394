"""`agegender service install|uninstall|status`: generate and install the systemd unit.

The unit comes from the template ``deploy/agegender.service`` (shipped in the wheel under
``<prefix>/share/agegender/deploy``): ``Type=notify`` with a watchdog, restart rate limits, a
dynamic or dedicated user in the ``video`` group, camera devices only, and a hardened sandbox.
"""
from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Optional

from edge.errors import AgeGenderError

log = logging.getLogger(__name__)

UNIT_NAME = "agegender.service"
UNIT_DIR = Path("/etc/systemd/system")
CONFIG_PATH = Path("/etc/agegender/config.toml")
STATE_DIR = Path("/var/lib/agegender")

# Extra device access per camera stack (the video4linux devices are always allowed).
PROFILES: dict[str, list[str]] = {
    # USB / V4L2 cameras, RTSP streams, files
    "generic": [],
    # Raspberry Pi camera through libcamera/Picamera2: media controller, DMA heaps for buffers,
    # (VideoCore VCHIQ on older stacks). /dev/v4l-subdev* is video4linux already.
    "picamera2": ["DeviceAllow=char-media rw", "DeviceAllow=char-dma_heap rw", "DeviceAllow=char-vchiq rw"],
    # Jetson: the GPU (nvhost/nvgpu/nvmap) for TensorRT/CUDA and the CSI camera through
    # nvarguscamerasrc, which talks to nvargus-daemon over /tmp/argus_socket.
    "jetson": ["DeviceAllow=char-nvhost* rw", "DeviceAllow=char-nvgpu* rw",
               "DeviceAllow=/dev/nvmap rw", "BindPaths=-/tmp/argus_socket"],
}


@dataclass
class UnitOptions:
    exec_path: str = ""                       # the agegender executable ("" = find it)
    config: Path = CONFIG_PATH
    user: str = "dynamic"                      # "dynamic" -> DynamicUser=yes; else User=/Group=
    profile: str = "generic"
    watchdog_sec: int = 30
    timeout_start: int = 300
    start_limit_interval: int = 600
    start_limit_burst: int = 5
    read_write_paths: list[str] = field(default_factory=list)


def find_executable() -> list[str]:
    """The command that runs agegender: the console script beside this Python, else ``python -m agegender``."""
    script = Path(sys.executable).parent / "agegender"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    found = shutil.which("agegender")
    if found:
        return [found]
    return [sys.executable, "-m", "agegender"]


def _quote(arg: str) -> str:
    """Quote one ExecStart= word for systemd (its own quoting rules, like a shell's double quotes)."""
    if arg and not any(c in arg for c in ' \t"\'\\$%;'):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"').replace("$", "$$").replace("%", "%%") + '"'


def template_path() -> Path:
    here = Path(__file__).resolve().parents[1]   # edge/
    for candidate in (here.parent / "deploy" / UNIT_NAME, Path(sys.prefix) / "share" / "agegender" / "deploy" / UNIT_NAME):
        if candidate.is_file():
            return candidate
    raise AgeGenderError(f"unit template {UNIT_NAME} not found (looked in {here.parent / 'deploy'} and "
                         f"{Path(sys.prefix) / 'share' / 'agegender' / 'deploy'}); reinstall agegender")


def render_unit(opts: UnitOptions) -> str:
    if opts.profile not in PROFILES:
        raise AgeGenderError(f"unknown service profile {opts.profile!r}; choose from {', '.join(PROFILES)}")
    if opts.watchdog_sec < 1:
        raise AgeGenderError("--watchdog-sec must be at least 1")
    cmd = [opts.exec_path] if opts.exec_path else find_executable()
    exe = Path(cmd[0])
    if not exe.is_absolute():
        raise AgeGenderError(f"ExecStart needs an absolute path, not {cmd[0]!r}")
    exec_start = " ".join(_quote(a) for a in [*cmd, "run", "--config", str(opts.config)])
    protect_home = "yes"
    if any(str(p).startswith(("/home/", "/root/")) for p in (exe, opts.config)):
        protect_home = "read-only"
        log.warning("%s is under /home or /root: the unit uses ProtectHome=read-only; install agegender under "
                    "/opt (see README) to hide home directories from the service", exe)
    if opts.user == "dynamic":
        user_lines = "DynamicUser=yes"
    else:
        if not opts.user.replace("-", "").replace("_", "").isalnum():
            raise AgeGenderError(f"--user {opts.user!r} is not a valid user name")
        user_lines = f"User={opts.user}\nGroup={opts.user}"
    rw = [p for p in opts.read_write_paths if p and not str(p).startswith(str(STATE_DIR))]
    rw_lines = "\n".join(f"ReadWritePaths={_quote(str(p))}" for p in rw) or "# ReadWritePaths=: only the state directory above"
    text = Template(template_path().read_text(encoding="utf-8")).substitute(
        config=opts.config, exec_start=exec_start, timeout_start=opts.timeout_start, watchdog_sec=opts.watchdog_sec,
        start_limit_interval=opts.start_limit_interval, start_limit_burst=opts.start_limit_burst,
        user_lines=user_lines, rw_lines=rw_lines, profile=opts.profile,
        device_lines="\n".join(PROFILES[opts.profile]) or "# (no other devices for this profile)",
        protect_home=protect_home)
    return text


def write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise AgeGenderError(f"cannot write {path} ({e.strerror}); run as root (sudo)") from e


def systemctl(*args: str, check: bool = True) -> int:
    exe = shutil.which("systemctl")
    if exe is None:
        raise AgeGenderError("systemctl not found: this system does not run systemd")
    log.info("systemctl %s", " ".join(args))
    rc = subprocess.call([exe, *args])
    if check and rc != 0:
        raise AgeGenderError(f"systemctl {' '.join(args)} failed (exit status {rc})")
    return rc


def analytics_dir(config_path: Path, run_specs: dict) -> Optional[str]:
    """The analytics database's folder from the config file, if one is set and outside the state dir."""
    from edge.service.config import load_config

    if not config_path.is_file():
        return None
    db = load_config(config_path, run_specs).run.get("analytics_db")
    return str(Path(db).parent) if db else None


def install(opts: UnitOptions, unit_dir: Path = UNIT_DIR, config_text: Optional[str] = None,
            enable: bool = True) -> Path:
    """Write the config (if there is none yet) and the unit; then daemon-reload and enable --now."""
    text = render_unit(opts)
    if config_text is not None and not opts.config.exists():
        write_atomic(opts.config, config_text)
        log.info("wrote a default config to %s (edit it: source, model, analytics)", opts.config)
    path = unit_dir / UNIT_NAME
    write_atomic(path, text)
    log.info("wrote %s", path)
    if enable:
        systemctl("daemon-reload")
        systemctl("enable", "--now", UNIT_NAME)
    return path


def uninstall(unit_dir: Path = UNIT_DIR, disable: bool = True) -> bool:
    path = unit_dir / UNIT_NAME
    if disable:
        systemctl("disable", "--now", UNIT_NAME, check=False)
    existed = path.exists()
    if existed:
        try:
            path.unlink()
        except OSError as e:
            raise AgeGenderError(f"cannot remove {path} ({e.strerror}); run as root (sudo)") from e
        log.info("removed %s (config %s and state %s are kept)", path, CONFIG_PATH, STATE_DIR)
    if disable:
        systemctl("daemon-reload", check=False)
    return existed


def status() -> int:
    return systemctl("status", "--no-pager", "--lines=20", UNIT_NAME, check=False)
