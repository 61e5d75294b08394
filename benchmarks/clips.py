"""Deterministic test clips: real face chips from a data set composited on varied backgrounds,
moving and changing size, with known ages. Generated from a seed, never committed."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Optional

import numpy as np


@dataclass
class ClipSpec:
    width: int = 640
    height: int = 480
    faces: int = 1
    frames: int = 150
    fps: float = 30.0
    seed: int = 0
    face_fraction: float = 0.28     # face chip side as a fraction of the frame height


@dataclass
class FaceTrack:
    path: str
    age: float
    chip: np.ndarray = field(repr=False)
    phase: float = 0.0
    speed: float = 1.0


def _background(spec: ClipSpec, rng: np.random.Generator) -> np.ndarray:
    """A smooth random scene: low-frequency colour noise, upsampled."""
    import cv2

    small = rng.integers(30, 220, (6, 8, 3), dtype=np.uint8)
    return cv2.resize(small, (spec.width, spec.height), interpolation=cv2.INTER_CUBIC)


def _soft_mask(size: int) -> np.ndarray:
    y, x = np.mgrid[:size, :size].astype(np.float32) / (size - 1) * 2 - 1
    r = np.sqrt((x / 0.95) ** 2 + (y / 1.0) ** 2)
    return np.clip((1.15 - r) / 0.25, 0, 1)[..., None]


def pick_faces(data: str | Path, n: int, seed: int) -> list[FaceTrack]:
    import cv2

    from train.sources import read_utkface

    faces = read_utkface(data, "test")
    rng = np.random.default_rng(seed)
    out = []
    for i in rng.choice(len(faces), n, replace=False):
        chip = cv2.imread(faces.paths[i])
        out.append(FaceTrack(faces.paths[i], float(faces.true_age[i]), chip, float(rng.uniform(0, 2 * math.pi)),
                             float(rng.uniform(0.6, 1.4))))
    return out


BREATHING = 0.15                    # a face's size varies by ±15% over time


def grid(faces: int, width: int, height: int) -> tuple[int, int]:
    """(columns, rows) of the cells that faces move in: about square cells, so that up to a dozen faces
    fit a frame without covering each other."""
    cols = max(1, min(faces, round(math.sqrt(faces * width / height))))
    return cols, max(1, math.ceil(faces / cols))


def placements(spec: ClipSpec, tracks: list[FaceTrack], i: int) -> Iterator[tuple[int, int, int, int]]:
    """Where each face's chip lies in frame ``i``: (face index, x0, y0, side); each face on a Lissajous
    path inside its own cell of the frame, never reaching into a neighbour's."""
    t = i / spec.fps
    cols, rows = grid(len(tracks), spec.width, spec.height)
    cell_w, cell_h = spec.width / cols, spec.height / rows
    base = min(spec.height * spec.face_fraction, 0.78 * min(cell_w, cell_h))
    reach_x = min(0.25 * cell_w, max(0.0, (cell_w - (1 + BREATHING) * base) / 2))
    reach_y = min(0.2 * cell_h, max(0.0, (cell_h - (1 + BREATHING) * base) / 2))
    for k, tr in enumerate(tracks):
        side = int(base * (1 + BREATHING * math.sin(0.8 * t * tr.speed + tr.phase)))
        col, row = k % cols, k // cols
        cx = cell_w * (col + 0.5) + reach_x * math.sin(0.6 * t * tr.speed + tr.phase)
        cy = cell_h * (row + 0.5) + reach_y * math.cos(0.45 * t * tr.speed + tr.phase)
        yield k, int(cx - side / 2), int(cy - side / 2), side


def truth_boxes(spec: ClipSpec, tracks: list[FaceTrack], i: int) -> dict[int, np.ndarray]:
    """The chip box (x1, y1, x2, y2) of each face fully inside frame ``i``: the ground truth for tracking."""
    return {k: np.array([x0, y0, x0 + side, y0 + side], np.float32) for k, x0, y0, side in placements(spec, tracks, i)
            if x0 >= 0 and y0 >= 0 and x0 + side <= spec.width and y0 + side <= spec.height}


def render(spec: ClipSpec, tracks: list[FaceTrack], i: int, background: np.ndarray) -> np.ndarray:
    """Frame ``i`` of the clip."""
    import cv2

    frame = background.copy()
    for k, x0, y0, side in placements(spec, tracks, i):
        chip = cv2.resize(tracks[k].chip, (side, side), interpolation=cv2.INTER_AREA)
        xs, ys, xe, ye = max(x0, 0), max(y0, 0), min(x0 + side, spec.width), min(y0 + side, spec.height)
        if xe <= xs or ye <= ys:
            continue
        m = _soft_mask(side)[ys - y0:ye - y0, xs - x0:xe - x0]
        roi = frame[ys:ye, xs:xe].astype(np.float32)
        frame[ys:ye, xs:xe] = (m * chip[ys - y0:ye - y0, xs - x0:xe - x0] + (1 - m) * roi).astype(np.uint8)
    return frame


def clip_faces(spec: ClipSpec, data: Optional[str | Path] = None) -> list[FaceTrack]:
    """The clip's faces (seeded by ``spec.seed``): UTKFace test chips, or without a data set the demo's
    astronaut portrait."""
    rng = np.random.default_rng(spec.seed)
    if spec.faces and data is not None:
        return pick_faces(data, spec.faces, spec.seed)
    if spec.faces:
        import cv2

        from edge.live.demo import astronaut_face

        face = astronaut_face()
        side = min(face.shape[:2])
        chip = cv2.resize(face[:side, :side], (200, 200))
        return [FaceTrack("astronaut", 0.0, chip if k % 2 == 0 else chip[:, ::-1].copy(),
                          float(rng.uniform(0, 6.28)), float(rng.uniform(0.6, 1.4))) for k in range(spec.faces)]
    return []


def generate_clip(spec: ClipSpec, data: Optional[str | Path] = None,
                  faces: Optional[list[FaceTrack]] = None) -> Iterator[np.ndarray]:
    """Frames of the clip; pass ``faces`` (from :func:`clip_faces`) to reuse faces already read."""
    tracks = clip_faces(spec, data) if faces is None else faces
    background = _background(spec, np.random.default_rng(spec.seed))
    for i in range(spec.frames):
        yield render(spec, tracks, i, background)


def write_clip(spec: ClipSpec, path: str | Path, data: Optional[str | Path] = None,
               faces: Optional[list[FaceTrack]] = None) -> Path:
    import cv2

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), spec.fps, (spec.width, spec.height))
    for frame in generate_clip(spec, data, faces):
        w.write(frame)
    w.release()
    return path
