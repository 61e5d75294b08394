"""A minimal headless-Chromium driver for tests: the DevTools protocol over ``--remote-debugging-pipe``
(NUL-separated JSON on file descriptors 3 and 4), so no WebDriver, websocket library or browser
download is needed; only a ``chromium`` binary (Debian: ``apt-get install chromium``)."""
from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Optional, Sequence

BINARIES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> Optional[str]:
    for name in BINARIES:
        path = shutil.which(name)
        if path:
            return path
    return None


def _above_4(fd: int) -> int:
    """The same pipe end on a descriptor number above 4, so moving it onto 3 or 4 cannot clobber another."""
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return high


class CDPError(RuntimeError):
    pass


class HeadlessChromium:
    """One headless browser with one page. ``call`` sends a DevTools command to the page and waits for
    its answer; events are ignored."""

    def __init__(self, binary: str, profile_dir: Path, width: int = 1280, height: int = 900,
                 extra_args: Sequence[str] = ()):
        to_chrome_r, self._to_chrome = (_above_4(fd) for fd in os.pipe())
        self._from_chrome, from_chrome_w = (_above_4(fd) for fd in os.pipe())
        # bash (dash cannot redirect fds above 9) moves the pipe ends to fds 3 (commands in) and 4 (answers out), as Chromium expects
        script = f'exec "$0" "$@" 3<&{to_chrome_r} 4>&{from_chrome_w} {to_chrome_r}<&- {from_chrome_w}>&-'
        args = [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--remote-debugging-pipe", f"--user-data-dir={profile_dir}", "--no-first-run",
                "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
                "--disable-sync", "--metrics-recording-only", "--mute-audio", f"--window-size={width},{height}",
                *extra_args, "about:blank"]
        self._log = open(profile_dir / "chromium.log", "wb")
        self.proc = subprocess.Popen(["bash", "-c", script, *args], pass_fds=(to_chrome_r, from_chrome_w),
                                     stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []     # every DevTools event received, in order
        target = self._send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self._session = self._send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})

    def _send(self, method: str, params: Optional[dict] = None, session: Optional[str] = None,
              timeout: float = 30.0) -> dict[str, Any]:
        self._next_id += 1
        msg: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_chrome, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                answer = json.loads(raw)
                if "method" in answer and "id" not in answer:
                    self.events.append(answer)
                elif answer.get("id") == self._next_id:
                    if "error" in answer:
                        raise CDPError(f"{method}: {answer['error']}")
                    return answer.get("result", {})
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"Chromium did not answer {method} in {timeout:.0f} s")
            ready, _, _ = select.select([self._from_chrome], [], [], left)
            if ready:
                chunk = os.read(self._from_chrome, 1 << 20)
                if not chunk:
                    raise CDPError(f"Chromium closed the pipe during {method} (see its log)")
                self._buffer += chunk

    def call(self, method: str, params: Optional[dict] = None, timeout: float = 30.0) -> dict[str, Any]:
        return self._send(method, params, self._session, timeout)

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        return result.get("result", {}).get("value")

    def wait_for(self, expression: str, timeout: float = 60.0, interval: float = 0.25) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(interval)
        raise TimeoutError(f"page never satisfied: {expression}")

    def navigate(self, url: str, ready: str = "document.readyState === 'complete'", timeout: float = 60.0) -> None:
        self.call("Page.enable")
        self.call("Page.navigate", {"url": url})
        self.wait_for(ready, timeout)

    def set_file_input(self, selector: str, path: Path) -> None:
        root = self.call("DOM.getDocument", {"depth": -1, "pierce": True})["root"]["nodeId"]
        node = self.call("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
        if not node:
            raise CDPError(f"no element matches {selector}")
        self.call("DOM.setFileInputFiles", {"nodeId": node, "files": [str(path)]})

    def click(self, selector: str) -> None:
        """Click the first element matching a CSS selector, in the page's own JavaScript."""
        if not self.evaluate(f"(e => e ? (e.click(), true) : false)(document.querySelector({json.dumps(selector)}))"):
            raise CDPError(f"no element matches {selector}")

    def requested_urls(self) -> list[str]:
        """URLs the page asked for since ``Network.enable``."""
        return [e["params"]["request"]["url"] for e in self.events if e["method"] == "Network.requestWillBeSent"]

    def screenshot(self, full_page: bool = True) -> bytes:
        result = self.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": full_page})
        return base64.b64decode(result["data"])

    def close(self) -> None:
        try:
            self._send("Browser.close", timeout=5)
        except (CDPError, TimeoutError, OSError):
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._to_chrome, self._from_chrome):
            try:
                os.close(fd)
            except OSError:
                pass
        self._log.close()
