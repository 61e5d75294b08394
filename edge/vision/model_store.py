"""Where model files come from: an explicit path, ``$AGEGENDER_MODELS_DIR``, the package's
``models/`` folder, the detectors shipped inside the package (``edge/assets``), or a verified
download into the cache (only when asked for)."""
from __future__ import annotations

import hashlib
import logging
import os
import sys
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

from edge.errors import ModelLoadError

log = logging.getLogger(__name__)

MODELS_DIR_ENV = "AGEGENDER_MODELS_DIR"
CACHE_ENV = "AGEGENDER_CACHE"


@dataclass(frozen=True)
class RemoteFile:
    filename: str
    url: str
    sha256: str
    size: int


YUNET_RELEASE = RemoteFile(
    filename="face_detection_yunet_2023mar.onnx",
    url="https://github.com/opencv/opencv_zoo/raw/main/models/face_detection_yunet/face_detection_yunet_2023mar.onnx",
    sha256="8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
    size=232589,
)


ASSETS_DIR = Path(__file__).resolve().parents[1] / "assets"   # edge/assets


def asset_path(relative: str) -> Path:
    """A file shipped inside the package (``edge/assets/RELATIVE``): detectors and the demo portrait."""
    return ASSETS_DIR / relative


def package_models_dir() -> Path:
    """``models/`` of the source tree, or ``<prefix>/share/agegender/models`` of an installed wheel."""
    here = Path(__file__).resolve().parents[1]   # edge/
    for candidate in (here.parent / "models", Path(sys.prefix) / "share" / "agegender" / "models"):
        if candidate.is_dir():
            return candidate
    return here.parent / "models"


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "agegender") / "models"


def search_dirs(extra: Iterable[str | Path] = ()) -> list[Path]:
    dirs = [Path(d) for d in extra if d]
    env = os.environ.get(MODELS_DIR_ENV)
    if env:
        dirs.extend(Path(p) for p in env.split(os.pathsep) if p)
    dirs.extend([package_models_dir(), ASSETS_DIR, cache_dir()])
    return dirs


def describe_search(extra: Iterable[str | Path] = ()) -> str:
    """The folders a lookup went through, for an error message."""
    return ", ".join(str(d) for d in search_dirs(extra))


def find_file(filenames: Iterable[str], subdirs: Iterable[str] = (), extra_dirs: Iterable[str | Path] = ()
              ) -> Optional[Path]:
    """First existing ``dir/[subdir/]filename`` over the search directories, or None."""
    names, subs = list(filenames), [""] + list(subdirs)
    for base in search_dirs(extra_dirs):
        for sub in subs:
            for name in names:
                p = base / sub / name if sub else base / name
                if p.is_file():
                    return p
    return None


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download(remote: RemoteFile, dest_dir: Optional[Path] = None, url: Optional[str] = None,
             timeout: float = 30.0) -> Path:
    """Download to the cache through a temporary file, verify sha256, then rename into place.
    A cached file is re-checked before it is trusted."""
    dest_dir = dest_dir or cache_dir()
    dest = dest_dir / remote.filename
    if dest.is_file():
        if sha256_of(dest) == remote.sha256:
            return dest
        log.warning("%s: cached file fails its sha256 check; downloading again", dest)
    dest_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest_dir, prefix=".download-")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as f, urllib.request.urlopen(url or remote.url, timeout=timeout) as r:
            while True:
                chunk = r.read(1 << 16)
                if not chunk:
                    break
                f.write(chunk)
        digest = sha256_of(tmp)
        if digest != remote.sha256:
            raise ModelLoadError(f"download of {remote.filename} failed its sha256 check "
                                 f"(got {digest[:12]}…, expected {remote.sha256[:12]}…); nothing was saved")
        os.replace(tmp, dest)
        log.info("downloaded %s to %s", remote.filename, dest)
        return dest
    except OSError as e:
        raise ModelLoadError(f"cannot download {remote.filename} from {url or remote.url} ({e})") from e
    finally:
        if tmp.exists():
            tmp.unlink()
