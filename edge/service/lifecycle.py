"""What `agegender run` adds for a long-running deployment: the analytics sink, the systemd
watchdog (only under systemd) and model reload on SIGHUP. Settings come from the config file's
sections when one was given (``settings.app``), else from their defaults."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Optional

from edge.service.settings import RunSettings

log = logging.getLogger(__name__)


@dataclass
class Deployment:
    analytics: Optional[Any] = None       # edge.service.analytics.AnalyticsSink
    watchdog: Optional[Any] = None        # edge.service.watchdog.ServiceWatchdog
    reloader: Optional[Any] = None        # edge.service.reload.ModelReloader

    def close(self) -> None:
        """Stop the watchdog thread (the pipeline closes the sinks themselves)."""
        if self.watchdog is not None:
            self.watchdog.stop()


def attach_deployment(args: RunSettings, pipeline: Any, build_analyzer: Callable[[], Any]) -> Deployment:
    from edge.service.reload import ModelReloader
    from edge.service.watchdog import ServiceWatchdog

    cfg = args.app
    dep = Deployment()
    db = args.analytics_db
    if db:
        from edge.service.analytics import AnalyticsSink

        acfg = cfg.section("analytics")
        dep.analytics = AnalyticsSink(db, acfg)
        pipeline.sinks.append(dep.analytics)
        log.info("analytics: counting visitors into %s (%d s windows, %d days kept; no images stored)",
                 db, acfg.window_s, acfg.retention_days)
    dep.watchdog = ServiceWatchdog.from_env(pipeline.metrics, cfg.section("watchdog"))
    if dep.watchdog is not None:
        pipeline.sinks.append(dep.watchdog)
        dep.watchdog.start()
        log.info("systemd: notifications on%s", f", watchdog ping every {dep.watchdog.interval:.1f} s"
                 if dep.watchdog.interval else " (no WatchdogSec=)")
    dep.reloader = ModelReloader(pipeline, build_analyzer)
    dep.reloader.install_signal_handler()
    return dep
