"""`agegender kiosk`: a full-screen view with overlays and a side panel of live stats, two ways:

- ``window``: an OpenCV window (needs an OpenCV with GUI support, not the headless wheel): the
  annotated frame with a side panel drawn beside it (:class:`KioskWindowSink`);
- ``browser``: the web dashboard (edge.service.http_server) in Chromium's ``--kiosk`` mode at
  ``http://127.0.0.1:PORT/?kiosk=1`` (:class:`KioskBrowser`); works with the headless OpenCV wheel.
"""
from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
import threading
import time
from typing import Any, Callable, Optional, Sequence

import numpy as np

from edge.errors import AgeGenderError
from edge.live.outputs import DisplaySink
from edge.service.live_stats import RateMeter, TrackBook
from edge.vision.draw import GATE_COLORS, GATE_TEXT

log = logging.getLogger(__name__)

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
KIOSK_FLAGS = ("--kiosk", "--noerrdialogs", "--disable-infobars", "--no-first-run", "--no-default-browser-check",
               "--disable-session-crashed-bubble", "--disable-translate", "--password-store=basic",
               "--check-for-update-interval=31536000", "--autoplay-policy=no-user-gesture-required")
PANEL_BG = (24, 24, 24)
GENDER_BGR = {"female": (213, 154, 255), "male": (255, 184, 127), "undetermined": (204, 204, 204)}


# ---------------------------------------------------------------------------- window mode
def opencv_gui_backend() -> str:
    """OpenCV's GUI backend from its build information: e.g. GTK3, QT5, or NONE (headless wheel)."""
    import cv2

    for line in cv2.getBuildInformation().splitlines():
        if line.strip().startswith("GUI:"):
            return line.split(":", 1)[1].strip().upper() or "NONE"
    return "NONE"


def opencv_has_gui() -> bool:
    return opencv_gui_backend() != "NONE"


def window_mode_reliable() -> bool:
    """GTK builds (Raspberry Pi OS, JetPack) draw from the pipeline's output thread. The pip wheel's
    Qt backend does not repaint a window fed from a thread other than the main one (seen under Xvfb),
    so ``--mode auto`` picks the browser there."""
    return opencv_gui_backend().startswith("GTK")


def render_side_panel(stats: dict[str, Any], height: int, width: int = 360) -> np.ndarray:
    """A BGR panel: FPS, people in view, the age check's banners (with --age-gate: no age numbers then), faces
    now, visitors per age group and gender per window.

    ``stats`` has the shape of ``/api/stats`` (keys ``fps``, ``present``, ``faces``, ``windows``)."""
    import cv2

    panel = np.full((height, width, 3), PANEL_BG, np.uint8)
    scale = max(0.45, min(1.0, height / 900))
    line_h = int(30 * scale)
    y = line_h

    def text(s: str, color=(235, 235, 235), size: float = 0.6, bold: int = 1, x: int = 14) -> None:
        nonlocal y
        if y < height - 4:
            cv2.putText(panel, s, (x, y), cv2.FONT_HERSHEY_SIMPLEX, size * scale, color, bold, cv2.LINE_AA)
        y += int(line_h * size / 0.6)

    text(f"{stats.get('fps', 0.0):.1f} FPS   {stats.get('present', 0)} in view", size=0.8, bold=2)
    y += line_h // 3
    faces = stats.get("faces", [])
    gated = [f for f in faces if "gate" in f]
    for f in gated[:4]:   # the age check: a banner per person, the decision only, never an age
        kind = f["gate"] if f.get("gate_final") else "pending"
        top = y - line_h + 4
        cv2.rectangle(panel, (10, top), (width - 10, top + int(line_h * 1.6)), GATE_COLORS[kind], -1)
        y += int(line_h * 0.3)
        text(GATE_TEXT[kind], (17, 17, 17) if kind == "ask_id" else (255, 255, 255), 0.9, 2, x=20)
        y += int(line_h * 0.4)
    text("FACES NOW", (170, 170, 170), 0.5)
    for f in faces[:8]:
        if gated and "gate" in f:
            text(f"#{f.get('track_id', '')}  {GATE_TEXT[f['gate'] if f.get('gate_final') else 'pending']}",
                 (220, 220, 220))
        elif "age" in f:
            text(f"#{f.get('track_id', '')}  {f['age']:.0f} y  {f['age_group']}  {f['gender']}",
                 GENDER_BGR.get(f["gender"], (220, 220, 220)))
        else:
            text(f"#{f.get('track_id', '')}  ...", (160, 160, 160))
    if not faces:
        text("none", (140, 140, 140))
    for w in stats.get("windows", []):
        y += line_h // 3
        secs = w["seconds"]
        span = f"{secs / 3600:g} h" if secs >= 3600 else f"{secs / 60:g} min" if secs >= 60 else f"{secs:g} s"
        text(f"LAST {span.upper()}: {w['visitors']} VISITORS", (170, 170, 170), 0.5)
        g = w["by_gender"]
        text(f"female {g.get('female', 0)}  male {g.get('male', 0)}  ? {g.get('undetermined', 0)}")
        for group, n in w["by_age_group"].items():
            if n:
                text(f"  {group:>6}: {n}", size=0.5)
    return panel


def compose(frame: np.ndarray, panel: np.ndarray) -> np.ndarray:
    """The frame and the panel side by side (the panel must have the frame's height)."""
    return np.hstack([frame, panel])


class KioskWindowSink(DisplaySink):
    """Full-screen OpenCV window: annotated frame + side panel, no toolbar. Press q or Esc to stop."""

    def __init__(self, metrics: Any, book: Optional[TrackBook] = None, on_quit: Optional[Callable[[], None]] = None,
                 panel_width: int = 360, fullscreen: bool = True, screenshot: Optional[str] = None,
                 wait_ms: int = 10):
        if not opencv_has_gui():
            raise AgeGenderError("kiosk --mode window needs OpenCV with GUI support (this one is the headless "
                                 "wheel): pip install 'opencv-python<5', or use --mode browser")
        if not window_mode_reliable():
            log.warning("kiosk: this OpenCV's GUI backend (%s) may not repaint a window drawn from the pipeline "
                        "thread; if the window stays black use --mode browser", opencv_gui_backend())
        super().__init__("agegender kiosk", fullscreen, on_quit, toolbar=False, wait_ms=wait_ms)
        self.metrics, self.book = metrics, book or TrackBook()
        self.rate = RateMeter()
        self.panel_width, self.screenshot = panel_width, screenshot

    def write(self, result: Any) -> None:
        import cv2

        self.book.update(result.faces)
        self.rate.mark(self.metrics.frames_processed)
        stats = {"fps": self.rate.rate(), "present": self.book.present(), "faces": self.book.current_faces(),
                 "windows": [self.book.counts(w).to_json() for w in self.book.windows]}
        image = compose(result.annotated, render_side_panel(stats, result.annotated.shape[0], self.panel_width))
        if self.screenshot:
            cv2.imwrite(self.screenshot, image)
            self.screenshot = None
        self.show(image)


# ---------------------------------------------------------------------------- browser mode
def find_browser(explicit: Optional[str] = None) -> str:
    if explicit:
        path = shutil.which(explicit) or (explicit if os.path.isfile(explicit) else None)
        if not path:
            raise AgeGenderError(f"kiosk: browser {explicit} not found")
        return path
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    raise AgeGenderError("kiosk --mode browser needs Chromium: sudo apt install chromium "
                         "(Raspberry Pi OS: chromium-browser), or pass --browser PATH")


def browser_command(binary: str, url: str, profile_dir: str, extra: Sequence[str] = ()) -> list[str]:
    return [binary, *KIOSK_FLAGS, f"--user-data-dir={profile_dir}", *extra, f"--app={url}"]


class KioskBrowser:
    """Chromium in kiosk mode on the dashboard. Closing the browser stops the pipeline (``on_exit``);
    :meth:`close` ends the browser."""

    def __init__(self, url: str, binary: Optional[str] = None, on_exit: Optional[Callable[[], None]] = None,
                 extra_flags: Sequence[str] = ()):
        self.binary = find_browser(binary)
        self._profile = tempfile.TemporaryDirectory(prefix="agegender-kiosk-")
        extra = list(extra_flags)
        if os.geteuid() == 0 and "--no-sandbox" not in extra:
            log.warning("kiosk: running the browser as root needs --no-sandbox; run the kiosk as the desktop user")
            extra.append("--no-sandbox")
        self.command = browser_command(self.binary, url, self._profile.name, extra)
        self.on_exit = on_exit
        self._closing = False
        self.proc = subprocess.Popen(self.command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        log.info("kiosk: %s on %s (pid %d)", os.path.basename(self.binary), url, self.proc.pid)
        self._watch = threading.Thread(target=self._watcher, name="kiosk-browser", daemon=True)
        self._watch.start()

    def _watcher(self) -> None:
        code = self.proc.wait()
        if not self._closing:
            log.info("kiosk: the browser exited (status %d): stopping", code)
            if self.on_exit is not None:
                self.on_exit()

    def close(self) -> None:
        self._closing = True
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        deadline = time.monotonic() + 5
        while self._watch.is_alive() and time.monotonic() < deadline:
            self._watch.join(timeout=0.2)
        self._profile.cleanup()
