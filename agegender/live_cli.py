"""Live-output options of `agegender run` (--http ...) and the `serve` and `kiosk` commands.

Kept apart from agegender/cli.py. `serve` and `kiosk` are `run` with every run option (the parser
is copied from it) plus the dashboard or the kiosk view."""
from __future__ import annotations

import argparse
from typing import Callable

RunCommand = Callable[[argparse.Namespace], int]


def add_run_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("dashboard and API")
    g.add_argument("--http", default=None, metavar="[HOST:]PORT",
                   help="serve the dashboard, /api/stats, /metrics and /healthz (default host 127.0.0.1)")
    g.add_argument("--http-bind-any", action="store_true",
                   help="allow a non-loopback address (0.0.0.0 unless --http names one); needs an access token")
    g.add_argument("--http-token", default=None, metavar="TOKEN",
                   help="access token for the dashboard (prefer $AGEGENDER_HTTP_TOKEN: options show in ps)")


def _as_run(args: argparse.Namespace, command: str) -> argparse.Namespace:
    """The config merge looks for the `run` word in argv to see which options were explicit."""
    argv = list(getattr(args, "_argv", None) or [])
    if command in argv:
        argv[argv.index(command)] = "run"
        args._argv = argv
    return args


def cmd_serve(args: argparse.Namespace, run: RunCommand) -> int:
    args.serve = True
    return run(_as_run(args, "serve"))


def cmd_kiosk(args: argparse.Namespace, run: RunCommand) -> int:
    from edge.service.kiosk import window_mode_reliable

    mode = args.mode
    if mode == "auto":
        mode = "window" if window_mode_reliable() else "browser"
    args.kiosk_mode = mode
    if mode == "window":
        args.display = "none"           # the kiosk window replaces the plain one
    args.browser_flags = args.browser_flag or []
    return run(_as_run(args, "kiosk"))


def add_parsers(sub: argparse._SubParsersAction, run_parser: argparse.ArgumentParser,  # noqa: SLF001
                run: RunCommand) -> None:
    p = sub.add_parser("serve", parents=[run_parser], add_help=False, conflict_handler="resolve",
                       help="run with the web dashboard on (default 127.0.0.1:8080; see --http)",
                       description="`agegender run` with the web dashboard, /api/stats, /metrics and /healthz on")
    p.set_defaults(func=lambda a: cmd_serve(a, run))

    p = sub.add_parser("kiosk", parents=[run_parser], add_help=False, conflict_handler="resolve",
                       help="full-screen view with a side panel of live stats (OpenCV window or Chromium kiosk)",
                       description="`agegender run` shown full screen: an OpenCV window with a stats panel, or the "
                                   "dashboard in Chromium's --kiosk mode")
    g = p.add_argument_group("kiosk")
    g.add_argument("--mode", default="auto", choices=["auto", "window", "browser"],
                   help="window: OpenCV window (needs GUI OpenCV); browser: Chromium --kiosk on the dashboard "
                        "(auto: window with a GTK OpenCV build, else browser)")
    g.add_argument("--browser", default=None, help="browser binary (default: chromium, chromium-browser, ...)")
    g.add_argument("--browser-flag", action="append", default=[], help="extra browser flag (repeatable)")
    g.add_argument("--screenshot", default=None, metavar="PNG",
                   help="window mode: also save the first composed kiosk frame to this file")
    p.set_defaults(func=lambda a: cmd_kiosk(a, run))
