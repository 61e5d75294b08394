"""Deployment subcommands: `config`, `service`, `stats`, and the `run --config/--analytics-db` options.

Kept apart from agegender/cli.py; each command imports its module only when it runs.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

from agegender.run_options import run_parser_of, run_specs
from edge.errors import AgeGenderError

MakeParser = Callable[[], argparse.ArgumentParser]


def add_run_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("deployment")
    g.add_argument("--config", default=None, metavar="FILE",
                   help="TOML config file (e.g. /etc/agegender/config.toml); options given here override it")
    g.add_argument("--analytics-db", default=None, metavar="PATH",
                   help="count visitors by age group and gender into this SQLite file (no images stored)")


def apply_run_config(args: argparse.Namespace, make_parser: MakeParser) -> argparse.Namespace:
    """Load ``args.config`` and fill every run option the command line did not give explicitly."""
    from agegender.run_options import explicit_dests, merge_run_options, run_argv_of, run_options
    from edge.service.config import load_config
    from edge.service.reload import defer_sighup_during_startup

    defer_sighup_during_startup()           # a configured (service) run: `systemctl reload` must not kill it
    run_parser = run_parser_of(make_parser())
    cfg = load_config(args.config, run_options(run_parser))
    argv = getattr(args, "_argv", None)
    argv = sys.argv[1:] if argv is None else argv
    return merge_run_options(args, cfg, explicit_dests(run_parser, run_argv_of(argv)))


# ---------------------------------------------------------------------------- config
def cmd_config(args: argparse.Namespace, make_parser: MakeParser) -> int:
    from edge.service.config import default_toml, load_config

    specs = run_specs(make_parser())
    if args.print_default:
        sys.stdout.write(default_toml(specs))
        return 0
    if args.check:
        cfg = load_config(args.check, specs)
        sections = ", ".join(f"[{s}]" for s in ["run", *cfg.sections] if s != "run" or cfg.run)
        print(f"{args.check}: OK ({len(cfg.run)} run option(s){'; ' + sections if sections else ''})")
        return 0
    raise AgeGenderError("config: pass --print-default or --check FILE")


# ---------------------------------------------------------------------------- service
def service_config_text(make_parser: MakeParser) -> str:
    """The config a fresh install gets: the commented default, reading camera 0."""
    from edge.service.config import default_toml

    text = default_toml(run_specs(make_parser()))
    return text.replace("\n# source = \"\"\n", "\nsource = \"0\"\n", 1)


def cmd_service(args: argparse.Namespace, make_parser: MakeParser) -> int:
    import os

    from edge.service import systemd as service

    if args.action == "status":
        return service.status()
    unit_dir = Path(args.unit_dir) if args.unit_dir else service.UNIT_DIR
    use_systemctl = not args.dry_run and not args.no_enable
    if not args.dry_run and args.unit_dir is None and os.geteuid() != 0:
        raise AgeGenderError(f"service {args.action} writes {service.UNIT_DIR}: run it as root (sudo), "
                             "or use --dry-run to print the unit")
    if args.action == "uninstall":
        if args.dry_run:
            print(f"would disable {service.UNIT_NAME} and remove {unit_dir / service.UNIT_NAME}")
            return 0
        found = service.uninstall(unit_dir, disable=use_systemctl)
        print(f"{'removed' if found else 'not installed:'} {unit_dir / service.UNIT_NAME}")
        return 0
    config = Path(args.config).absolute()
    rw = [args.analytics_dir] if args.analytics_dir else []
    if not rw:
        found_dir = service.analytics_dir(config, run_specs(make_parser()))
        rw = [found_dir] if found_dir else []
    if args.profile == "jetson":
        from edge.service.jetson import jetson_release

        release = jetson_release()
        print(release.gpu_note() if release is not None else
              "note: --profile jetson on a machine without /etc/nv_tegra_release (not a Jetson)", file=sys.stderr)
    opts = service.UnitOptions(exec_path=args.exec_path or "", config=config, user=args.user, profile=args.profile,
                               watchdog_sec=args.watchdog_sec, timeout_start=args.timeout_start,
                               read_write_paths=rw)
    if args.dry_run:
        sys.stdout.write(service.render_unit(opts))
        return 0
    path = service.install(opts, unit_dir, service_config_text(make_parser), enable=use_systemctl)
    print(f"installed {path}" + ("" if use_systemctl else " (not enabled: --no-enable)"))
    if use_systemctl:
        print("follow it with: journalctl -u agegender -f    status: agegender service status")
    return 0


# ---------------------------------------------------------------------------- stats
def cmd_stats(args: argparse.Namespace, make_parser: MakeParser) -> int:
    from edge.service.analytics import DEFAULT_DB, parse_time, read_windows, write_csv

    db = args.db
    if db is None and args.config:
        from edge.service.config import load_config

        db = load_config(args.config, run_specs(make_parser())).run.get("analytics_db")
    db = db or DEFAULT_DB
    since = parse_time(args.since) if args.since else None
    until = parse_time(args.until) if args.until else None
    rows = read_windows(db, since, until)
    if args.out:
        with open(args.out, "w", encoding="utf-8", newline="") as f:
            n = write_csv(rows, f)
        print(f"wrote {n} row(s) to {args.out}", file=sys.stderr)
    else:
        write_csv(rows, sys.stdout)
    return 0


def add_parsers(sub: argparse._SubParsersAction, make_parser: MakeParser) -> None:  # noqa: SLF001
    p = sub.add_parser("config", help="print the default config file, or check one")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--print-default", action="store_true", help="print a commented default config (TOML)")
    g.add_argument("--check", metavar="FILE", help="validate a config file and exit (status 2 if it is wrong)")
    p.set_defaults(func=lambda a: cmd_config(a, make_parser))

    p = sub.add_parser("service", help="install, remove or show the systemd service")
    p.add_argument("action", choices=["install", "uninstall", "status"])
    p.add_argument("--config", default="/etc/agegender/config.toml",
                   help="config file the service reads (install writes a default one if it is missing)")
    p.add_argument("--user", default="dynamic",
                   help="'dynamic' (DynamicUser=yes, default) or an existing system user in the video group")
    p.add_argument("--profile", default="generic", choices=["generic", "picamera2", "jetson"],
                   help="extra devices: picamera2 (libcamera: media, dma_heap), jetson (GPU, argus socket)")
    p.add_argument("--watchdog-sec", type=int, default=30, help="WatchdogSec= (default 30)")
    p.add_argument("--timeout-start", type=int, default=300,
                   help="TimeoutStartSec=: seconds until the first processed frame (default 300)")
    p.add_argument("--exec-path", default=None, help="agegender executable (default: the one of this install)")
    p.add_argument("--analytics-dir", default=None,
                   help="ReadWritePaths= for an analytics database outside /var/lib/agegender")
    p.add_argument("--unit-dir", default=None, help="write the unit here instead of /etc/systemd/system")
    p.add_argument("--dry-run", action="store_true", help="print the unit, change nothing")
    p.add_argument("--no-enable", action="store_true", help="write files only; no systemctl daemon-reload/enable")
    p.set_defaults(func=lambda a: cmd_service(a, make_parser))

    p = sub.add_parser("stats", help="export the visitor analytics")
    p.add_argument("action", choices=["export"])
    p.add_argument("--csv", action="store_true", help="CSV output (the only format; accepted for clarity)")
    p.add_argument("--db", default=None, help="analytics database (default: from --config, else "
                                               "/var/lib/agegender/analytics.sqlite)")
    p.add_argument("--config", default=None, help="read run.analytics_db from this config file")
    p.add_argument("--since", default=None, help="e.g. 7d, 24h, 30m, or 2026-11-23T10:00 (UTC)")
    p.add_argument("--until", default=None)
    p.add_argument("--out", default=None, help="write to this file instead of stdout")
    p.set_defaults(func=lambda a: cmd_stats(a, make_parser))
