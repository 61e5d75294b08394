"""`agegender kiosk`: the side panel, and the full-screen view on a virtual X display (Xvfb) with a
screenshot. The browser mode (Chromium --kiosk on the dashboard) is the path tested with the
headless OpenCV wheel; the window mode runs where OpenCV has a GUI."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.errors import AgeGenderError
from edge.service.kiosk import (KioskWindowSink, browser_command, compose, opencv_gui_backend, opencv_has_gui,
                        render_side_panel, window_mode_reliable)
from live_helpers import free_port, tiny_tflite_model, wait_until

ROOT = Path(__file__).resolve().parents[1]

STATS = {"fps": 14.2, "present": 2,
         "faces": [{"track_id": 3, "age": 31.0, "age_group": "25-32", "gender": "female"},
                   {"track_id": 4, "age": 44.0, "age_group": "38-43", "gender": "male"}],
         "windows": [{"seconds": 60, "visitors": 2, "by_age_group": {"25-32": 1, "38-43": 1},
                      "by_gender": {"female": 1, "male": 1, "undetermined": 0}, "by_group_gender": {}}]}


def test_side_panel_shows_the_stats():
    panel = render_side_panel(STATS, 480, 360)
    assert panel.shape == (480, 360, 3) and panel.dtype == np.uint8
    empty = render_side_panel({"fps": 0.0, "present": 0, "faces": [], "windows": []}, 480, 360)
    text_rows = np.where((panel > 100).any(axis=(1, 2)))[0]
    assert len(text_rows) > 50                                # several lines of text were drawn
    assert (panel > 100).sum() > 2 * (empty > 100).sum()      # more stats, more text
    female = np.all(np.abs(panel.astype(int) - (213, 154, 255)) < 40, axis=2).sum()
    male = np.all(np.abs(panel.astype(int) - (255, 184, 127)) < 40, axis=2).sum()
    assert female > 20 and male > 20                          # face lines in their gender colours
    frame = np.zeros((480, 640, 3), np.uint8)
    assert compose(frame, panel).shape == (480, 1000, 3)


def test_window_panel_leads_with_an_age_check_banner_per_person_and_no_age_number():
    gated = dict(STATS, faces=[{**STATS["faces"][0], "gate": "adult", "gate_final": True},
                               {**STATS["faces"][1], "gate": "ask_id", "gate_final": True},
                               {"track_id": 5, "age": 20.0, "age_group": "15-20", "gender": "male", "gate": "ask_id",
                                "gate_final": False}])
    panel = render_side_panel(gated, 600, 360)
    green = np.all(panel.astype(int) == (52, 123, 30), axis=2).sum()
    amber = np.all(panel.astype(int) == (23, 163, 232), axis=2).sum()
    grey = np.all(panel.astype(int) == (58, 58, 58), axis=2).sum()
    assert green > 2000 and amber > 2000 and grey > 2000       # OK, Please show ID, Checking...
    assert np.where((panel[:, :, 1] == 123) & (panel[:, :, 0] == 52))[0].min() < 120   # banners come first
    plain = render_side_panel(STATS, 600, 360)
    assert np.all(plain.astype(int) == (52, 123, 30), axis=2).sum() == 0


def test_browser_command_is_a_kiosk_app_window():
    cmd = browser_command("/usr/bin/chromium", "http://127.0.0.1:8080/?kiosk=1", "/tmp/p")
    assert cmd[0] == "/usr/bin/chromium" and "--kiosk" in cmd and cmd[-1] == "--app=http://127.0.0.1:8080/?kiosk=1"
    assert "--user-data-dir=/tmp/p" in cmd


@pytest.mark.skipif(opencv_has_gui(), reason="this OpenCV has a GUI")
def test_window_mode_without_gui_opencv_is_a_clear_error():
    with pytest.raises(AgeGenderError, match="--mode browser"):
        KioskWindowSink(metrics=None)


def _xvfb(tmp_path: Path):
    """Start Xvfb on a free display; returns (process, ':N')."""
    if not shutil.which("Xvfb"):
        pytest.skip("no Xvfb (Debian: apt-get install xvfb)")
    r, w = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(w), "-screen", "0", "1280x720x24", "-nolisten", "tcp"],
                            pass_fds=(w,), stdout=subprocess.DEVNULL, stderr=open(tmp_path / "xvfb.log", "wb"))
    os.close(w)
    with os.fdopen(r) as f:
        number = f.readline().strip()
    assert number.isdigit(), "Xvfb did not report its display"
    return proc, f":{number}"


def _screenshot(display: str, path: Path) -> np.ndarray:
    """The whole X screen, with ImageMagick's ``import``."""
    subprocess.run(["import", "-display", display, "-window", "root", str(path)], check=True, timeout=30)
    img = cv2.imread(str(path))
    assert img is not None
    return img


def _run_kiosk(tmp_path_factory, tmp_path, display: str, *extra: str) -> subprocess.Popen:
    model = tiny_tflite_model(tmp_path_factory)
    env = dict(os.environ, DISPLAY=display,
               PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    env.pop("WAYLAND_DISPLAY", None)
    return subprocess.Popen([sys.executable, "-m", "agegender", "kiosk", "demo", "--loop", "--model", str(model),
                             "--detector", "haar", "--duration", "90", *extra], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=open(tmp_path / "kiosk.log", "wb"))


def _stop(proc: subprocess.Popen) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def test_browser_kiosk_under_xvfb_screenshot(tmp_path_factory, tmp_path):
    from headless_chromium import find_chromium

    if find_chromium() is None:
        pytest.skip("no chromium binary (Debian: apt-get install chromium)")
    if not shutil.which("import"):
        pytest.skip("no screenshot tool (Debian: apt-get install imagemagick)")
    xvfb, display = _xvfb(tmp_path)
    port = free_port()
    kiosk = None
    try:
        # no window manager runs on Xvfb to make the kiosk window full screen: give it the screen's size
        kiosk = _run_kiosk(tmp_path_factory, tmp_path, display, "--mode", "browser", "--http", str(port),
                           "--browser-flag=--window-position=0,0", "--browser-flag=--window-size=1280,720")

        def stats():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/stats", timeout=5) as r:
                    return json.loads(r.read())
            except OSError:
                assert kiosk.poll() is None, (tmp_path / "kiosk.log").read_text()[-2000:]
                return None
        wait_until(lambda: (stats() or {}).get("frame", -1) > 5, 120)
        # the page polls the stats every second and the stream is shown while the browser reads it
        wait_until(lambda: (stats() or {}).get("faces"), 60)
        deadline = time.monotonic() + 60
        while True:
            time.sleep(3)
            shot = _screenshot(display, tmp_path / "kiosk.png")
            h, w = shot.shape[:2]
            view, panel = shot[:, :760], shot[:, w - 380:]
            # the stream (the demo portraits) fills the view; the panel is dark with light text
            if (view.std() > 25 and (panel < 40).mean() > 0.6 and (panel > 150).any()) or time.monotonic() > deadline:
                break
        assert (h, w) == (720, 1280)
        assert shot.std() > 25, "the kiosk screen is blank"
        assert view.std() > 25, "no stream in the kiosk view"
        assert (panel < 40).mean() > 0.6 and (panel > 150).sum() > 200, "no stats panel"
    finally:
        if kiosk is not None:
            assert _stop(kiosk) == 0, (tmp_path / "kiosk.log").read_text()[-2000:]
        xvfb.terminate()
        xvfb.wait(timeout=10)
    # the kiosk ended its browser with it
    leftover = subprocess.run(["pgrep", "-f", f"127.0.0.1:{port}"], capture_output=True, text=True).stdout.split()
    assert not leftover, f"browser processes left behind: {leftover}"


@pytest.mark.skipif(not window_mode_reliable(), reason="needs a GTK OpenCV build (this one: "
                    f"{opencv_gui_backend()}); the browser kiosk is the tested path here")
def test_window_kiosk_under_xvfb_screenshot(tmp_path_factory, tmp_path):
    if not shutil.which("import"):
        pytest.skip("no screenshot tool (Debian: apt-get install imagemagick)")
    xvfb, display = _xvfb(tmp_path)
    kiosk = None
    try:
        kiosk = _run_kiosk(tmp_path_factory, tmp_path, display, "--mode", "window",
                           "--screenshot", str(tmp_path / "composed.png"))
        wait_until(lambda: (tmp_path / "composed.png").is_file() or kiosk.poll() is not None, 120)
        assert kiosk.poll() is None, (tmp_path / "kiosk.log").read_text()[-2000:]
        composed = cv2.imread(str(tmp_path / "composed.png"))
        assert composed.shape == (480, 640 + 360, 3)            # frame + side panel

        def shown():
            shot = _screenshot(display, tmp_path / "kiosk.png")
            panel_bg = np.all(shot == (24, 24, 24), axis=2).mean()        # the side panel's background
            frame = shot[np.any(shot != 0, axis=2)]
            return shot if panel_bg > 0.02 and frame.size and frame.std() > 25 else None
        shot = wait_until(shown, 60, interval=1.0)
        assert shot.std() > 25, "the kiosk screen is blank"
    finally:
        if kiosk is not None:
            _stop(kiosk)
        xvfb.terminate()
        xvfb.wait(timeout=10)
