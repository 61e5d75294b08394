"""The web dashboard and API against a real server on a free port: security defaults, /api/stats,
/metrics (Prometheus text), /healthz going 503 when frames stop, the MJPEG stream with a slow
client, and the page in a real headless Chromium."""
from __future__ import annotations

import json
import re
import socket
import time
import urllib.error
import urllib.request
from contextlib import contextmanager

import cv2
import numpy as np
import pytest

from edge.errors import ConfigError
from edge.service.http_server import HttpConfig, HttpSink, parse_http_spec
from edge.service.live_stats import TrackBook
from live_helpers import PausableSource, fake_pipeline, free_port, running, wait_until

TOKEN = "s3cret-token-for-tests-0123456789"


def get(url: str, headers: dict | None = None, timeout: float = 10.0):
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def start(source, **http) -> tuple:
    metrics_pipeline = fake_pipeline(source)
    cfg = HttpConfig(**{"port": 0, **http})
    sink = HttpSink(cfg, metrics_pipeline.metrics, TrackBook(windows=(60, 900, 3600), leave_after_s=1.0))
    metrics_pipeline.sinks.append(sink)
    return metrics_pipeline, sink


# ---------------------------------------------------------------------------- config and security
def test_config_errors_name_the_key():
    with pytest.raises(ConfigError, match=r"http\.port"):
        HttpConfig.from_dict({"port": "8080"})
    with pytest.raises(ConfigError, match=r"http\.port"):
        HttpConfig.from_dict({"port": 70000})
    with pytest.raises(ConfigError, match=r"http\.prot"):
        HttpConfig.from_dict({"prot": 8080})
    with pytest.raises(ConfigError, match=r"http\.windows"):
        HttpConfig.from_dict({"windows": [60, -5]})
    cfg = HttpConfig.from_dict({"port": 9000, "host": "0.0.0.0", "allow_remote": True, "windows": [30, 300]})
    assert (cfg.port, cfg.host, cfg.allow_remote, cfg.windows) == (9000, "0.0.0.0", True, [30, 300])


def test_parse_http_spec():
    assert parse_http_spec("8080") == (None, 8080)
    assert parse_http_spec(":8080") == (None, 8080)
    assert parse_http_spec("0.0.0.0:9000") == ("0.0.0.0", 9000)
    assert parse_http_spec("[::1]:9000") == ("::1", 9000)
    for bad in ("http", "1.2.3.4:", "99999", "host:port"):
        with pytest.raises(ConfigError, match="--http"):
            parse_http_spec(bad)


def test_non_loopback_needs_flag_and_token():
    HttpConfig(host="127.0.0.1").check_exposure()
    HttpConfig(host="::1").check_exposure()
    with pytest.raises(ConfigError, match="--http-bind-any"):
        HttpConfig(host="0.0.0.0").check_exposure()
    with pytest.raises(ConfigError, match="access token"):
        HttpConfig(host="0.0.0.0", allow_remote=True).check_exposure()
    with pytest.raises(ConfigError, match="too short"):
        HttpConfig(host="0.0.0.0", allow_remote=True, token="short").check_exposure()
    HttpConfig(host="0.0.0.0", allow_remote=True, token=TOKEN).check_exposure()


def test_serve_and_run_options_and_the_config_section(tmp_path, monkeypatch):
    from agegender.cli import make_parser
    from agegender.run_options import run_specs
    from edge.service.config import load_config
    from edge.service.live_outputs import http_config
    from edge.service.settings import RunSettings

    parser = make_parser()
    settings = lambda *argv: RunSettings.from_options(vars(parser.parse_args(list(argv))))  # noqa: E731
    monkeypatch.delenv("AGEGENDER_HTTP_TOKEN", raising=False)
    args = settings("serve", "demo", "--max-frames", "5")
    args.serve = True                                   # what cmd_serve sets
    cfg = http_config(args, HttpConfig())
    assert (cfg.host, cfg.port, cfg.token) == ("127.0.0.1", 8080, None) and args.max_frames == 5
    assert http_config(settings("run", "demo"), HttpConfig()) is None      # run: off by default
    cfg = http_config(settings("run", "demo", "--http", "9001", "--http-bind-any"), HttpConfig())
    assert (cfg.host, cfg.port, cfg.allow_remote) == ("0.0.0.0", 9001, True)
    monkeypatch.setenv("AGEGENDER_HTTP_TOKEN", TOKEN)
    cfg = http_config(settings("run", "--http", "10.0.0.5:9002", "--http-bind-any"), HttpConfig())
    assert (cfg.host, cfg.token) == ("10.0.0.5", TOKEN)
    cfg.check_exposure()
    # the [http] section of the config file goes through HttpConfig.from_dict
    f = tmp_path / "config.toml"
    f.write_text('[http]\nenabled = true\nport = 8181\nwindows = [60, 600]\n')
    app = load_config(f, run_specs(parser))
    assert app.section("http").port == 8181 and app.section("http").windows == [60, 600]
    assert http_config(settings("run"), app.section("http")).port == 8181
    f.write_text('[http]\nport = "eighty"\n')
    with pytest.raises(ConfigError, match=r"config.toml: http\.port: expected an integer"):
        load_config(f, run_specs(parser))


def test_cli_refuses_remote_bind_in_one_line(tmp_path):
    from conftest import run_cli

    port = free_port()
    r = run_cli("run", "demo", "--max-frames", "3", "--http", f"0.0.0.0:{port}", timeout=120,
                env_extra={"AGEGENDER_HTTP_TOKEN": ""})
    assert r.returncode == 2
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("agegender: error:") and "http" in last
    # it is refused before or instead of serving: nothing listens on the port
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0


def test_token_required_when_bound_beyond_loopback():
    p, sink = start(PausableSource(), host="0.0.0.0", allow_remote=True, token=TOKEN)
    base = f"http://127.0.0.1:{sink.port}"
    with running(p):
        wait_until(lambda: p.metrics.frames_processed > 3)
        for path in ("/", "/api/stats", "/metrics", "/stream.mjpg", "/snapshot.jpg"):
            status, headers, _ = get(base + path)
            assert status == 401, path
            assert headers.get("WWW-Authenticate", "").startswith("Bearer")
        assert get(base + "/api/stats", {"Authorization": "Bearer wrong-token-of-some-length"})[0] == 401
        assert get(base + "/api/stats?token=" + TOKEN[:-1])[0] == 401
        assert get(base + "/api/stats", {"Authorization": "Bearer " + TOKEN})[0] == 200
        assert get(base + "/api/stats?token=" + TOKEN)[0] == 200
        assert get(base + "/healthz")[0] == 200          # health probes need no token


def test_loopback_default_needs_no_token_and_busy_port_is_a_clear_error():
    p, sink = start(PausableSource())
    try:
        assert sink.host == "127.0.0.1"
        from edge.errors import AgeGenderError

        with pytest.raises(AgeGenderError, match=f"cannot serve the dashboard on 127.0.0.1:{sink.port}"):
            HttpSink(HttpConfig(port=sink.port), p.metrics)
    finally:
        sink.close()


# ---------------------------------------------------------------------------- the endpoints
def test_stats_metrics_and_health():
    src = PausableSource(fps=25)
    p, sink = start(src, stale_after_s=0.6)
    base = sink.url.rstrip("/")
    with running(p):
        wait_until(lambda: p.metrics.frames_processed > 15)
        status, headers, body = get(base + "/api/stats")
        assert status == 200 and headers["Content-Type"] == "application/json"
        s = json.loads(body)
        assert sorted((f["track_id"], f["age_group"], f["gender"]) for f in s["faces"])[0][1:] == ("25-32", "female")
        assert {f["gender"] for f in s["faces"]} == {"female", "male"}
        assert all(isinstance(f["track_id"], int) and f["age"] > 0 for f in s["faces"])
        assert [w["seconds"] for w in s["windows"]] == [60, 900, 3600]
        one_min = s["windows"][0]
        assert one_min["visitors"] == 2            # unique track ids, not face sightings
        assert one_min["by_gender"] == {"female": 1, "male": 1, "undetermined": 0}
        assert one_min["by_age_group"]["25-32"] == 1 and one_min["by_age_group"]["38-43"] == 1
        assert 5 < s["fps"] < 40 and s["camera"]["alive"] and s["frame"] > 10

        status, headers, body = get(base + "/metrics")
        assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = body.decode()
        check_prometheus_text(text)
        assert re.search(r'^agegender_visitors\{window="60s",age_group="all",gender="all"\} 2$', text, re.M)
        assert re.search(r'^agegender_visitors\{window="60s",age_group="25-32",gender="female"\} 1$', text, re.M)
        assert re.search(r"^agegender_frames_processed_total \d+$", text, re.M)
        assert re.search(r'^agegender_stage_latency_seconds_bucket\{stage="detect",le="\+Inf"\} \d+$', text, re.M)

        assert get(base + "/healthz")[0] == 200
        src.paused.set()                           # the camera stops delivering frames
        status, _, body = wait_until(lambda: (lambda r: r if r[0] == 503 else None)(get(base + "/healthz")), 10)
        h = json.loads(body)
        assert h["alive"] is False and h["status"] == "stale" and h["last_frame_age_s"] >= 0.6
        assert json.loads(get(base + "/api/stats")[2])["camera"]["alive"] is False
        src.paused.clear()                         # and comes back
        wait_until(lambda: get(base + "/healthz")[0] == 200, 10)
        assert get(base + "/nope")[0] == 404


def check_prometheus_text(text: str) -> None:
    """Every line is a comment or a sample in the text format; histograms are cumulative and
    consistent; and prometheus_client's parser (where installed) reads it all."""
    sample = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\.)*",?)*\})? '
                        r'(-?[0-9.]+(e[+-]?[0-9]+)?|NaN|[+-]Inf)$')
    types = {}
    for line in text.rstrip("\n").split("\n"):
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("counter", "gauge", "histogram"), line
            assert name not in types, f"duplicate TYPE for {name}"
            types[name] = kind
            continue
        assert sample.match(line), f"not a Prometheus sample line: {line!r}"
    assert types["agegender_stage_latency_seconds"] == "histogram"
    buckets: dict[str, list[tuple[float, float]]] = {}
    counts = {}
    for m in re.finditer(r'^agegender_stage_latency_seconds_bucket\{stage="(\w+)",le="([^"]+)"\} (\d+)$', text, re.M):
        buckets.setdefault(m.group(1), []).append((float(m.group(2)), float(m.group(3))))
    for m in re.finditer(r'^agegender_stage_latency_seconds_count\{stage="(\w+)"\} (\d+)$', text, re.M):
        counts[m.group(1)] = float(m.group(2))
    assert {"detect", "process", "end_to_end"} <= set(buckets)
    for stage, bs in buckets.items():
        les = [le for le, _ in bs]
        assert les == sorted(les) and les[-1] == float("inf")
        values = [v for _, v in bs]
        assert values == sorted(values), f"{stage} buckets are not cumulative"
        assert values[-1] == counts[stage] > 0
    try:
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError:
        return
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["agegender_stage_latency_seconds"].type == "histogram"
    assert families["agegender_frames_processed"].type == "counter"
    assert families["agegender_fps"].type == "gauge"


def read_mjpeg_parts(url: str, n: int, timeout: float = 10.0) -> list[bytes]:
    parts = []
    with urllib.request.urlopen(url, timeout=timeout) as r:
        assert r.headers["Content-Type"] == "multipart/x-mixed-replace; boundary=frame"
        buf = b""
        while len(parts) < n:
            chunk = r.read1(65536)
            assert chunk, "stream ended"
            buf += chunk
            while True:
                head_end = buf.find(b"\r\n\r\n")
                if not buf.startswith(b"--frame\r\n") or head_end < 0:
                    break
                length = int(re.search(rb"Content-Length: (\d+)", buf[:head_end]).group(1))
                if len(buf) < head_end + 4 + length + 2:
                    break
                parts.append(buf[head_end + 4:head_end + 4 + length])
                buf = buf[head_end + 4 + length + 2:]
    return parts


def test_mjpeg_stream_and_slow_client_never_stalls_the_pipeline():
    fps = 20
    p, sink = start(PausableSource(fps=fps), max_clients=2, stream_fps=30)
    base = sink.url.rstrip("/")
    with running(p):
        wait_until(lambda: p.metrics.frames_processed > 3)
        parts = read_mjpeg_parts(base + "/stream.mjpg", 4)
        images = [cv2.imdecode(np.frombuffer(b, np.uint8), cv2.IMREAD_COLOR) for b in parts]
        assert all(im is not None and im.shape == (240, 320, 3) for im in images)
        assert any(np.abs(images[0].astype(int) - im.astype(int)).mean() > 0.5 for im in images[1:]), \
            "stream frames do not change"
        status, headers, body = get(base + "/snapshot.jpg")
        assert status == 200 and headers["Content-Type"] == "image/jpeg" and body[:2] == b"\xff\xd8"

        # a client that connects and never reads: the pipeline keeps its frame rate
        slow = socket.create_connection(("127.0.0.1", sink.port))
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.sendall(b"GET /stream.mjpg HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            wait_until(lambda: sink.frames.clients == 1, 5)
            n0, t0 = p.metrics.frames_processed, time.monotonic()
            time.sleep(3.0)
            rate = (p.metrics.frames_processed - n0) / (time.monotonic() - t0)
            assert rate > 0.6 * fps, f"pipeline slowed to {rate:.1f} FPS with a stalled stream client"
            # the second slot is still free; a third viewer is turned away
            with urllib.request.urlopen(base + "/stream.mjpg", timeout=5):
                assert get(base + "/stream.mjpg")[0] == 503
        finally:
            slow.close()


# ---------------------------------------------------------------------------- a real browser
@contextmanager
def chromium_page(binary: str, tmp_path, width: int, height: int):
    """Headless Chromium with a fresh profile, closed afterwards."""
    from headless_chromium import HeadlessChromium

    profile = tmp_path / "profile"
    profile.mkdir()
    browser = HeadlessChromium(binary, profile, width=width, height=height)
    try:
        yield browser
    finally:
        browser.close()


def test_dashboard_in_headless_chromium(tmp_path):
    from headless_chromium import find_chromium

    binary = find_chromium()
    if binary is None:
        pytest.skip("no chromium binary (Debian: apt-get install chromium)")
    p, sink = start(PausableSource(fps=15), host="0.0.0.0", allow_remote=True, token=TOKEN)
    with running(p), chromium_page(binary, tmp_path, 1280, 800) as browser:
        browser.navigate(f"http://127.0.0.1:{sink.port}/?token={TOKEN}")
        # the stream loads (the token was passed on to it) ...
        browser.wait_for("document.getElementById('stream').naturalWidth === 320", 30)
        # ... and keeps updating: the pixels drawn from the <img> change over time
        digest = """(() => { const img = document.getElementById('stream');
            const c = document.createElement('canvas'); c.width = img.naturalWidth; c.height = img.naturalHeight;
            const g = c.getContext('2d'); g.drawImage(img, 0, 0);
            const d = g.getImageData(0, 0, c.width, c.height).data; let h = 0;
            for (let i = 0; i < d.length; i += 97) h = (h * 31 + d[i]) >>> 0; return h; })()"""
        first, parts = browser.evaluate(digest), sink.stream_parts_sent
        browser.wait_for(f"({digest}) !== {first}", 20)
        wait_until(lambda: sink.stream_parts_sent > parts + 3, 10)   # and the server keeps sending frames
        # the stats are rendered into the DOM
        browser.wait_for("document.querySelectorAll('#faces tbody tr').length === 2", 20)
        frame1 = int(browser.evaluate("document.getElementById('frame').textContent"))
        browser.wait_for(f"parseInt(document.getElementById('frame').textContent) > {frame1}", 10)
        heads = browser.evaluate("[...document.querySelectorAll('#windows h2')].map(e => e.textContent)")
        assert heads == ["Last 1 min: 2 visitors", "Last 15 min: 2 visitors", "Last 1 h: 2 visitors"]
        text = browser.evaluate("document.body.textContent")
        assert "female" in text and "male" in text and "25-32" in text
        assert float(browser.evaluate("document.getElementById('fps').textContent")) > 1
        assert browser.evaluate("document.getElementById('camera').textContent") == "live"
        assert browser.evaluate("document.getElementById('error').textContent") == ""
        shot = browser.screenshot(full_page=False)
        (tmp_path / "dashboard.png").write_bytes(shot)
        img = cv2.imdecode(np.frombuffer(shot, np.uint8), cv2.IMREAD_COLOR)
        assert img is not None and img.std() > 10


def test_kiosk_shows_an_age_check_banner_per_person_in_a_real_browser(tmp_path, monkeypatch):
    """With --age-gate, the kiosk view (/?kiosk=1) shows a green "OK" or an amber "Please show ID" banner per
    person and no age number; checked on a screenshot of headless Chromium."""
    from headless_chromium import find_chromium
    from live_helpers import FakeAnalyzer

    from edge.age_gate import GateSettings
    from edge.types import Prediction

    binary = find_chromium()
    if binary is None:
        pytest.skip("no chromium binary (Debian: apt-get install chromium)")

    def dist_at(age):
        d = np.exp(-0.5 * ((np.arange(101) - age) / 2.5) ** 2)
        return (d / d.sum()).astype(np.float32)

    def classify(self, image, dets, times=None):     # left: a 15-year-old, right: a 45-year-old
        ages = [45.0 if d.box[0] > image.shape[1] / 2 else 15.0 for d in dets]
        return [Prediction(a, (a - 4, a + 4), "15-20" if a < 20 else "38-43", 0.2, "male", age_dist=dist_at(a))
                for a in ages]

    monkeypatch.setattr(FakeAnalyzer, "classify", classify)
    p, sink = start(PausableSource(fps=15))
    p.config.gate = GateSettings(25, looks=4)
    contract = p.analyzer.model.contract
    contract.age_check = {"legal_age": 18, "temperature": 1.0, "risk": {"25": 0.05}}
    from edge.age_gate import AgeGate, TrackGates

    p.gates = TrackGates(AgeGate(p.config.gate, contract))
    with running(p), chromium_page(binary, tmp_path, 1280, 720) as browser:
        browser.navigate(f"http://127.0.0.1:{sink.port}/?kiosk=1")
        browser.wait_for("[...document.querySelectorAll('#checks .banner')].filter(b => !b.classList.contains("
                         "'pending')).length === 2", 30)
        banners = browser.evaluate("[...document.querySelectorAll('#checks .banner')].map(b => [b.className, "
                                   "b.firstChild.textContent, getComputedStyle(b).backgroundColor])")
        kinds = sorted((cls.split()[1], text, colour) for cls, text, colour in banners)
        assert kinds == [("adult", "OK", "rgb(30, 123, 52)"), ("ask_id", "Please show ID", "rgb(232, 163, 23)")]
        # no age number in the kiosk view
        assert browser.evaluate("getComputedStyle(document.querySelector('th.age')).display") == "none"
        assert "age checks: 1 adult · 1 asked for ID" in browser.evaluate("document.body.textContent")
        shot = browser.screenshot(full_page=False)
        (tmp_path / "kiosk_age_check.png").write_bytes(shot)
        img = cv2.imdecode(np.frombuffer(shot, np.uint8), cv2.IMREAD_COLOR)
        green = np.all(np.abs(img.astype(int) - (52, 123, 30)) < 4, axis=2).sum()
        amber = np.all(np.abs(img.astype(int) - (23, 163, 232)) < 4, axis=2).sum()
        assert green > 2000 and amber > 2000          # both banners are really painted
