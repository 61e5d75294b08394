"""MQTT against a real mosquitto broker started by the test on a free loopback port: the documented
topics and payloads arrive, the last will announces a crash, and the pipeline keeps its frame rate
while the broker is stopped and restarted."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from edge.errors import ConfigError
from edge.service.mqtt_sink import MqttConfig, MqttSink, discovery_messages
from live_helpers import PausableSource, fake_pipeline, free_port, running, tiny_tflite_model, wait_until

ROOT = Path(__file__).resolve().parents[1]
MOSQUITTO = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None)

pytestmark = pytest.mark.skipif(MOSQUITTO is None, reason="no mosquitto binary (Debian: apt-get install mosquitto)")
mqtt = pytest.importorskip("paho.mqtt.client", reason="paho-mqtt not installed (pip install 'agegender[mqtt]')")


class Broker:
    def __init__(self, folder: Path):
        self.port = free_port()
        self.conf = folder / "mosquitto.conf"
        self.conf.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        self.log = folder / "mosquitto.log"
        self.proc = None

    def start(self) -> None:
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=open(self.log, "ab"),
                                     stderr=subprocess.STDOUT)
        import socket

        def up() -> bool:
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", self.port)) == 0
        wait_until(up, 10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None


@pytest.fixture()
def broker(tmp_path):
    b = Broker(tmp_path)
    b.start()
    yield b
    b.stop()


class Subscriber:
    """Collects every message under the given topic filters."""

    def __init__(self, port: int, *filters: str):
        self.messages: list = []
        self.lock = threading.Lock()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"test-sub-{time.monotonic_ns()}")
        self.client.on_connect = lambda c, u, f, rc, p: [c.subscribe(t, qos=1) for t in filters]
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(1, 2)
        self.client.connect("127.0.0.1", port, keepalive=10)
        self.client.loop_start()

    def _on_message(self, client, userdata, msg) -> None:
        with self.lock:
            self.messages.append((msg.topic, msg.payload.decode(), bool(msg.retain), time.monotonic()))

    def on(self, topic: str) -> list:
        with self.lock:
            return [m for m in self.messages if m[0] == topic]

    def json_on(self, topic: str) -> list[dict]:
        return [json.loads(m[1]) for m in self.on(topic)]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_config_errors_name_the_key():
    with pytest.raises(ConfigError, match=r"mqtt\.qos"):
        MqttConfig.from_dict({"qos": 3})
    with pytest.raises(ConfigError, match=r"mqtt\.hots"):
        MqttConfig.from_dict({"hots": "broker"})
    with pytest.raises(ConfigError, match=r"mqtt\.topic_prefix"):
        MqttConfig.from_dict({"topic_prefix": "a/#"})
    with pytest.raises(ConfigError, match=r"mqtt\.port"):
        MqttConfig.from_dict({"port": "1883"})
    cfg = MqttConfig.from_dict({"host": "broker.lan", "device_id": "shop-1", "ha_discovery": True})
    assert cfg.base_topic == "agegender/shop-1" and cfg.ha_discovery


def test_documented_topics_and_payloads_arrive(broker):
    sub = Subscriber(broker.port, "agegender/#", "homeassistant/#")
    cfg = MqttConfig(port=broker.port, host="127.0.0.1", device_id="test-dev", window_s=1, leave_after_s=0.5,
                     ha_discovery=True, qos=1)
    src = PausableSource(fps=20)
    p = fake_pipeline(src)
    sink = MqttSink(cfg, p.metrics, age_groups=["0-2", "25-32", "38-43"])
    p.sinks.append(sink)
    base = "agegender/test-dev"
    try:
        with running(p):
            wait_until(lambda: len(sub.json_on(f"{base}/events")) >= 2, 15)
            wait_until(lambda: any(s["visitors"] == 2 for s in sub.json_on(f"{base}/stats")), 15)
            time.sleep(1.0)                                      # they stay a while ...
            src.paused.set()                                     # ... then everyone leaves
            wait_until(lambda: sum(e["type"] == "left" for e in sub.json_on(f"{base}/events")) >= 2, 15)
    finally:
        sink.close()
    try:
        wait_until(lambda: [m[1] for m in sub.on(f"{base}/availability")][-1:] == ["offline"], 10)
        avail = [m[1] for m in sub.on(f"{base}/availability")]
        assert avail[0] == "online" and avail[-1] == "offline"

        events = sub.json_on(f"{base}/events")
        appeared = [e for e in events if e["type"] == "appeared"]
        left = [e for e in events if e["type"] == "left"]
        assert sorted((e["age_group"], e["gender"]) for e in appeared) == [("25-32", "female"), ("38-43", "male")]
        assert {e["track_id"] for e in appeared} == {e["track_id"] for e in left}
        for e in appeared:
            assert set(e) == {"type", "track_id", "time", "age", "age_group", "gender", "device"}
            assert e["device"] == "test-dev" and abs(e["time"] - time.time()) < 60
        for e in left:
            assert set(e) == {"type", "track_id", "time", "age", "age_group", "gender", "device", "dwell_s", "frames"}
            assert e["dwell_s"] > 0.9 and e["frames"] > 10, events

        stats = sub.json_on(f"{base}/stats")
        full = [s for s in stats if s["visitors"] == 2][0]
        assert set(full) == {"device", "window_start", "window_end", "window_s", "visitors", "by_age_group",
                             "by_gender", "by_group_gender", "present", "fps", "frames_processed", "frames_dropped",
                             "mqtt_dropped"}
        assert full["window_s"] == 1 and full["window_end"] - full["window_start"] == 1
        assert full["by_gender"] == {"female": 1, "male": 1, "undetermined": 0}
        assert full["by_age_group"] == {"0-2": 0, "25-32": 1, "38-43": 1}
        assert full["by_group_gender"] == {"25-32": {"female": 1}, "38-43": {"male": 1}}
        assert full["mqtt_dropped"] == 0

        disc = {m[0]: json.loads(m[1]) for m in sub.messages if m[0].startswith("homeassistant/")}
        node = "homeassistant/sensor/agegender_test-dev"
        assert set(disc) == {m.topic for m in discovery_messages(cfg, ["0-2", "25-32", "38-43"])}
        v = disc[f"{node}/visitors/config"]
        assert v["state_topic"] == f"{base}/stats" and v["value_template"] == "{{ value_json.visitors }}"
        assert v["availability_topic"] == f"{base}/availability" and v["unique_id"] == "agegender_test-dev_visitors"
        assert disc[f"{node}/age_25_32/config"]["value_template"] == \
            "{{ value_json.by_age_group['25-32'] | default(0) }}"
    finally:
        sub.close()
    # retained: a subscriber arriving later gets the last availability, stats and discovery at once
    late = Subscriber(broker.port, f"{base}/availability", f"{base}/stats", "homeassistant/#")
    try:
        wait_until(lambda: late.on(f"{base}/availability") and late.on(f"{base}/stats")
                   and len([m for m in late.messages if m[0].startswith("homeassistant/")]) == len(disc), 10)
        assert late.on(f"{base}/availability")[0][1:3] == ("offline", True)
        assert all(m[2] for m in late.messages)
    finally:
        late.close()


def test_last_will_announces_a_crash(broker, tmp_path):
    sub = Subscriber(broker.port, "agegender/crash-dev/availability")
    code = ("import sys, time; sys.path.insert(0, %r)\n"
            "from edge.service.mqtt_sink import MqttConfig, MqttSink\n"
            "MqttSink(MqttConfig(host='127.0.0.1', port=%d, device_id='crash-dev'))\n"
            "time.sleep(60)\n") % (str(ROOT), broker.port)
    proc = subprocess.Popen([sys.executable, "-c", code])
    try:
        wait_until(lambda: [m[1] for m in sub.on("agegender/crash-dev/availability")] == ["online"], 15)
        proc.send_signal(signal.SIGKILL)                    # no clean disconnect: the broker sends the will
        wait_until(lambda: [m[1] for m in sub.on("agegender/crash-dev/availability")] == ["online", "offline"], 15)
    finally:
        proc.kill()
        proc.wait()
        sub.close()


def test_broker_outage_never_stalls_the_pipeline(broker, tmp_path_factory):
    from edge.vision.analyzer import FaceAnalyzer
    from edge.vision.detectors import create_detector
    from edge.vision.model import AgeGenderModel
    from edge.live.pipeline import Pipeline, PipelineConfig
    from edge.live.sources import open_source

    model = tiny_tflite_model(tmp_path_factory)
    analyzer = FaceAnalyzer(create_detector("haar"), AgeGenderModel(model))
    cfg = MqttConfig(port=broker.port, host="127.0.0.1", device_id="fps-dev", window_s=1, queue_size=3,
                     reconnect_max_s=2, keepalive=5)
    sub = Subscriber(broker.port, "agegender/fps-dev/#")
    p = Pipeline(open_source("demo", loop=True, width=320, height=240, fps=30), analyzer, [], PipelineConfig())
    sink = MqttSink(cfg, p.metrics)
    write_times: list[float] = []

    class Timed:                          # how long the pipeline's output thread spends in the MQTT sink
        needs_image = False

        def write(self, result) -> None:
            t = time.perf_counter()
            sink.write(result)
            write_times.append(time.perf_counter() - t)

        def close(self) -> None:
            pass
    p.sinks.append(Timed())

    def fps_over(seconds: float) -> float:
        n0, t0 = p.metrics.frames_processed, time.monotonic()
        time.sleep(seconds)
        return (p.metrics.frames_processed - n0) / (time.monotonic() - t0)

    try:
        with running(p):
            wait_until(lambda: sink.connected and p.metrics.frames_processed > 10, 20)
            before = fps_over(4)
            broker.stop()
            wait_until(lambda: not sink.connected, 10)
            mark = len(write_times)
            during = fps_over(4)
            slowest_during = max(write_times[mark:])
            broker.start()
            wait_until(lambda: sink.connected, 15)
            after = fps_over(3)
            stats_after = wait_until(lambda: [s for s in sub.json_on("agegender/fps-dev/stats")
                                              if s["window_start"] > time.time() - 10 and s["mqtt_dropped"] > 0], 10)
    finally:
        sink.close()
        sub.close()
    print(f"processed FPS before {before:.1f}, broker down {during:.1f}, after restart {after:.1f}; "
          f"dropped {sink.dropped}; slowest MQTT write while down {1000 * slowest_during:.2f} ms")
    assert before > 3, f"pipeline too slow to measure ({before:.1f} FPS)"
    # a blocking publish would stall for seconds (connect timeouts); the bound leaves room for the
    # noise of a shared, loaded machine
    assert slowest_during < 0.25, f"the MQTT sink blocked the pipeline for {slowest_during:.3f} s"
    assert during > 0.5 * min(before, after), f"broker outage slowed the pipeline: {before:.1f} -> {during:.1f} FPS"
    assert sink.dropped >= 1 and stats_after[-1]["mqtt_dropped"] >= 1   # the outage overflowed the 3-message queue


def test_run_with_a_config_file_publishes(broker, tmp_path, tmp_path_factory):
    """`agegender run --config` with an [mqtt] section, end to end through the CLI."""
    from conftest import run_cli

    model = tiny_tflite_model(tmp_path_factory)
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[run]\nsource = "demo"\nmax_frames = 40\ndetector = "haar"\nmodel = "{model}"\n\n'
                   f'[mqtt]\nenabled = true\nhost = "127.0.0.1"\nport = {broker.port}\ndevice_id = "cli-dev"\n'
                   'window_s = 1\nha_discovery = true\n')
    sub = Subscriber(broker.port, "agegender/cli-dev/#", "homeassistant/sensor/agegender_cli-dev/#")
    try:
        r = run_cli("run", "--config", str(cfg), timeout=180)
        assert r.returncode == 0, r.stderr[-2000:]
        wait_until(lambda: [m[1] for m in sub.on("agegender/cli-dev/availability")][-1:] == ["offline"], 10)
        assert [m[1] for m in sub.on("agegender/cli-dev/availability")][0] == "online"
        appeared = [e for e in sub.json_on("agegender/cli-dev/events") if e["type"] == "appeared"]
        assert appeared and all(e["gender"] in ("female", "male", "undetermined") for e in appeared)
        assert any(m[0].endswith("/visitors/config") for m in sub.messages)
    finally:
        sub.close()
    bad = tmp_path / "bad.toml"
    bad.write_text("[mqtt]\nenabled = true\nqos = 5\n")
    r = run_cli("run", "--config", str(bad), "--max-frames", "1", timeout=60)
    assert r.returncode == 2 and "mqtt.qos" in r.stderr.strip().splitlines()[-1]
