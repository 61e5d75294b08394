"""The systemd watchdog policy: READY=1 on the first processed frame, WATCHDOG=1 only while frames flow.

It is a sink (it sees every frame that reaches the output path) plus a small thread that decides,
every half ``WatchdogSec=``, whether to ping:

- a frame reached the outputs within ``stall_s``: ping (healthy);
- no frame for longer, but the source is not delivering frames either (camera unplugged, stream
  down, the source reconnecting): keep pinging for ``grace_s`` after the last frame, so that a
  short outage does not restart the service; after that stop, and systemd restarts it;
- frames are being captured but none reaches the outputs for ``stall_s``: processing is stuck;
  stop pinging at once.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Optional

from edge.service.config import ConfigSection
from edge.service.sdnotify import Notifier, watchdog_interval

log = logging.getLogger(__name__)


def _positive(v: float) -> Optional[str]:
    return None if v > 0 else "must be greater than 0"


@dataclass
class WatchdogConfig(ConfigSection):
    """systemd watchdog: how long a camera outage may last before the service is restarted."""

    SECTION: ClassVar[str] = "watchdog"

    grace_s: float = field(default=60.0, metadata={
        "check": _positive, "help": "keep the watchdog fed this long after the last frame while the camera reconnects"})
    stall_s: float = field(default=10.0, metadata={
        "check": _positive, "help": "frames captured but none processed for this long: stuck, stop feeding the watchdog"})
    status_every_s: float = field(default=30.0, metadata={
        "check": _positive, "help": "how often STATUS= (FPS, faces) is sent to systemd"})


class ServiceWatchdog:
    """A sink: ``write`` records each processed frame; a thread sends READY/WATCHDOG/STATUS."""

    needs_image = False

    def __init__(self, notifier: Notifier, metrics: Any, config: Optional[WatchdogConfig] = None,
                 interval: Optional[float] = None, clock: Callable[[], float] = time.monotonic):
        self.notifier, self.metrics = notifier, metrics
        self.config = config or WatchdogConfig()
        self.interval = interval                    # None: no WatchdogSec=, only READY and STATUS
        self.clock = clock
        self.ready = False
        self.last_frame_at: Optional[float] = None
        self.state = "starting"
        self.pings = 0
        self._captured = (0, clock())               # (frames_captured, when it last changed)
        self._status_at = 0.0
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    @classmethod
    def from_env(cls, metrics: Any, config: Optional[WatchdogConfig] = None) -> Optional["ServiceWatchdog"]:
        """A watchdog when running under systemd (NOTIFY_SOCKET set), else None."""
        notifier = Notifier()
        if not notifier.enabled:
            return None
        return cls(notifier, metrics, config, watchdog_interval())

    # ------------------------------------------------------------------ sink
    def write(self, result: Any) -> None:
        self.last_frame_at = self.clock()
        if not self.ready:
            self.ready = True
            self.state = "ok"
            self.notifier.send("READY=1", f"STATUS=processing {getattr(result.frame, 'source', '')}".rstrip())
            log.info("systemd: ready (first frame processed)")
            if self.interval:
                self._ping()

    def close(self) -> None:
        self.stop()
        self.notifier.send("STOPPING=1", "STATUS=stopping")
        self.notifier.close()

    # ------------------------------------------------------------------ policy
    def decide(self) -> str:
        """ok | outage (grace) | expired | stuck | starting. Ping on ok and outage."""
        now = self.clock()
        if not self.ready or self.last_frame_at is None:
            return "starting"
        captured = int(getattr(self.metrics, "frames_captured", 0))
        if captured != self._captured[0]:
            self._captured = (captured, now)
        since_frame = now - self.last_frame_at
        if since_frame <= self.config.stall_s:
            return "ok"
        capturing = now - self._captured[1] <= self.config.stall_s
        if capturing:
            return "stuck"
        return "outage" if since_frame <= self.config.grace_s else "expired"

    def tick(self) -> str:
        state = self.decide()
        if state != self.state:
            self._log_change(state)
            self.state = state
        if self.interval and state in ("ok", "outage"):
            self._ping()
        now = self.clock()
        if state == "ok" and now - self._status_at >= self.config.status_every_s:
            self._status_at = now
            self.notifier.send(f"STATUS={self._status_line()}")
        return state

    def _ping(self) -> None:
        if self.notifier.send("WATCHDOG=1"):
            self.pings += 1

    def _status_line(self) -> str:
        snap = self.metrics.snapshot() if hasattr(self.metrics, "snapshot") else {}
        return (f"processing: {snap.get('processed_fps', 0):.1f} FPS, {snap.get('frames_processed', 0)} frames, "
                f"{snap.get('reconnects', 0)} reconnects")

    def _log_change(self, state: str) -> None:
        since = self.clock() - (self.last_frame_at or self.clock())
        if state == "outage":
            msg = f"no frame for {since:.1f} s (camera reconnecting); watchdog held for up to {self.config.grace_s:g} s"
            log.warning("systemd: %s", msg)
        elif state == "expired":
            msg = f"no frame for {since:.0f} s: watchdog no longer fed, systemd will restart the service"
            log.error("systemd: %s", msg)
        elif state == "stuck":
            msg = f"frames captured but none processed for {since:.1f} s: watchdog no longer fed"
            log.error("systemd: %s", msg)
        elif state == "ok":
            msg = "frames flowing again"
            if self.state != "starting":
                log.warning("systemd: %s", msg)
        else:
            return
        self.notifier.send(f"STATUS={msg}")

    # ------------------------------------------------------------------ thread
    def start(self) -> None:
        period = self.interval or self.config.status_every_s
        self._thread = threading.Thread(target=self._loop, args=(period,), name="watchdog", daemon=True)
        self._thread.start()

    def _loop(self, period: float) -> None:
        while not self._stop.wait(period):
            try:
                self.tick()
            except Exception as e:  # noqa: BLE001 - the watchdog thread must not die silently
                log.error("watchdog tick failed: %s", e)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2)
