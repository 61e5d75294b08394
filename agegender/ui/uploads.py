"""Images from the page: decoded into memory, their temporary files deleted at once, and never a file
outside Gradio's upload folder (a private folder per run, see :func:`private_temp_dir`)."""
from __future__ import annotations

import base64
import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator, Optional

import numpy as np

from edge.errors import ImageReadError

TEMP_DIR_ENV = "GRADIO_TEMP_DIR"   # where Gradio keeps uploads and served results


def _upload_dir() -> Optional[Path]:
    d = os.environ.get(TEMP_DIR_ENV)
    return Path(d).resolve() if d else None


def _inside(path: Path, folder: Optional[Path]) -> bool:
    if folder is None:
        return False
    try:
        path.resolve().relative_to(folder)
        return True
    except ValueError:
        return False


def decode_image_bytes(data: bytes, name: str) -> np.ndarray:
    """BGR uint8, or ImageReadError naming the upload (never the server's temporary path)."""
    import cv2

    if not data:
        raise ImageReadError(f"{name}: the file is empty")
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None or img.size == 0:
        raise ImageReadError(f"{name}: not a readable image (corrupt or unsupported format); "
                             "try a JPEG or PNG photo")
    return img


def load_upload(payload: Any) -> Optional[np.ndarray]:
    """An image from the page, as Gradio sends it without preprocessing: a file dict (``path``,
    ``url``, ``orig_name``), a data URL, a path string, or an RGB array. Returns BGR uint8 or None.
    A temporary upload file is deleted as soon as it is read."""
    import cv2

    if payload is None:
        return None
    if isinstance(payload, np.ndarray):
        if payload.ndim == 2:
            return cv2.cvtColor(payload, cv2.COLOR_GRAY2BGR)
        return cv2.cvtColor(payload[..., :3], cv2.COLOR_RGB2BGR)
    if isinstance(payload, (str, Path)):
        payload = {"path": str(payload)}
    if not isinstance(payload, dict):
        raise ImageReadError(f"unexpected image payload ({type(payload).__name__})")
    name = str(payload.get("orig_name") or "the upload")
    url = payload.get("url") or ""
    path = payload.get("path")
    if isinstance(url, str) and url.startswith("data:") and not path:
        _, _, b64 = url.partition(",")
        try:
            data = base64.b64decode(b64, validate=False)
        except ValueError as e:
            raise ImageReadError(f"{name}: not a readable image (bad base64 data)") from e
        return decode_image_bytes(data, name)
    if not path:
        raise ImageReadError(f"{name}: no file was received")
    p = Path(path)
    folder = _upload_dir()
    if folder is not None and not _inside(p, folder):
        raise ImageReadError(f"{name}: refusing to read a file outside the upload folder")
    try:
        data = p.read_bytes()
    except OSError as e:
        raise ImageReadError(f"{name}: cannot read the upload ({e.strerror})") from e
    finally:
        if _inside(p, folder):
            with contextlib.suppress(OSError):
                p.unlink()
    return decode_image_bytes(data, name)


@contextlib.contextmanager
def private_temp_dir() -> Iterator[Path]:
    """Point Gradio's temporary folder at a new private folder for this run, and remove it afterwards."""
    old = os.environ.get(TEMP_DIR_ENV)
    folder = Path(tempfile.mkdtemp(prefix="agegender-ui-"))
    os.environ[TEMP_DIR_ENV] = str(folder)
    try:
        yield folder
    finally:
        if old is None:
            os.environ.pop(TEMP_DIR_ENV, None)
        else:
            os.environ[TEMP_DIR_ENV] = old
        shutil.rmtree(folder, ignore_errors=True)
