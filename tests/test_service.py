"""systemd integration: the generated unit passes `systemd-analyze verify`; READY/WATCHDOG/STATUS reach a
real AF_UNIX datagram socket standing in for systemd; the watchdog holds through a short outage and
stops when frames stop; SIGHUP reloads the model or refuses a bad file and keeps running."""
from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from agegender.cli import main
from edge.service.sdnotify import Notifier, socket_address, watchdog_interval
from edge.service.systemd import PROFILES, UnitOptions, render_unit
from edge.service.watchdog import ServiceWatchdog, WatchdogConfig

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------- a stand-in for systemd
class FakeSystemd:
    """Receives sd_notify datagrams on a real AF_UNIX SOCK_DGRAM socket (path or abstract '@name')."""

    def __init__(self, address: str):
        self.address = address                       # NOTIFY_SOCKET value
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(socket_address(address))
        self.sock.settimeout(0.1)
        self.messages: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            now = time.monotonic()
            self.messages.extend((now, line) for line in data.decode().split("\n"))

    def lines(self, key: str) -> list[float]:
        return [t for t, m in list(self.messages) if m.startswith(key + "=")]

    def wait_for(self, key: str, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.lines(key):
                return True
            time.sleep(0.05)
        return False

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


@pytest.fixture(params=["path", "abstract"])
def fake_systemd(request, tmp_path):
    address = str(tmp_path / "notify.sock") if request.param == "path" else f"@agegender-test-{os.getpid()}-{id(request)}"
    s = FakeSystemd(address)
    yield s
    s.close()


@pytest.fixture()
def abstract_systemd():
    s = FakeSystemd(f"@agegender-test-{os.getpid()}")
    yield s
    s.close()


@pytest.fixture()
def path_systemd(tmp_path):
    s = FakeSystemd(str(tmp_path / "notify.sock"))
    yield s
    s.close()


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    from deploy_helpers import make_tiny_onnx

    return make_tiny_onnx(tmp_path_factory.mktemp("tiny") / "tiny.onnx")


# ---------------------------------------------------------------------------- the unit
needs_analyze = pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")


@needs_analyze
@pytest.mark.parametrize("profile", sorted(PROFILES))
@pytest.mark.parametrize("user", ["dynamic", "agegender"])
def test_generated_unit_passes_systemd_analyze_verify(tmp_path, profile, user):
    text = render_unit(UnitOptions(config=tmp_path / "config.toml", user=user, profile=profile,
                                   read_write_paths=["/srv/analytics"]))
    unit = tmp_path / "agegender.service"
    unit.write_text(text)
    proc = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    ours = [line for line in (proc.stdout + proc.stderr).splitlines() if "agegender.service" in line]
    assert proc.returncode == 0 and not ours, proc.stdout + proc.stderr
    for directive in ("Type=notify", "WatchdogSec=30", "Restart=on-failure", "StartLimitIntervalSec=",
                      "StartLimitBurst=", "SupplementaryGroups=video", "DeviceAllow=char-video4linux rw",
                      "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
                      "StateDirectory=agegender", "ReadWritePaths=/srv/analytics", "ExecReload=/bin/kill -HUP $MAINPID"):
        assert directive in text, directive
    assert ("DynamicUser=yes" in text) == (user == "dynamic")
    assert ("User=agegender" in text) == (user == "agegender")
    exec_start = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    assert Path(exec_start.split("=", 1)[1].split()[0]).is_file()
    assert exec_start.endswith(f"run --config {tmp_path / 'config.toml'}")


@needs_analyze
def test_verify_would_catch_a_broken_unit(tmp_path):
    text = render_unit(UnitOptions(config=tmp_path / "c.toml", exec_path="/nonexistent/agegender"))
    unit = tmp_path / "agegender.service"
    unit.write_text(text)
    proc = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "not executable" in proc.stderr


def test_install_writes_unit_and_a_config_that_loads_then_uninstall(tmp_path, capsys):
    config = tmp_path / "etc" / "config.toml"
    units = tmp_path / "units"
    assert main(["service", "install", "--unit-dir", str(units), "--no-enable", "--config", str(config),
                 "--profile", "picamera2"]) == 0
    unit = (units / "agegender.service").read_text()
    assert "DeviceAllow=char-dma_heap rw" in unit and "DeviceAllow=char-media rw" in unit
    assert main(["config", "--check", str(config)]) == 0
    assert 'source = "0"' in config.read_text()            # a service reads the camera, never the demo
    before = config.read_text()
    config.write_text(before + "\n# edited by the owner\n")
    assert main(["service", "install", "--unit-dir", str(units), "--no-enable", "--config", str(config)]) == 0
    assert config.read_text().endswith("# edited by the owner\n")      # an existing config is never overwritten
    assert main(["service", "uninstall", "--unit-dir", str(units), "--no-enable"]) == 0
    assert not (units / "agegender.service").exists() and config.exists()
    out = capsys.readouterr().out
    assert "installed" in out and "removed" in out


def test_dry_run_prints_the_unit_and_writes_nothing(tmp_path, capsys):
    assert main(["service", "install", "--dry-run", "--config", str(tmp_path / "c.toml"), "--watchdog-sec", "20"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# agegender.service") and "WatchdogSec=20" in out and "[Install]" in out
    assert not (tmp_path / "c.toml").exists()


def test_install_needs_root_without_unit_dir(monkeypatch, capsys):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert main(["service", "install"]) == 2
    assert "run it as root (sudo)" in capsys.readouterr().err


# ---------------------------------------------------------------------------- the protocol
def test_notifier_speaks_the_datagram_protocol(fake_systemd):
    n = Notifier({"NOTIFY_SOCKET": fake_systemd.address})
    assert n.enabled and n.send("READY=1", "STATUS=hello\nworld")
    assert fake_systemd.wait_for("STATUS", 2)
    assert [m for _, m in fake_systemd.messages] == ["READY=1", "STATUS=hello world"]
    n.close()


def test_notifier_outside_systemd_and_dead_socket(tmp_path, caplog):
    assert not Notifier({}).send("READY=1")
    assert Notifier({"NOTIFY_SOCKET": "vsock:2:1234"}).enabled is False
    dead = Notifier({"NOTIFY_SOCKET": str(tmp_path / "nobody.sock")})
    caplog.set_level(logging.WARNING)
    assert dead.send("WATCHDOG=1") is False and dead.send("WATCHDOG=1") is False
    assert sum("cannot notify systemd" in r.getMessage() for r in caplog.records) == 1


def test_watchdog_interval_from_env():
    assert watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_interval({}) is None and watchdog_interval({"WATCHDOG_USEC": "x"}) is None


class Clock:
    def __init__(self):
        self.t = 1000.0

    def __call__(self):
        return self.t


class Metrics:
    frames_captured = 0

    def snapshot(self):
        return {"processed_fps": 10.0, "frames_processed": 5, "reconnects": 0}


class Recorder:
    enabled = True

    def __init__(self):
        self.sent: list[str] = []

    def send(self, *lines):
        self.sent.extend(lines)
        return True

    def close(self):
        pass


def test_watchdog_policy_grace_then_expiry_and_stuck_processing():
    clock, metrics, rec = Clock(), Metrics(), Recorder()
    wd = ServiceWatchdog(rec, metrics, WatchdogConfig(grace_s=30, stall_s=5), interval=1.0, clock=clock)
    assert wd.tick() == "starting" and "WATCHDOG=1" not in rec.sent    # nothing before the first frame
    wd.write(type("R", (), {"frame": type("F", (), {"source": "camera:0"})()})())
    assert rec.sent[:3] == ["READY=1", "STATUS=processing camera:0", "WATCHDOG=1"]

    def pings_over(seconds):
        before = rec.sent.count("WATCHDOG=1")
        states = set()
        for _ in range(int(seconds)):
            clock.t += 1
            states.add(wd.tick())
        return rec.sent.count("WATCHDOG=1") - before, states

    assert pings_over(4) == (4, {"ok"})
    n, states = pings_over(26)               # camera gone (nothing captured): held through the grace period
    assert n == 26 and states == {"ok", "outage"}
    assert any(s.startswith("STATUS=no frame for") for s in rec.sent)
    n, states = pings_over(10)               # past grace_s: no more pings, systemd will restart us
    assert n == 0 and states == {"expired"}
    wd.write(None)                           # frames again
    assert pings_over(3)[0] == 3 and wd.state == "ok"
    for _ in range(8):                       # frames captured but none processed: stuck, no grace
        clock.t += 1
        metrics.frames_captured += 10
        wd.tick()
    assert wd.state == "stuck" and rec.sent[-1] != "WATCHDOG=1"


# ---------------------------------------------------------------------------- a real pipeline
class StoppingDemo:
    """The demo clip as a live camera that goes silent after ``frames`` frames (a dead camera)."""

    live = True
    name = "demo-then-silence"

    def __init__(self, frames: int):
        from edge.live.demo import DemoSource

        self.inner, self.frames, self.n = DemoSource(loop=True), frames, 0
        self.silent_since: float | None = None

    def open(self):
        self.inner.open()

    def read(self, timeout=1.0):
        if self.n >= self.frames:
            if self.silent_since is None:
                self.silent_since = time.monotonic()
            time.sleep(min(timeout, 0.05))
            return None
        self.n += 1
        return self.inner.read(timeout)

    def close(self):
        self.inner.close()


def test_ready_then_watchdog_while_frames_flow_and_none_after_they_stop(abstract_systemd, tiny_model):
    from edge.vision.analyzer import FaceAnalyzer
    from edge.vision.detectors import create_detector
    from edge.vision.model import AgeGenderModel
    from edge.live.pipeline import Pipeline, PipelineConfig

    analyzer = FaceAnalyzer(create_detector("haar"), AgeGenderModel(tiny_model))
    fake_systemd = abstract_systemd
    source = StoppingDemo(frames=12)
    pipeline = Pipeline(source, analyzer, [], PipelineConfig(duration=6.0))
    env = {"NOTIFY_SOCKET": fake_systemd.address, "WATCHDOG_USEC": "100000"}        # WatchdogSec=0.1 s
    wd = ServiceWatchdog(Notifier(env), pipeline.metrics, WatchdogConfig(grace_s=2.5, stall_s=1.0),
                         watchdog_interval(env))
    pipeline.sinks.append(wd)
    wd.start()
    summary = pipeline.run()
    assert summary["frames_processed"] >= 2          # a live source: frames the CPU cannot keep up with are dropped
    ready, pings = fake_systemd.lines("READY"), fake_systemd.lines("WATCHDOG")
    assert len(ready) == 1 and pings and min(pings) >= ready[0]
    last = wd.last_frame_at                          # the last frame that reached the outputs
    assert last is not None and last >= source.silent_since - 1.0
    assert any(t < last for t in pings)                            # pinged while frames flowed
    assert any(last + 1.5 < t for t in pings)                      # held through the short outage (grace 2.5 s)
    assert max(pings) < last + 2.5 + 0.3                           # then stopped: systemd would restart us
    assert fake_systemd.wait_for("STOPPING", 2)
    stopping = fake_systemd.lines("STOPPING")
    assert max(stopping) > max(pings) + 1.0           # silence for >1 s before the pipeline ended
    assert any("watchdog held" in m for _, m in fake_systemd.messages)


def _run_cli(args: list[str], env: dict) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "agegender", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT), **env))


def test_agegender_run_under_a_notify_socket(path_systemd, tiny_model):
    """The real CLI as systemd starts it: READY=1 then WATCHDOG=1, STOPPING=1 at the end."""
    fake_systemd = path_systemd
    proc = _run_cli(["run", "demo", "--model", str(tiny_model), "--detector", "haar", "--max-frames", "15"],
                    {"NOTIFY_SOCKET": fake_systemd.address, "WATCHDOG_USEC": "200000"})
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert fake_systemd.wait_for("STOPPING", 2)
    ready, pings = fake_systemd.lines("READY"), fake_systemd.lines("WATCHDOG")
    assert len(ready) == 1 and pings and ready[0] <= min(pings)
    assert "systemd: ready" in err


# ---------------------------------------------------------------------------- SIGHUP
def test_reloader_keeps_the_old_model_when_the_new_file_is_bad(tiny_model, tmp_path, caplog):
    from edge.vision.analyzer import FaceAnalyzer
    from edge.vision.model import AgeGenderModel
    from edge.service.reload import ModelReloader

    path = tmp_path / "m.onnx"
    shutil.copy(tiny_model, path)
    shutil.copy(str(tiny_model) + ".json", str(path) + ".json")
    holder = type("P", (), {})()
    holder.analyzer = FaceAnalyzer(None, AgeGenderModel(path))
    first = holder.analyzer
    reloader = ModelReloader(holder, lambda: FaceAnalyzer(None, AgeGenderModel(path)))
    path.write_bytes(path.read_bytes()[:100])                     # truncated while running
    caplog.set_level(logging.INFO)
    assert reloader.reload() is False and holder.analyzer is first
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].startswith("model reload refused, still running") and "\n" not in errors[0]
    crops = np.zeros((1, 64, 64, 3), np.uint8)
    assert len(holder.analyzer.model.predict(crops)) == 1         # the old model still answers
    from deploy_helpers import make_tiny_onnx

    make_tiny_onnx(path, seed=1)                                   # a good new file
    assert reloader.reload() is True and holder.analyzer is not first
    assert reloader.reloads == 1 and reloader.failures == 1


def test_sighup_in_a_running_service(tiny_model, tmp_path):
    """A real `agegender run`: SIGHUP with a corrupt model file -> one clear line, frames keep coming;
    SIGHUP with a good file -> reloaded; SIGTERM -> clean exit."""
    from deploy_helpers import make_tiny_onnx

    path = make_tiny_onnx(tmp_path / "m.onnx")
    proc = _run_cli(["run", "demo", "--loop", "--model", str(path), "--detector", "haar", "--json"], {})
    errs: list[str] = []
    threading.Thread(target=lambda: errs.extend(proc.stderr), daemon=True).start()
    try:
        assert json.loads(proc.stdout.readline())["frame"] >= 0
        path.write_bytes(b"not a model")
        proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 30
        while not any("model reload refused" in e for e in errs) and time.monotonic() < deadline:
            time.sleep(0.1)
        before = json.loads(proc.stdout.readline())["frame"]
        for _ in range(5):                                         # still processing frames
            frame = json.loads(proc.stdout.readline())["frame"]
        assert frame > before and proc.poll() is None
        make_tiny_onnx(path, seed=2)
        proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 30
        while not any("model reloaded" in e for e in errs) and time.monotonic() < deadline:
            proc.stdout.readline()
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    refused = [e for e in errs if "model reload refused" in e]
    assert len(refused) == 1 and str(path) in refused[0]
    assert any("model reloaded" in e for e in errs) and not any("Traceback" in e for e in errs)


# ---------------------------------------------------------------------------- soak runner
def test_soak_runner_reports_memory_and_fps(tiny_model, tmp_path):
    from benchmarks.soak import run_soak

    args = argparse.Namespace(minutes=0.1, model=str(tiny_model), models_dir=[], out=str(tmp_path), skip_frames=0)
    assert run_soak(args) == 0
    report = json.loads((tmp_path / "soak.json").read_text())
    assert report["frames_processed"] > 0 and report["processed_fps"] > 0 and report["frame_errors"] == 0
    assert 0 < report["rss_start_mb"] <= report["peak_rss_end_mb"] and report["peak_rss_start_mb"] <= report["peak_rss_end_mb"]
    assert report["analytics_write_errors"] == 0 and len(report["samples"]) >= 3
    assert "| RSS at the end |" in (tmp_path / "soak.md").read_text()
