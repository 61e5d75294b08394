"""A fresh install with nothing beside it: the shipped detectors and demo portrait, sources that
can never open, commands with no model named, and progress bars."""
from __future__ import annotations

import io
import json
import re
import subprocess
import sys

import pytest

from conftest import ROOT, run_cli
from edge.vision import model_store

ASSETS = ROOT / "edge" / "assets"


@pytest.fixture
def nothing_beside(monkeypatch, tmp_path):
    """No AGEGENDER_* folders, no repository models/, an empty download cache."""
    monkeypatch.delenv(model_store.MODELS_DIR_ENV, raising=False)
    monkeypatch.setenv(model_store.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(model_store, "package_models_dir", lambda: tmp_path / "no-models")
    return tmp_path


def test_every_asset_matches_the_sha256_its_readme_gives():
    table = re.compile(r"^\| `([^`]+)` \|.*\| `([0-9a-f]{64})` \|$", re.M)
    rows = table.findall((ASSETS / "README.md").read_text())
    assert len(rows) == 3
    for relative, digest in rows:
        assert model_store.sha256_of(ASSETS / relative) == digest, relative
    kept = ROOT / "models" / "face_detection"
    (relative, digest), = table.findall((kept / "README.md").read_text())
    assert model_store.sha256_of(kept / relative) == digest
    for licence in ("face_detection/yunet/LICENSE.yunet-MIT", "face_detection/blazeface/LICENSE.Apache-2.0"):
        assert (ASSETS / licence).stat().st_size > 1000


def test_auto_picks_the_packaged_yunet_with_nothing_beside(nothing_beside, caplog):
    from edge.vision.detectors import create_detector, find_detector_file

    caplog.set_level("INFO")
    assert find_detector_file("yunet") == ASSETS / "face_detection/yunet/face_detection_yunet_2026may.onnx"
    assert find_detector_file("blazeface").parent == ASSETS / "face_detection/blazeface"
    create_detector("auto")
    assert "face detector: yunet" in caplog.text and "haar" not in caplog.text


def test_blazeface_full_range_is_found_with_the_shipped_models(monkeypatch):
    from edge.vision.detectors import find_detector_file

    monkeypatch.delenv(model_store.MODELS_DIR_ENV, raising=False)
    found = find_detector_file("blazeface-full")
    assert found == ROOT / "models" / "face_detection" / "blazeface" / "face_detection_full_range.tflite"


def test_a_folder_the_user_names_wins_over_the_packaged_copy(nothing_beside):
    from edge.vision.detectors import find_detector_file

    mine = nothing_beside / "mine" / "yunet"
    mine.mkdir(parents=True)
    (mine / "face_detection_yunet_2026may.onnx").write_bytes(
        (ASSETS / "face_detection/yunet/face_detection_yunet_2026may.onnx").read_bytes())
    assert find_detector_file("yunet", (str(nothing_beside / "mine"),)) == mine / "face_detection_yunet_2026may.onnx"


def test_the_demo_needs_neither_scikit_image_nor_a_download():
    code = ("import sys; sys.modules['skimage'] = None\n"
            "from edge.live.demo import astronaut_portrait, render_demo_frame\n"
            "assert astronaut_portrait().shape == (512, 512, 3)\n"
            "print(render_demo_frame(10).std() > 10)")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "True", r.stderr


def test_demo_faces_are_found_by_the_packaged_yunet(nothing_beside):
    from edge.live.demo import render_demo_frame
    from edge.vision.detectors import create_detector

    detector = create_detector("auto")
    assert all(len(detector.detect(render_demo_frame(i))) == 2 for i in (30, 60, 90, 120))   # both portraits fully in frame


# ---------------------------------------------------------------------------- sources that can never open
def test_a_demo_without_its_portrait_fails_at_start_instead_of_reconnecting(monkeypatch, tmp_path):
    from edge.live.demo import DemoSource
    from edge.errors import SourceUnavailable
    from edge.live.sources import ReconnectingSource

    monkeypatch.setattr(model_store, "ASSETS_DIR", tmp_path)
    wrapped = ReconnectingSource(DemoSource(), backoff_start=0.01)
    with pytest.raises(SourceUnavailable, match="astronaut.jpg is missing"):
        wrapped.open()
    assert wrapped.reconnects == 0


def test_a_camera_absent_at_start_is_waited_for(monkeypatch):
    import threading

    from edge.errors import SourceError
    from edge.live.sources import ReconnectingSource

    class LateCamera:
        name, live, retry_at_start = "late", True, True

        def __init__(self):
            self.tries = 0

        def open(self):
            self.tries += 1
            if self.tries < 3:
                raise SourceError("no /dev/video0 yet")

        def close(self):
            pass

    cam = LateCamera()
    wrapped = ReconnectingSource(cam, backoff_start=0.01, backoff_max=0.02, stop_event=threading.Event())
    wrapped.open()
    assert cam.tries == 3 and wrapped.connected and wrapped.reconnects == 1


def test_a_paced_file_that_cannot_open_is_not_retried(tmp_path):
    from edge.errors import SourceError
    from edge.live.sources import OpenCVSource, ReconnectingSource

    bad = tmp_path / "clip.mp4"
    bad.write_bytes(b"not a video")
    src = OpenCVSource(str(bad), "file", realtime=True)
    assert src.live and not src.retry_at_start
    with pytest.raises(SourceError, match="cannot open file"):
        ReconnectingSource(src, backoff_start=0.01).open()


@pytest.mark.parametrize("spec, message", [("nosuch://host/x", "unknown scheme 'nosuch'"),
                                           ("/nonexistent/clip.mp4", "no such file")])
def test_the_cli_ends_with_one_line_for_a_source_that_can_never_open(spec, message):
    r = run_cli("run", spec, "--max-frames", "5", "--model", str(ROOT / "models" / "agegender_int8.tflite"),
                timeout=120)
    assert r.returncode == 2, r.stderr
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("agegender: error:") and message in last
    assert "reconnecting" not in r.stderr


# ---------------------------------------------------------------------------- defaults and messages
def test_bench_latency_runs_with_no_model_named(tmp_path):
    pytest.importorskip("ai_edge_litert")
    r = run_cli("-q", "bench", "latency", "--quick", "--threads", "1", "--batches", "1", "--out", str(tmp_path),
                timeout=300)
    assert r.returncode == 0, r.stderr
    report = json.loads((tmp_path / "latency.json").read_text())
    assert "agegender_int8.tflite" in {row["model"] for row in report["rows"]}
    assert all(row["p50_ms"] > 0 for row in report["rows"])


def test_a_missing_detector_file_names_the_flag_and_where_it_looked(nothing_beside):
    from edge.vision.detectors import create_detector
    from edge.errors import ModelLoadError

    with pytest.raises(ModelLoadError, match=r"--detector-model PATH.*--models-dir") as e:
        create_detector("res10", models_dirs=(str(nothing_beside / "here"),))
    assert str(nothing_beside / "here") in str(e.value) and str(ASSETS) in str(e.value)


def test_bench_accuracy_finds_the_shared_test_split_or_says_which_flag(monkeypatch, tmp_path, capsys):
    from agegender.cli import main
    from benchmarks.cli import default_accuracy_data

    monkeypatch.chdir(tmp_path)                      # no ../shared here
    monkeypatch.delenv("AGEGENDER_SHARED", raising=False)
    assert default_accuracy_data() == []
    assert main(["bench", "accuracy", "--out", str(tmp_path / "out")]) == 2
    assert "--data DIR[,SPLIT]" in capsys.readouterr().err.strip().splitlines()[-1]
    fake = tmp_path / "elsewhere" / "datasets" / "utkface"
    fake.mkdir(parents=True)
    (fake / "labels.csv").write_text("filename,age,gender,race,split\n")
    monkeypatch.setenv("AGEGENDER_SHARED", str(tmp_path / "elsewhere"))
    assert default_accuracy_data() == [f"{fake},test"]


# ---------------------------------------------------------------------------- progress bars
class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_shows_on_a_terminal_and_hides_with_quiet(monkeypatch):
    from edge import progress as P

    term = _Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    P.set_enabled(True)
    try:
        assert list(P.progress(range(5), total=5, desc="work")) == [0, 1, 2, 3, 4]
        assert "work:" in term.getvalue() and "/5 [" in term.getvalue()
        term.seek(0)
        term.truncate()
        P.set_enabled(False)                     # -q
        assert list(P.progress(range(3), desc="quiet")) == [0, 1, 2]
        assert term.getvalue() == ""
    finally:
        P.set_enabled(True)


def test_progress_stays_off_stdout_and_off_a_pipe(tmp_path, synthetic_utk):
    """predict on a folder: stdout carries only results; stderr, a pipe here, gets no bar."""
    r = run_cli("predict", str(synthetic_utk / "UTKFace"), "--crops", "--json",
                "--model", str(ROOT / "models" / "agegender_int8.tflite"), timeout=300)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 560 and all(json.loads(line)["faces"] for line in lines)
    assert "predict:" not in r.stderr and "img/s" not in r.stderr


def test_a_camera_replugged_after_a_long_unplug_is_polled_at_least_every_second():
    """An hour-long unplug (3,600 failed opens would take that long) must not stretch the wait between polls:
    the device is tried again at most 1 s apart, so a replugged camera is back within about a second."""
    from edge.errors import SourceError
    from edge.live.sources import ReconnectingSource

    class FakeClockEvent:
        def __init__(self):
            self.waits = []

        def is_set(self):
            return False

        def wait(self, seconds):
            self.waits.append(seconds)

    class UnpluggedCamera:
        name, live, retry_at_start = "/dev/video0", True, True

        def __init__(self, plugged_after: int):
            self.tries, self.plugged_after = 0, plugged_after

        def open(self):
            self.tries += 1
            if self.tries <= self.plugged_after:
                raise SourceError("cannot open camera /dev/video0")

        def read(self, timeout=1.0):
            raise SourceError("camera unplugged")

        def close(self):
            pass

    cam = UnpluggedCamera(plugged_after=0)
    clock = FakeClockEvent()
    wrapped = ReconnectingSource(cam, stop_event=clock)
    wrapped.open()
    cam.plugged_after = cam.tries + 3600          # unplugged now, for 3,600 polls
    assert wrapped.read() is None                  # the failed read reconnects, through every failed poll
    assert wrapped.connected and wrapped.reconnects == 1 and cam.tries == 3602
    assert max(clock.waits) <= 1.0 and len(clock.waits) == 3600
    assert clock.waits[-1] <= 1.0                  # the replugged camera was polled within a second
