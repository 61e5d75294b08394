"""Wires the live outputs into a run: the web dashboard/API (``--http``, ``serve``, ``[http]``),
MQTT (``[mqtt]`` with ``enabled = true``) and the kiosk (``agegender kiosk``)."""
from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass
from typing import Any, Optional, Sequence

from edge.service.settings import RunSettings

log = logging.getLogger(__name__)

DEFAULT_HTTP = "127.0.0.1:8080"


@dataclass
class LiveOutputs:
    http: Optional[Any] = None            # edge.service.http_server.HttpSink
    mqtt: Optional[Any] = None            # edge.service.mqtt_sink.MqttSink
    kiosk_window: Optional[Any] = None    # edge.service.kiosk.KioskWindowSink
    kiosk_browser: Optional[Any] = None   # edge.service.kiosk.KioskBrowser

    def close(self) -> None:
        """End the kiosk browser (the pipeline closes the sinks itself)."""
        if self.kiosk_browser is not None:
            self.kiosk_browser.close()


def age_group_names(pipeline: Any) -> list[str]:
    from edge.contract import group_label

    try:
        analyzer = pipeline.analyzer
        return [group_label(g) for g in analyzer.model.contract.groups(analyzer.decode.group_scheme)]
    except (AttributeError, KeyError, ValueError):
        return []


def source_status(source: Any):
    from edge.live.sources import ReconnectingSource

    if not isinstance(source, ReconnectingSource):
        return None
    return lambda: {"reconnects": source.reconnects, "stalls": source.stalls, "connected": source.connected}


def http_config(args: RunSettings, base: Any) -> Optional[Any]:
    """The [http] section with the command line applied; None when no dashboard is wanted."""
    from edge.service.http_server import TOKEN_ENV, parse_http_spec

    spec = args.http
    kiosk_browser = args.kiosk_mode == "browser"
    if not (spec or base.enabled or args.serve or kiosk_browser):
        return None
    cfg = dataclasses.replace(base)
    if spec:
        host, cfg.port = parse_http_spec(spec)
        cfg.host = host or cfg.host
    if args.http_bind_any:
        cfg.allow_remote = True
        if not (spec and parse_http_spec(spec)[0]):
            cfg.host = "0.0.0.0"
    cfg.token = args.http_token or cfg.token or os.environ.get(TOKEN_ENV) or None
    return cfg


def check_live_options(args: RunSettings) -> None:
    """Validate the dashboard settings early (a non-loopback bind without flag and token is refused)."""
    cfg = http_config(args, args.app.section("http"))
    if cfg is not None:
        cfg.check_exposure()


def attach_live_outputs(args: RunSettings, pipeline: Any) -> LiveOutputs:
    app = args.app
    out = LiveOutputs()
    groups = age_group_names(pipeline)
    cfg = http_config(args, app.section("http"))
    if cfg is not None:
        from edge.service.http_server import HttpSink
        from edge.service.live_stats import TrackBook

        book = TrackBook(windows=tuple(cfg.windows), leave_after_s=cfg.leave_after_s, age_groups=groups)
        out.http = HttpSink(cfg, pipeline.metrics, book, source_status(pipeline.source))
        pipeline.sinks.append(out.http)
    mcfg = app.section("mqtt")
    if mcfg.enabled:
        from edge.service.mqtt_sink import MqttSink

        out.mqtt = MqttSink(mcfg, pipeline.metrics, groups)
        pipeline.sinks.append(out.mqtt)
    mode = args.kiosk_mode
    if mode == "window":
        from edge.service.kiosk import KioskWindowSink
        from edge.service.live_stats import TrackBook

        out.kiosk_window = KioskWindowSink(pipeline.metrics, TrackBook(age_groups=groups),
                                           on_quit=lambda: pipeline.stop("kiosk window closed"),
                                           screenshot=args.screenshot)
        pipeline.sinks.append(out.kiosk_window)
    elif mode == "browser" and out.http is not None:
        from edge.service.kiosk import KioskBrowser

        url = out.http.url.replace("0.0.0.0", "127.0.0.1").replace("[::]", "[::1]") + "?kiosk=1"
        if out.http.config.token:
            from urllib.parse import quote

            url += "&token=" + quote(out.http.config.token)
        flags: Sequence[str] = args.browser_flags
        out.kiosk_browser = KioskBrowser(url, args.browser,
                                         on_exit=lambda: pipeline.stop("kiosk browser closed"), extra_flags=flags)
    return out
