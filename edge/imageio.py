"""Reading images with one-line errors that name the file."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np

from edge.errors import ImageReadError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}


def read_image(path: str | Path) -> np.ndarray:
    """BGR uint8 image, or ImageReadError saying why not."""
    import cv2

    p = Path(path)
    if not p.exists():
        raise ImageReadError(f"{p}: no such file")
    if p.is_dir():
        raise ImageReadError(f"{p}: is a folder")
    try:
        data = np.fromfile(str(p), np.uint8)
    except OSError as e:
        raise ImageReadError(f"{p}: cannot read ({e.strerror})") from e
    if data.size == 0:
        raise ImageReadError(f"{p}: empty file")
    img = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if img is None or img.size == 0:
        raise ImageReadError(f"{p}: not a readable image (corrupt or unsupported format)")
    return img


def expand_inputs(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given; folders expanded to their images, sorted."""
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            out.extend(sorted(q for q in p.rglob("*") if q.suffix.lower() in IMAGE_SUFFIXES and q.is_file()))
        else:
            out.append(p)
    return out
