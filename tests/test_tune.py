"""`agegender tune`: which detection sizes keep the user's faces, the choice rule, and the config it writes."""
import json

import pytest
from conftest import ROOT, run_cli

from edge.live.tune import TuneRequest, allowed_sizes, detector_min_px, tune
from edge.service.config import NOTE_BEGIN, update_run_section


def test_detector_min_px_comes_from_the_detection_size_study(tmp_path):
    rows = [{"resolution": "640x480", "detect_size": 320, "face_width": "40-63", "faces": 200, "recall": 0.7},
            {"resolution": "640x480", "detect_size": 320, "face_width": "64-99", "faces": 200, "recall": 0.99},
            {"resolution": "640x480", "detect_size": 640, "face_width": "40-63", "faces": 200, "recall": 1.0},
            {"resolution": "640x480", "detect_size": 160, "face_width": "100-159", "faces": 200, "recall": 0.97},
            {"resolution": "640x480", "detect_size": 160, "face_width": "24-39", "faces": 10, "recall": 0.0}]
    report = tmp_path / "pipeline.json"
    report.write_text(json.dumps({"detection_size": {"rows": rows}}))
    assert detector_min_px(report) == 25.0          # 100 px at a quarter scale; 20 px (40 at half) failed
    assert detector_min_px(tmp_path / "missing.json") == 30.0
    shipped = detector_min_px()
    assert 20 <= shipped <= 40


def test_allowed_sizes_keep_the_smallest_face_wide_enough_for_the_detector():
    assert allowed_sizes((640, 480, 320, 240), (640, 480), 64, 30) == [640, 480, 320]
    assert allowed_sizes((640, 480, 320, 240), (640, 480), 40, 30) == [640, 480]
    assert allowed_sizes((640, 320), (1280, 720), 64, 30) == [640]
    assert allowed_sizes((0, 640), (1280, 720), 40, 30) == [1280]     # 0: the full frame


def _recording_builder():
    """An analyzer builder that records which settings were measured."""
    calls = []

    def build(trial):
        calls.append((trial.detect_size, trial.detect_every, trial.threads))
        return trial

    return build, calls


def test_tune_prefers_the_largest_size_that_keeps_up_and_skips_longer_intervals_when_detection_is_too_slow(monkeypatch):
    from edge.live import tune as tune_module

    # detection cost per size on a slow core; p95 is the detection frame, capacity the mean
    detect_ms = {640: 41.0, 480: 28.0, 320: 9.5}

    def measure(build, source, trial, seconds):
        build(trial)
        per_face = 0.8 / trial.threads ** 0.5
        trial.process_p95_ms = detect_ms[trial.detect_size] + 2 * per_face
        trial.capacity_fps = 1000 / (detect_ms[trial.detect_size] / trial.detect_every + 2 * per_face + 1.0)
        trial.frames, trial.faces_per_frame = 100, 2.0
        return trial

    monkeypatch.setattr(tune_module, "_measure", measure)
    build, calls = _recording_builder()
    result = tune(TuneRequest(threads=(1,)), build, lambda: None, (640, 480), 30.0, min_px=30)
    c = result.chosen
    assert (c.detect_size, c.detect_every, c.threads) == (320, 3, 1) and c.passes
    # 640 and 480 failed on p95 at every 3, so their longer intervals were never tried
    assert calls == [(640, 3, 1), (480, 3, 1), (320, 3, 1)]
    detect_ms[640] = 8.6          # a fast core: the full frame keeps up
    calls.clear()
    result = tune(TuneRequest(threads=(1,)), build, lambda: None, (640, 480), 30.0, min_px=30)
    assert (result.chosen.detect_size, result.chosen.detect_every) == (640, 3) and calls == [(640, 3, 1)]


def test_no_passing_setting_gives_the_closest_one(monkeypatch):
    from edge.live import tune as tune_module

    def measure(build, source, trial, seconds):
        trial.capacity_fps, trial.process_p95_ms = 20.0 + trial.detect_every, 30.0
        return trial

    monkeypatch.setattr(tune_module, "_measure", measure)
    result = tune(TuneRequest(sizes=(640,), threads=(1,)), lambda t: t, lambda: None, (640, 480), 30.0, min_px=30)
    assert not result.chosen.passes and result.chosen.detect_every == 3   # p95 fails first: only every 3 measured
    assert "MISSES" in result.summary()


def test_update_run_section_replaces_keys_keeps_the_rest_and_refreshes_the_note():
    text = "# my camera\n[run]\n# detect_size = 640\nthreads = 1\nsource = \"0\"\n\n[http]\nport = 8080\n"
    once = update_run_section(text, {"detect_size": 320, "threads": 2, "model": "default"}, ["first"])
    assert "detect_size = 320" in once and "threads = 2" in once and 'model = "default"' in once
    assert 'source = "0"' in once and "[http]\nport = 8080" in once and "# my camera" in once
    twice = update_run_section(once, {"detect_size": 480}, ["second"])
    assert twice.count(NOTE_BEGIN) == 1 and "# second" in twice and "# first" not in twice
    assert "detect_size = 480" in twice and "detect_size = 320" not in twice
    assert update_run_section("", {"threads": 1}).startswith("[run]\nthreads = 1")


def test_tune_command_writes_a_config_that_config_check_accepts(tmp_path):
    if not (ROOT / "models" / "agegender_int8.tflite").is_file():
        pytest.skip("no shipped model")
    cfg = tmp_path / "agegender.toml"
    r = run_cli("tune", "--config", str(cfg), "--seconds", "0.6", "--max-threads", "1", "--json",
                str(tmp_path / "tune.json"))
    assert r.returncode == 0, r.stderr
    assert "wrote [run] detect_size" in r.stdout
    text = cfg.read_text()
    assert NOTE_BEGIN in text and "detect_every = " in text
    check = run_cli("config", "--check", str(cfg))
    assert check.returncode == 0 and "OK" in check.stdout
    trials = json.loads((tmp_path / "tune.json").read_text())["trials"]
    assert trials and all(t["frames"] > 0 and t["capacity_fps"] > 0 for t in trials)
    again = run_cli("tune", "--config", str(cfg), "--seconds", "0.6", "--max-threads", "1")
    assert again.returncode == 0 and cfg.read_text().count(NOTE_BEGIN) == 1
