"""The web dashboard and API: a pipeline sink that serves, with the standard library's
``ThreadingHTTPServer``,

- ``/``             a self-contained page: live annotated stream, FPS and counts (edge.service.dashboard_page);
- ``/stream.mjpg``  multipart MJPEG of the annotated frames;
- ``/snapshot.jpg`` the latest annotated frame;
- ``/api/stats``    JSON: faces in view, visitors per age group and gender over rolling windows;
- ``/metrics``      Prometheus text (edge.service.prometheus);
- ``/healthz``      camera alive and the last frame's age; HTTP 503 when frames have stopped.

Each frame is JPEG-encoded at most once (only while someone watches, at most ``stream_fps`` per
second) and the latest JPEG is shared by all clients; each client has its own thread that always
sends the newest frame, so a slow client skips frames and never holds up the pipeline.

Security: binds 127.0.0.1 by default. Any other address needs ``allow_remote`` (``--http-bind-any``)
and an access token (``--http-token`` or ``$AGEGENDER_HTTP_TOKEN``), checked in constant time from
``Authorization: Bearer <token>`` or ``?token=<token>`` on every path except ``/healthz``.
"""
from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, ClassVar, Optional
from urllib.parse import parse_qs, urlsplit

from edge.service.config import ConfigSection, in_range
from edge.errors import AgeGenderError, ConfigError
from edge.service.live_stats import DEFAULT_WINDOWS, RateMeter, TrackBook
from edge.live.metrics import RunMetrics

log = logging.getLogger(__name__)

TOKEN_ENV = "AGEGENDER_HTTP_TOKEN"
MIN_TOKEN_LENGTH = 16


def _windows_ok(v: Any) -> Optional[str]:
    if not v or not all(isinstance(x, int) and not isinstance(x, bool) and x > 0 for x in v):
        return "must be a non-empty list of positive whole seconds, e.g. [60, 900, 3600]"
    return None


@dataclass
class HttpConfig(ConfigSection):
    """Web dashboard and API (`agegender serve`, `run --http`): binds 127.0.0.1 unless allow_remote."""

    SECTION: ClassVar[str] = "http"

    enabled: bool = field(default=False, metadata={"help": "serve the dashboard on every run (like --http)"})
    host: str = field(default="127.0.0.1", metadata={
        "help": "address to bind; anything but loopback needs allow_remote = true and a token"})
    port: int = field(default=8080, metadata={"check": in_range(0, 65535), "help": "TCP port (0: any free port)"})
    allow_remote: bool = field(default=False, metadata={
        "help": "allow a non-loopback host (--http-bind-any); requires a token"})
    token: Optional[str] = field(default=None, metadata={
        "help": f"access token (at least {MIN_TOKEN_LENGTH} characters); prefer ${TOKEN_ENV} to keeping it here"})
    jpeg_quality: int = field(default=80, metadata={"check": in_range(10, 100), "help": "JPEG quality of the stream"})
    stream_fps: float = field(default=15.0, metadata={
        "check": in_range(0.5, 120), "help": "at most this many JPEG frames per second are encoded"})
    max_clients: int = field(default=4, metadata={"check": in_range(1, 64), "help": "simultaneous stream viewers"})
    stale_after_s: float = field(default=5.0, metadata={
        "check": in_range(0.1), "help": "/healthz answers 503 when no frame was processed for this long"})
    windows: list = field(default_factory=lambda: list(DEFAULT_WINDOWS), metadata={
        "check": _windows_ok, "help": "rolling windows (seconds) for the visitor counts"})
    leave_after_s: float = field(default=3.0, metadata={"check": in_range(0), "help": "a track unseen this long has left"})

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    def check_exposure(self) -> None:
        """Refuse to serve beyond this machine without an explicit opt-in and a token."""
        if self.token is not None and len(self.token) < MIN_TOKEN_LENGTH:
            raise ConfigError(f"http.token: too short ({len(self.token)} characters; need {MIN_TOKEN_LENGTH}+, e.g. "
                              "python3 -c 'import secrets; print(secrets.token_urlsafe(24))')")
        if self.loopback:
            return
        if not self.allow_remote:
            raise ConfigError(f"http.host {self.host}: refusing to serve beyond this machine without "
                              f"--http-bind-any (http.allow_remote = true) and an access token")
        if not self.token:
            raise ConfigError(f"http.host {self.host}: binding a non-loopback address needs an access token "
                              f"(${TOKEN_ENV}, --http-token or http.token)")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def parse_http_spec(spec: str) -> tuple[Optional[str], int]:
    """``8080``, ``:8080``, ``0.0.0.0:8080`` or ``[::1]:8080`` -> (host or None, port)."""
    text = str(spec).strip()
    host: Optional[str] = None
    port_text = text
    if text.startswith("["):
        end = text.find("]")
        if end > 0 and text[end + 1:end + 2] == ":":
            host, port_text = text[1:end], text[end + 2:]
    elif ":" in text:
        host, port_text = text.rsplit(":", 1)
        host = host or None
    try:
        port = int(port_text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise ConfigError(f"--http expects [HOST:]PORT such as 8080 or 0.0.0.0:8080, not {spec!r}")
    return host, port


# ---------------------------------------------------------------------------- shared latest JPEG
class FrameStore:
    """The newest encoded frame, shared by every stream client."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.jpeg: Optional[bytes] = None
        self.seq = 0
        self.clients = 0
        self.wanted_until = 0.0          # monotonic: someone asked for a snapshot recently
        self.closed = False

    def wanted(self) -> bool:
        return self.clients > 0 or time.monotonic() < self.wanted_until

    def publish(self, jpeg: bytes) -> None:
        with self._cond:
            self.jpeg, self.seq = jpeg, self.seq + 1
            self._cond.notify_all()

    def wait_newer(self, seq: int, timeout: float) -> Optional[tuple[int, bytes]]:
        with self._cond:
            if self.seq <= seq and not self.closed:
                self._cond.wait(timeout)
            if self.seq > seq and self.jpeg is not None:
                return self.seq, self.jpeg
            return None

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()


# ---------------------------------------------------------------------------- the sink
class HttpSink:
    """Pipeline sink + HTTP server. Binds in the constructor, so a busy port fails at start."""

    needs_image = True

    def __init__(self, config: HttpConfig, metrics: RunMetrics, book: Optional[TrackBook] = None,
                 source_status: Optional[Callable[[], dict]] = None):
        config.check_exposure()
        self.config, self.metrics = config, metrics
        self.book = book or TrackBook(windows=tuple(config.windows), leave_after_s=config.leave_after_s)
        self.source_status = source_status
        self.frames = FrameStore()
        self.rate = RateMeter()
        self.last_frame_index = -1
        self.stream_parts_sent = 0
        self._last_encode = 0.0
        self._closing = threading.Event()
        self._lock = threading.Lock()
        self._server = _make_server(config.host, config.port, self)
        self.host, self.port = self._server.server_address[:2]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.5},
                                        name="http", daemon=True)
        self._thread.start()
        log.info("dashboard on %s%s", self.url, "" if config.loopback else " (token required)")

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in str(self.host) else self.host
        return f"http://{host}:{self.port}/"

    # ---------------------------------------------------------------- Sink
    def write(self, result: Any) -> None:
        self.book.update(result.faces)
        self.rate.mark(self.metrics.frames_processed)
        self.last_frame_index = result.frame.index
        if result.annotated is None or not self.frames.wanted():
            return
        now = time.monotonic()
        if now - self._last_encode < 1.0 / self.config.stream_fps:
            return
        import cv2

        ok, buf = cv2.imencode(".jpg", result.annotated, [cv2.IMWRITE_JPEG_QUALITY, self.config.jpeg_quality])
        if ok:
            self._last_encode = now
            self.frames.publish(buf.tobytes())

    def close(self) -> None:
        if self._closing.is_set():
            return
        self._closing.set()
        self.frames.close()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # ---------------------------------------------------------------- data for the handlers
    def camera_state(self) -> dict[str, Any]:
        last = self.metrics.last_frame_at
        age = None if last is None else max(time.monotonic() - last, 0.0)
        alive = age is not None and age <= self.config.stale_after_s
        state: dict[str, Any] = {"alive": alive, "last_frame_age_s": None if age is None else round(age, 3),
                                 "status": "ok" if alive else ("starting" if last is None else "stale")}
        src = self.source_status() if self.source_status else {}
        state["reconnects"] = int(src.get("reconnects", self.metrics.reconnects))
        state["stalls"] = int(src.get("stalls", self.metrics.stalls))
        if "connected" in src:
            state["connected"] = bool(src["connected"])
        return state

    def stats(self) -> dict[str, Any]:
        snap = self.metrics.snapshot()
        return {"time": round(time.time(), 3), "uptime_s": snap["elapsed_s"], "fps": round(self.rate.rate(), 2),
                "frame": self.last_frame_index, "present": self.book.present(), "faces": self.book.current_faces(),
                "windows": [self.book.counts(w).to_json() for w in self.book.windows],
                "camera": self.camera_state(),
                "metrics": {k: snap[k] for k in ("frames_captured", "frames_processed", "frames_dropped",
                                                 "outputs_dropped", "faces_total", "frame_errors")}}

    def metrics_text(self) -> str:
        from edge.service.prometheus import render

        cam = self.camera_state()
        return render(self.metrics, self.rate.rate(), self.book, camera_alive=cam["alive"],
                      last_frame_age_s=cam["last_frame_age_s"], reconnects=cam["reconnects"], stalls=cam["stalls"])

    def authorized(self, headers: Any, query: dict[str, list[str]]) -> bool:
        expected = self.config.token
        if not expected:
            return True
        given = ""
        auth = headers.get("Authorization", "")
        if auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        elif query.get("token"):
            given = query["token"][0]
        return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


# ---------------------------------------------------------------------------- HTTP plumbing
class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    sink: HttpSink


def _make_server(host: str, port: int, sink: HttpSink) -> _Server:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    cls = type("_BoundServer", (_Server,), {"address_family": family})
    try:
        server = cls((host, port), _Handler)
    except OSError as e:
        raise AgeGenderError(f"cannot serve the dashboard on {host}:{port} ({e.strerror or e})") from e
    server.sink = sink
    return server


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "agegender"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt: str, *args: Any) -> None:   # access log without query strings (tokens)
        log.debug("%s %s %s", self.address_string(), self.command, urlsplit(getattr(self, "path", "")).path)

    def _send(self, status: int, body: bytes, ctype: str, extra: Optional[dict] = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, obj: Any) -> None:
        self._send(status, json.dumps(obj).encode(), "application/json")

    def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802
        sink = self.server.sink
        parts = urlsplit(self.path)
        path, query = parts.path, parse_qs(parts.query)
        if path == "/healthz":
            cam = sink.camera_state()
            self._json(200 if cam["alive"] else 503, cam)
            return
        if not sink.authorized(self.headers, query):
            self._send(401, b"unauthorized: send Authorization: Bearer <token> or ?token=<token>\n",
                       "text/plain; charset=utf-8", {"WWW-Authenticate": 'Bearer realm="agegender"'})
            return
        try:
            if path in ("/", "/index.html"):
                from edge.service.dashboard_page import PAGE

                self._send(200, PAGE.encode("utf-8"), "text/html; charset=utf-8",
                           {"Content-Security-Policy": "default-src 'self'; style-src 'unsafe-inline'; "
                                                       "script-src 'unsafe-inline'; img-src 'self'"})
            elif path == "/api/stats":
                self._json(200, sink.stats())
            elif path == "/metrics":
                from edge.service.prometheus import CONTENT_TYPE

                self._send(200, sink.metrics_text().encode("utf-8"), CONTENT_TYPE)
            elif path == "/snapshot.jpg":
                self._snapshot(sink)
            elif path == "/stream.mjpg":
                self._stream(sink)
            else:
                self._send(404, b"not found\n", "text/plain; charset=utf-8")
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            pass   # the client went away

    def _snapshot(self, sink: HttpSink) -> None:
        sink.frames.wanted_until = time.monotonic() + 10.0
        # a fresh frame if one comes within a second (the last one may be old when nobody watched)
        got = sink.frames.wait_newer(sink.frames.seq, 1.0) or sink.frames.wait_newer(0, 2.0)
        if got is None:
            self._send(503, b"no frame yet\n", "text/plain; charset=utf-8", {"Retry-After": "1"})
            return
        self._send(200, got[1], "image/jpeg")

    def _stream(self, sink: HttpSink) -> None:
        frames = sink.frames
        with sink._lock:
            if frames.clients >= sink.config.max_clients:
                busy = True
            else:
                busy = False
                frames.clients += 1
        if busy:
            self._send(503, b"too many stream viewers\n", "text/plain; charset=utf-8", {"Retry-After": "5"})
            return
        try:
            self.connection.settimeout(10.0)      # a client that stops reading is dropped, never waited for
            self.send_response(200)
            self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            if self.command == "HEAD":
                return
            seq = 0
            while not sink._closing.is_set():
                got = frames.wait_newer(seq, 1.0)
                if got is None:
                    continue
                seq, jpeg = got
                self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                                 + str(len(jpeg)).encode() + b"\r\n\r\n" + jpeg + b"\r\n")
                self.wfile.flush()
                with sink._lock:
                    sink.stream_parts_sent += 1
        finally:
            with sink._lock:
                frames.clients -= 1
