"""The systemd notification protocol (sd_notify), spoken directly: no dependency.

systemd passes ``NOTIFY_SOCKET`` (a filesystem path, or ``@name`` for the abstract namespace)
to a ``Type=notify`` service, and ``WATCHDOG_USEC`` (+ ``WATCHDOG_PID``) when ``WatchdogSec=`` is set.
A message is one datagram of newline-separated ``KEY=VALUE`` lines: ``READY=1``, ``WATCHDOG=1``,
``STATUS=...``, ``STOPPING=1``, ``RELOADING=1``. See sd_notify(3).
"""
from __future__ import annotations

import logging
import os
import socket
import threading
from typing import Mapping, Optional

log = logging.getLogger(__name__)


def socket_address(value: str) -> Optional[str]:
    """``NOTIFY_SOCKET`` -> an AF_UNIX address (``@name`` -> ``\\0name``); None if unusable."""
    if not value:
        return None
    if value[0] == "@":
        return "\0" + value[1:]
    if value[0] == "/":
        return value
    return None            # e.g. vsock:... (VMs): not spoken here


def watchdog_interval(env: Optional[Mapping[str, str]] = None) -> Optional[float]:
    """Seconds between WATCHDOG=1 pings (half of WatchdogSec=), or None when no watchdog is asked for."""
    env = os.environ if env is None else env
    usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) <= 0:
        return None
    if pid and pid.isdigit() and int(pid) != os.getpid():
        return None            # meant for another process (e.g. our parent)
    return int(usec) / 2e6


class Notifier:
    """Sends notifications to the service manager; a no-op outside systemd. Thread-safe; a failing
    socket is logged once and never raises."""

    def __init__(self, env: Optional[Mapping[str, str]] = None):
        env = os.environ if env is None else env
        raw = env.get("NOTIFY_SOCKET", "")
        self.address = socket_address(raw)
        if raw and self.address is None:
            log.warning("NOTIFY_SOCKET=%s is not an AF_UNIX socket: systemd notifications are off", raw)
        self._lock = threading.Lock()
        self._sock: Optional[socket.socket] = None
        self._warned = False
        self.sent = 0

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *lines: str) -> bool:
        """Send ``KEY=VALUE`` lines as one datagram; True if it was delivered to the socket."""
        if self.address is None:
            return False
        payload = "\n".join(line.replace("\n", " ") for line in lines).encode("utf-8")
        with self._lock:
            try:
                if self._sock is None:
                    self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._sock.sendto(payload, self.address)
            except OSError as e:
                if not self._warned:
                    log.warning("cannot notify systemd through %s: %s", self.address.replace("\0", "@"), e)
                    self._warned = True
                self._close_locked()
                return False
            self.sent += 1
            return True

    def _close_locked(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    def close(self) -> None:
        with self._lock:
            self._close_locked()
