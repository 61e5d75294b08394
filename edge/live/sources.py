"""Video sources behind one interface: camera, file, stream, GStreamer, Picamera2, image folder, demo.

``read()`` returns a Frame, or None when no frame arrived in time (a stall). It raises
``SourceEnded`` at the normal end of a file or folder and ``SourceError`` when the device
fails; :class:`ReconnectingSource` turns failures into reconnects with backoff.

What is retried: a source that opened once, and a camera or stream that is absent at start
(``retry_at_start``: it may be plugged in or come up later). A source that can never open as
given (``SourceUnavailable``: a missing dependency or file, an unknown scheme) and a file,
folder or demo that fails to open are one error at start.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Optional, Protocol

import numpy as np

from edge.errors import SourceEnded, SourceError, SourceUnavailable
from edge.live.defaults import DETECT_SIZE
from edge.types import Frame

log = logging.getLogger(__name__)


class Source(Protocol):
    name: str
    live: bool          # frames keep coming whether or not we keep up (cameras, paced clips)
    retry_at_start: bool  # a device that may appear later (camera, stream): wait for it at start

    def open(self) -> None: ...

    def read(self, timeout: float = 1.0) -> Optional[Frame]: ...

    def close(self) -> None: ...


class _Counter:
    def __init__(self) -> None:
        self.index = 0

    def frame(self, image: np.ndarray, name: str, lores: Optional[np.ndarray] = None, decode_s: float = 0.0) -> Frame:
        f = Frame(image=image, index=self.index, timestamp=time.time(), captured_at=time.monotonic(), source=name,
                  lores=lores, decode_s=decode_s)
        self.index += 1
        return f


class OpenCVSource:
    """A V4L2/USB camera index, an RTSP/HTTP URL, a video file, or a GStreamer pipeline."""

    def __init__(self, spec: str, kind: str, loop: bool = False, realtime: bool = False,
                 width: int = 0, height: int = 0, fps: float = 0):
        self.spec, self.kind, self.loop, self.realtime = spec, kind, loop, realtime
        self.width, self.height, self.fps = width, height, fps
        self.name = f"{kind}:{spec}"
        self.live = kind in ("camera", "stream", "gstreamer") or realtime
        self.retry_at_start = kind in ("camera", "stream", "gstreamer")
        self._cap = None
        self._count = _Counter()
        self._next_time = 0.0
        self._period = 0.0

    def open(self) -> None:
        import cv2

        if self.kind == "camera":
            cap = cv2.VideoCapture(int(self.spec))
        elif self.kind == "gstreamer":
            cap = cv2.VideoCapture(self.spec, cv2.CAP_GSTREAMER)
        else:
            cap = cv2.VideoCapture(self.spec)
        if self.width:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
        if self.height:
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
        if self.fps and self.kind == "camera":
            cap.set(cv2.CAP_PROP_FPS, self.fps)
        if self.kind in ("camera", "stream"):
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        if not cap.isOpened():
            cap.release()
            hint = " (is the GStreamer pipeline valid and OpenCV built with GStreamer?)" if self.kind == "gstreamer" else ""
            raise SourceError(f"cannot open {self.kind} {self.spec}{hint}")
        self._cap = cap
        native = cap.get(cv2.CAP_PROP_FPS) or 0
        self._period = 1.0 / (self.fps or native or 30.0) if self.realtime else 0.0
        self._next_time = time.monotonic()

    def read(self, timeout: float = 1.0) -> Optional[Frame]:
        import cv2

        if self._cap is None:
            raise SourceError(f"{self.name} is not open")
        if self._period:
            delay = self._next_time - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self._next_time = max(self._next_time + self._period, time.monotonic() - self._period)
        t = time.perf_counter()
        ok, image = self._cap.read()
        if not ok or image is None:
            if self.kind == "file":
                if self.loop:
                    self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                    ok, image = self._cap.read()
                if not ok or image is None:
                    raise SourceEnded(self.name)
            else:
                raise SourceError(f"{self.name}: read failed (camera unplugged or stream lost?)")
        return self._count.frame(image, self.name, decode_s=time.perf_counter() - t)

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


class ImageFolderSource:
    """Every image of a folder, in name order, as one frame each."""

    live = False
    retry_at_start = False

    def __init__(self, folder: str, loop: bool = False):
        self.folder, self.loop = Path(folder), loop
        self.name = f"folder:{folder}"
        self._files: list[Path] = []
        self._i = 0
        self._count = _Counter()

    def open(self) -> None:
        from edge.imageio import expand_inputs

        if not self.folder.is_dir():
            raise SourceError(f"{self.folder}: not a folder")
        self._files = expand_inputs([self.folder])
        if not self._files:
            raise SourceError(f"{self.folder}: no images")

    def read(self, timeout: float = 1.0) -> Optional[Frame]:
        from edge.errors import ImageReadError
        from edge.imageio import read_image

        while True:
            if self._i >= len(self._files):
                if not self.loop:
                    raise SourceEnded(self.name)
                self._i = 0
            path = self._files[self._i]
            self._i += 1
            try:
                return self._count.frame(read_image(path), str(path))
            except ImageReadError as e:
                log.error("%s", e)

    def close(self) -> None:
        pass


def lores_size(width: int, height: int, long_side: int = DETECT_SIZE) -> tuple[int, int]:
    """The detection stream's size: the main stream's aspect with its long side at most ``long_side``
    (the measured detection size), in even pixels as YUV420 needs."""
    scale = min(1.0, long_side / max(width, height)) if long_side > 0 else 1.0
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


class Picamera2Source:
    """Raspberry Pi camera through Picamera2 (from Raspberry Pi OS: apt install python3-picamera2;
    use a venv made with --system-site-packages). The small ``lores`` stream (by default the main
    stream's aspect at the measured detection size) is used for detection and the main stream for the
    face crops."""

    live = True
    retry_at_start = True

    def __init__(self, width: int = 1280, height: int = 720, lores: Optional[tuple[int, int]] = None, fps: float = 30):
        self.size, self.fps = (width or 1280, height or 720), fps
        self.lores_size = lores or lores_size(*self.size)
        self.name = "picamera2"
        self._cam = None
        self._count = _Counter()

    def open(self) -> None:
        try:
            from picamera2 import Picamera2  # imported here: it only exists on Raspberry Pi OS
        except ImportError as e:
            raise SourceUnavailable("picamera2 is not importable: on Raspberry Pi OS run 'sudo apt install "
                              "python3-picamera2' and create the venv with --system-site-packages") from e
        try:
            cam = Picamera2()
            config = cam.create_video_configuration(
                main={"size": self.size, "format": "RGB888"},   # RGB888 is BGR in memory, as OpenCV wants
                lores={"size": self.lores_size, "format": "YUV420"},
                controls={"FrameRate": self.fps})
            cam.configure(config)
            cam.start()
        except Exception as e:  # noqa: BLE001 - libcamera raises many kinds
            raise SourceError(f"cannot start the Pi camera ({e})") from e
        self._cam = cam

    def read(self, timeout: float = 1.0) -> Optional[Frame]:
        import cv2

        if self._cam is None:
            raise SourceError("picamera2 is not open")
        try:
            main, lores_yuv = self._cam.capture_arrays(["main", "lores"])[0]
        except Exception as e:  # noqa: BLE001
            raise SourceError(f"Pi camera read failed ({e})") from e
        w, h = self.lores_size
        lores = cv2.cvtColor(lores_yuv[: h * 3 // 2, :w], cv2.COLOR_YUV420p2BGR)
        return self._count.frame(np.ascontiguousarray(main[:, :, :3]), self.name, lores)

    def close(self) -> None:
        if self._cam is not None:
            try:
                self._cam.stop()
                self._cam.close()
            finally:
                self._cam = None


class ReconnectingSource:
    """Wraps a live source: on failure, close and reopen with a short exponential backoff capped at
    ``backoff_max`` (1 s: a camera replugged after an hour is seen again within a second, and a failed open of
    an absent device costs next to nothing), counting stalls and reconnects and logging each state change once."""

    def __init__(self, inner: Source, backoff_start: float = 0.25, backoff_max: float = 1.0,
                 stall_timeout: float = 5.0, stop_event=None):
        self.inner = inner
        self.name, self.live = inner.name, inner.live
        self.retry_at_start = getattr(inner, "retry_at_start", False)
        self.backoff_start, self.backoff_max, self.stall_timeout = backoff_start, backoff_max, stall_timeout
        self.reconnects = 0
        self.stalls = 0
        self.connected = False
        self.last_frame_at = 0.0
        self._stop = stop_event
        self._failed_since: Optional[float] = None

    def open(self) -> None:
        """Open; a camera or stream that is absent at start is waited for, with the same backoff.
        Any other source that fails to open raises: waiting would never help."""
        try:
            self.inner.open()
        except SourceError as e:
            if isinstance(e, SourceUnavailable) or not self.retry_at_start:
                raise
            self.connected = True  # so that the state change is logged once
            self._reconnect(f"{e} at start")
            return
        self.connected = True
        self.last_frame_at = time.monotonic()

    def _stopped(self) -> bool:
        return self._stop is not None and self._stop.is_set()

    def _reconnect(self, reason: str) -> None:
        if self.connected:
            log.warning("camera lost: %s; reconnecting", reason)
            self._failed_since = time.monotonic()
        self.connected = False
        try:
            self.inner.close()
        except Exception:  # noqa: BLE001 - closing a broken device may fail too
            pass
        delay = self.backoff_start
        while not self._stopped():
            try:
                self.inner.open()
            except SourceError as e:
                log.debug("reconnect failed: %s", e)
                if self._stop is not None:
                    self._stop.wait(delay)
                else:
                    time.sleep(delay)
                delay = min(delay * 2, self.backoff_max)
                continue
            self.reconnects += 1
            self.connected = True
            self.last_frame_at = time.monotonic()
            down = time.monotonic() - (self._failed_since or time.monotonic())
            log.warning("camera back after %.1f s (reconnect #%d)", down, self.reconnects)
            return

    def read(self, timeout: float = 1.0) -> Optional[Frame]:
        try:
            frame = self.inner.read(timeout)
        except SourceEnded:
            raise
        except SourceError as e:
            self._reconnect(str(e))
            return None
        now = time.monotonic()
        if frame is None:
            if now - self.last_frame_at > self.stall_timeout:
                self.stalls += 1
                self._reconnect(f"no frame for {now - self.last_frame_at:.1f} s")
            return None
        self.last_frame_at = now
        return frame

    def close(self) -> None:
        self.inner.close()


STREAM_SCHEMES = ("rtsp://", "rtmp://", "http://", "https://", "udp://", "tcp://")


def open_source(spec: str, loop: bool = False, realtime: bool = False, width: int = 0, height: int = 0,
                fps: float = 0, demo_frames: int = 0) -> Source:
    """Turn a source string into a Source (not yet opened).

    ``0``/``1``: camera index; ``rtsp://``/``http(s)://``: stream; a string containing ``!``:
    GStreamer pipeline; ``picamera2``; ``demo``; a folder: its images; anything else: a video file.
    """
    from edge.live.demo import DemoSource

    s = spec.strip()
    if s == "demo":
        return DemoSource(frames=demo_frames, loop=loop, width=width or 640, height=height or 480, fps=fps or 30)
    if s == "picamera2":
        return Picamera2Source(width, height, fps=fps or 30)
    if s.isdigit():
        return OpenCVSource(s, "camera", width=width, height=height, fps=fps)
    if s.startswith(STREAM_SCHEMES):
        return OpenCVSource(s, "stream")
    if "://" in s.split("!")[0]:
        raise SourceUnavailable(f"{s}: unknown scheme {s.split('://')[0]!r} (streams: "
                                f"{', '.join(STREAM_SCHEMES)}; a camera is an index such as 0)")
    if "!" in s:
        return OpenCVSource(s, "gstreamer")
    p = Path(s)
    if p.is_dir():
        return ImageFolderSource(s, loop)
    if not p.is_file():
        raise SourceUnavailable(f"{s}: no such file, folder, camera index or stream")
    return OpenCVSource(s, "file", loop=loop, realtime=realtime, fps=fps)


# The Jetson CSI camera (e.g. IMX219) through nvarguscamerasrc, scaled on the ISP and
# converted to BGR for OpenCV. Pass it as the source string (needs OpenCV with GStreamer).
JETSON_CSI_PIPELINE = (
    "nvarguscamerasrc sensor-id=0 ! video/x-raw(memory:NVMM),width=1280,height=720,framerate=30/1 ! "
    "nvvidconv ! video/x-raw,format=BGRx ! videoconvert ! video/x-raw,format=BGR ! appsink drop=1 max-buffers=1")
