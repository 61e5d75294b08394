"""Decode face chips once into a uint8 array at the model's input size, cached on disk.

Decoding 50,000 JPEG/WebP files every epoch would cost more CPU than the network on a
2-core machine, so training reads from a memory-mapped ``.npy`` instead.
"""
from __future__ import annotations

import hashlib
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

import numpy as np

from edge.errors import DatasetError

log = logging.getLogger(__name__)


def load_chip(path: str, size: int) -> np.ndarray | None:
    """Read one chip as RGB uint8 (size, size, 3), or None if it cannot be decoded."""
    import cv2

    img = cv2.imread(path, cv2.IMREAD_COLOR)
    if img is None:
        return None
    interp = cv2.INTER_AREA if img.shape[0] > size else cv2.INTER_LINEAR
    img = cv2.resize(img, (size, size), interpolation=interp)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def decode_chips(paths: Sequence[str], size: int, workers: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Returns (images, ok) where ok marks the files that decoded."""
    out = np.zeros((len(paths), size, size, 3), np.uint8)
    ok = np.zeros(len(paths), bool)

    def work(i: int) -> None:
        img = load_chip(paths[i], size)
        if img is not None:
            out[i] = img
            ok[i] = True

    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 2) as pool:
        list(pool.map(work, range(len(paths)), chunksize=256))
    bad = int((~ok).sum())
    if bad:
        first = [paths[i] for i in np.flatnonzero(~ok)[:3]]
        log.warning("%d image(s) could not be decoded and are skipped, e.g. %s", bad, ", ".join(first))
    return out, ok


def cached_chips(paths: Sequence[str], size: int, cache_dir: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Like :func:`decode_chips`, but stores the result under ``cache_dir`` keyed by the
    file list and size, and memory-maps it on later calls."""
    if not paths:
        raise DatasetError("no images to decode")
    key = hashlib.sha1(("\n".join(paths) + f"|{size}").encode()).hexdigest()[:16]
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    img_file, ok_file = cache / f"chips_{size}_{key}.npy", cache / f"chips_{size}_{key}.ok.npy"
    if img_file.is_file() and ok_file.is_file():
        return np.load(img_file, mmap_mode="r"), np.load(ok_file)
    log.info("decoding %d images at %d px into %s", len(paths), size, img_file)
    images, ok = decode_chips(paths, size)
    tmp = img_file.with_suffix(".tmp.npy")
    np.save(tmp, images)
    os.replace(tmp, img_file)
    np.save(ok_file, ok)
    return images, ok
