"""SIGHUP: re-open the model file while the pipeline runs; a bad file is refused and the old model kept.

The new analyzer is built off the processing thread, through the same builder the run started with,
and swapped in with one attribute assignment, so a frame in flight finishes on the model it began with.
"""
from __future__ import annotations

import logging
import signal
import threading
from typing import Any, Callable

log = logging.getLogger(__name__)


class ModelReloader:
    def __init__(self, pipeline: Any, build: Callable[[], Any]):
        self.pipeline, self.build = pipeline, build
        self._lock = threading.Lock()
        self.reloads = 0
        self.failures = 0

    def reload(self) -> bool:
        """Build a new analyzer and swap it in; False (old model kept) if building fails."""
        if not self._lock.acquire(blocking=False):
            log.warning("model reload already in progress: this SIGHUP is ignored")
            return False
        try:
            old = self.pipeline.analyzer
            try:
                new = self.build()
            except Exception as e:  # noqa: BLE001 - any failure means: keep the running model
                self.failures += 1
                first = str(e).splitlines()[0] if str(e) else type(e).__name__
                log.error("model reload refused, still running %s: %s", _model_path(old), first)
                return False
            self.pipeline.analyzer = new
            self.reloads += 1
            log.warning("model reloaded: %s", _model_path(new))
            return True
        finally:
            self._lock.release()

    def reload_in_background(self) -> threading.Thread:
        t = threading.Thread(target=self.reload, name="model-reload", daemon=True)
        t.start()
        return t

    def install_signal_handler(self) -> bool:
        """SIGHUP -> reload in a thread (the handler itself returns at once). Main thread only."""
        if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGHUP"):
            return False
        signal.signal(signal.SIGHUP, lambda _s, _f: self.reload_in_background())
        return True


def defer_sighup_during_startup() -> None:
    """Until the reloader is installed, a SIGHUP (``systemctl reload`` while the model loads) is logged
    and ignored instead of ending the process (its default action)."""
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, lambda _s, _f: log.warning("SIGHUP during start-up ignored: nothing to reload yet"))


def _model_path(analyzer: Any) -> str:
    return str(getattr(getattr(analyzer, "model", None), "path", "the current model"))
