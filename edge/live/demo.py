"""The built-in demo: a clip made at run time from the public-domain astronaut portrait
(NASA, Eileen Collins) shipped in ``edge/assets/demo``, so `agegender run demo` needs no camera,
no download and nothing beyond numpy and OpenCV. Faces move and change size so that detection
and tracking have work."""
from __future__ import annotations

import math
import time
from typing import Optional

import numpy as np

from edge.errors import SourceEnded, SourceError, SourceUnavailable
from edge.types import Frame

DEMO_PORTRAIT = "demo/astronaut.jpg"


def astronaut_portrait() -> np.ndarray:
    """The whole 512x512 portrait shipped with the package, BGR."""
    import cv2

    from edge.vision.model_store import asset_path

    path = asset_path(DEMO_PORTRAIT)
    image = cv2.imread(str(path), cv2.IMREAD_COLOR) if path.is_file() else None
    if image is None:
        raise SourceUnavailable(f"the demo clip's portrait {path} is missing or unreadable (reinstall agegender)")
    return image


def astronaut_face() -> np.ndarray:
    """The face region of the astronaut portrait, BGR."""
    return np.ascontiguousarray(astronaut_portrait()[20:260, 120:330])


def _background(width: int, height: int, t: float) -> np.ndarray:
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    x = np.linspace(0, 1, width, dtype=np.float32)[None, :]
    b = 90 + 60 * x + 20 * math.sin(t)
    g = 80 + 50 * y
    r = 70 + 40 * (1 - x) * y
    return np.stack([b + 0 * y, g + 0 * x, r], -1).clip(0, 255).astype(np.uint8)


def render_demo_frame(i: int, width: int = 640, height: int = 480, faces: int = 2, fps: float = 30.0,
                      face: Optional[np.ndarray] = None) -> np.ndarray:
    """Frame ``i`` of the demo clip: ``faces`` copies of the portrait on paths of their own."""
    import cv2

    face = astronaut_face() if face is None else face
    t = i / fps
    frame = _background(width, height, t)
    for k in range(faces):
        phase = 2 * math.pi * k / max(faces, 1)
        scale = 0.45 + 0.15 * math.sin(0.7 * t + phase)
        fh = int(height * scale)
        fw = int(fh * face.shape[1] / face.shape[0])
        img = cv2.resize(face if k % 2 == 0 else face[:, ::-1], (fw, fh), interpolation=cv2.INTER_AREA)
        cx = width * (0.5 + 0.3 * math.sin(0.5 * t + phase)) if faces > 1 else width * (0.5 + 0.2 * math.sin(0.5 * t))
        cy = height * (0.5 + 0.08 * math.cos(0.9 * t + phase))
        x0, y0 = int(cx - fw / 2), int(cy - fh / 2)
        xs, ys = max(x0, 0), max(y0, 0)
        xe, ye = min(x0 + fw, width), min(y0 + fh, height)
        if xe > xs and ye > ys:
            frame[ys:ye, xs:xe] = img[ys - y0:ye - y0, xs - x0:xe - x0]
    return frame


class DemoSource:
    """A paced, live-like source of demo frames (``frames`` = 0: 10 s of clip)."""

    live = True
    retry_at_start = False

    def __init__(self, frames: int = 0, loop: bool = False, width: int = 640, height: int = 480, fps: float = 30,
                 faces: int = 2):
        self.frames = frames or int(10 * fps)
        self.loop, self.width, self.height, self.fps, self.faces = loop, width, height, fps, faces
        self.name = "demo"
        self._face: Optional[np.ndarray] = None
        self._i = 0
        self._next = 0.0

    def open(self) -> None:
        self._face = astronaut_face()
        self._next = time.monotonic()

    def read(self, timeout: float = 1.0) -> Optional[Frame]:
        if self._face is None:
            raise SourceError("demo source is not open")
        if self._i >= self.frames:
            if not self.loop:
                raise SourceEnded(self.name)
            self._i = 0
        delay = self._next - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        self._next = max(self._next + 1.0 / self.fps, time.monotonic() - 1.0 / self.fps)
        image = render_demo_frame(self._i, self.width, self.height, self.faces, self.fps, self._face)
        frame = Frame(image=image, index=self._i, timestamp=time.time(), captured_at=time.monotonic(), source="demo")
        self._i += 1
        return frame

    def close(self) -> None:
        self._face = None
