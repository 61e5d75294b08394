"""Output sinks. Each gets every processed frame on the output thread."""
from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Optional, TextIO

from edge.errors import AgeGenderError

log = logging.getLogger(__name__)


class JsonLinesSink:
    """One JSON object per processed frame: timestamp, frame index, faces (with track_id)."""

    needs_image = False

    def __init__(self, target: Optional[str] = None, with_race: bool = False, stream: Optional[TextIO] = None):
        self.with_race = with_race
        self._own = target not in (None, "-")
        try:
            self._f = open(target, "a", encoding="utf-8") if self._own else (stream or sys.stdout)
        except OSError as e:
            raise AgeGenderError(f"cannot open JSON output {target} ({e.strerror})") from e

    def write(self, result) -> None:
        self._f.write(json.dumps(result.to_json(self.with_race)) + "\n")
        self._f.flush()

    def close(self) -> None:
        if self._own:
            self._f.close()
        else:
            self._f.flush()


class DisplaySink:
    """An OpenCV window; ``fullscreen`` gives the kiosk look. Press q or Esc to stop."""

    needs_image = True

    def __init__(self, title: str = "agegender", fullscreen: bool = False, on_quit=None, toolbar: bool = True,
                 wait_ms: int = 10):
        import cv2

        self.title, self.on_quit, self.wait_ms = title, on_quit, wait_ms
        try:
            cv2.namedWindow(title, cv2.WINDOW_NORMAL if toolbar else cv2.WINDOW_NORMAL | cv2.WINDOW_GUI_NORMAL)
            if fullscreen:
                cv2.setWindowProperty(title, cv2.WND_PROP_FULLSCREEN, cv2.WINDOW_FULLSCREEN)
        except cv2.error as e:
            raise AgeGenderError("cannot open a window: this OpenCV has no GUI support (opencv-python-headless) "
                                 "or there is no display; use --display none, or pip install 'opencv-python<5'") from e

    def write(self, result) -> None:
        self.show(result.annotated)

    def show(self, image) -> None:
        import cv2

        cv2.imshow(self.title, image)
        # a few ms, not 1: Qt builds need that long to repaint when frames come slowly
        key = cv2.waitKey(self.wait_ms) & 0xFF
        if key in (ord("q"), 27) and self.on_quit is not None:
            self.on_quit()

    def close(self) -> None:
        import cv2

        try:
            cv2.destroyWindow(self.title)
        except cv2.error:
            pass


class VideoSink:
    """An annotated video file (mp4v), opened on the first frame at that frame's size."""

    needs_image = True

    def __init__(self, path: str, fps: float = 15.0):
        self.path, self.fps = Path(path), fps
        self._writer = None
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, result) -> None:
        import cv2

        img = result.annotated
        if self._writer is None:
            h, w = img.shape[:2]
            self._writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
            if not self._writer.isOpened():
                raise AgeGenderError(f"cannot write video {self.path}")
        self._writer.write(img)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
