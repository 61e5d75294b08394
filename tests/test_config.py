"""The TOML config file: derived from the run parser, validated at start, overridden by the CLI."""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import types
from dataclasses import dataclass
from pathlib import Path

import pytest

from agegender.cli import main, make_parser
from agegender.deploy_cli import apply_run_config
from agegender.run_options import run_options, run_parser_of
from edge.service import config as C
from edge.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def run_parser() -> argparse.ArgumentParser:
    return run_parser_of(make_parser())


def write(tmp_path: Path, text: str, name: str = "config.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_print_default_loads_back_and_matches_the_parser(tmp_path, capsys, run_parser):
    assert main(["config", "--print-default"]) == 0
    text = capsys.readouterr().out
    path = write(tmp_path, text)
    cfg = C.load_config(path, run_options(run_parser))
    defaults = vars(run_parser.parse_args([]))
    specs = run_options(run_parser)
    assert set(cfg.run) == {k for k, s in specs.items() if s.default is not None}
    for key, value in cfg.run.items():
        assert value == defaults[key], key
    assert {"analytics", "watchdog"} <= set(cfg.sections)
    assert main(["config", "--check", str(path)]) == 0
    # every run option is in the file, set or commented
    for key in specs:
        assert f"\n{key} = " in text or f"\n# {key} = " in text, key


@pytest.mark.parametrize("body, message", [
    ('[run]\ndetectr = "haar"\n', "config.toml: unknown key run.detectr (did you mean run.detector?)"),
    ('[run]\nmax_frames = "ten"\n', "config.toml: run.max_frames: expected an integer, got a string 'ten'"),
    ('[run]\nmax_frames = 2.5\n', "run.max_frames: expected an integer"),
    ('[run]\nrace = "yes"\n', "run.race: expected true or false"),
    ('[run]\ndisplay = "tv"\n', "run.display: 'tv' is not one of none, window"),
    ('[run]\nbackend = "tensorflow"\n', "run.backend: 'tensorflow' is not one of auto, tflite, onnx, openvino"),
    ('[run]\nmodels_dir = [1, 2]\n', "run.models_dir: expected a list of strings"),
    ('[analytics]\nwindow_s = 0\n', "config.toml: analytics.window_s: must be at least 1"),
    ('[analytics]\nwindow = 60\n', "config.toml: unknown key analytics.window (did you mean analytics.window_s?)"),
    ('[watchdog]\ngrace_s = "long"\n', "watchdog.grace_s: expected a number"),
    ('[analytic]\nwindow_s = 5\n', "unknown section [analytic] (did you mean [analytics]?)"),
    ('detector = "haar"\n', "config.toml: unknown key detector"),
    ('[run\nx = 1\n', "config.toml: not valid TOML"),
])
def test_bad_file_is_one_line_error_naming_the_key(tmp_path, capsys, body, message):
    path = write(tmp_path, body)
    rc = main(["run", "--config", str(path), "--max-frames", "1"])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith("agegender: error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_check_command_refuses_a_corrupt_file_with_status_2(tmp_path, capsys):
    path = tmp_path / "config.toml"
    path.write_bytes(b"\xff\xfe[run]\x00garbage")
    assert main(["config", "--check", str(path)]) == 2
    assert "config.toml: not UTF-8 text" in capsys.readouterr().err
    assert main(["config", "--check", str(tmp_path / "missing.toml")]) == 2
    assert "missing.toml: config file not found" in capsys.readouterr().err


def test_corrupt_config_refused_at_start_in_a_real_process(tmp_path):
    path = write(tmp_path, '[run]\nsource = "demo"\nmax_frames = -\n')
    proc = subprocess.run([sys.executable, "-m", "agegender", "run", "--config", str(path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith(f"agegender: error: {path}: not valid TOML")
    assert "Traceback" not in proc.stderr and proc.stderr.strip().count("\n") == 0
    assert proc.stdout == ""


def _apply(path: Path, argv: list[str]) -> argparse.Namespace:
    full = ["run", "--config", str(path), *argv]
    args = make_parser().parse_args(full)
    args._argv = full
    return apply_run_config(args, make_parser)


def test_command_line_wins_only_where_given(tmp_path):
    path = write(tmp_path, '[run]\nsource = "clip.mp4"\ndetector = "haar"\nmax_frames = 5\nmodels_dir = ["/opt/m"]\n'
                           'json = true\nrace = true\nscore_threshold = 0.8\n')
    args = _apply(path, [])
    assert (args.source, args.detector, args.max_frames, args.models_dir) == ("clip.mp4", "haar", 5, ["/opt/m"])
    assert args.json == "-" and args.race is True and args.score_threshold == 0.8
    # explicit options win, even when they equal the parser's default (auto) or are abbreviated
    args = _apply(path, ["demo", "--detector", "auto", "--max-fr", "7", "--models-dir", "/x", "--score-threshold=0.5"])
    assert (args.source, args.detector, args.max_frames, args.models_dir) == ("demo", "auto", 7, ["/x"])
    assert args.score_threshold == 0.5 and args.race is True     # not given: from the file
    assert args.app_config.path == path


def test_model_open_in_the_config_selects_the_open_file(tmp_path):
    """`model = "open"` in [run] reaches the zoo lookup, which picks agegender_open_int8.tflite."""
    from edge.vision.model import resolve_model_path

    zoo = tmp_path / "zoo"
    zoo.mkdir()
    for name in ("agegender_int8.tflite", "agegender_open_int8.tflite"):
        (zoo / name).write_bytes(b"placeholder")
    args = _apply(write(tmp_path, f'[run]\nmodel = "open"\nmodels_dir = ["{zoo}"]\n'), [])
    assert args.model == "open"
    assert resolve_model_path(args.model, tuple(args.models_dir)) == zoo / "agegender_open_int8.tflite"
    args = _apply(write(tmp_path, f'[run]\nmodel = "open"\nmodels_dir = ["{zoo}"]\n'), ["--model", "default"])
    assert resolve_model_path(args.model, tuple(args.models_dir)) == zoo / "agegender_int8.tflite"


def test_camera_index_as_integer_and_dashed_keys(tmp_path, run_parser):
    cfg = C.load_config(write(tmp_path, '[run]\nsource = 0\nmax-frames = 3\nfps = 15\n'), run_options(run_parser))
    assert cfg.run == {"source": "0", "max_frames": 3, "fps": 15.0}


def test_an_option_added_to_the_parser_later_is_covered(run_parser):
    parser = argparse.ArgumentParser()
    parser.add_argument("--new-mode", choices=["a", "b"], default="a")
    parser.add_argument("--new-count", type=int, default=1)
    parser.add_argument("--ratio", type=lambda s: float(s) / 100, default=0.5)
    parser.add_argument("--colour", action=argparse.BooleanOptionalAction, default=True)
    specs = run_options(parser)
    assert C.parse_run_section({"colour": False}, specs, "f") == {"colour": False}
    with pytest.raises(ConfigError, match=r"f: run.colour: expected true or false"):
        C.parse_run_section({"colour": "no"}, specs, "f")
    assert C.parse_run_section({"new_mode": "b", "new_count": 4, "ratio": "50"}, specs, "f") == {
        "new_mode": "b", "new_count": 4, "ratio": 0.5}
    with pytest.raises(ConfigError, match=r"f: run.new_mode: 'c' is not one of a, b"):
        C.parse_run_section({"new_mode": "c"}, specs, "f")
    with pytest.raises(ConfigError, match=r"f: run.ratio: could not convert"):
        C.parse_run_section({"ratio": "half"}, specs, "f")


def test_importing_config_imports_no_section_module():
    code = ("import sys, edge.service.config as c; c.AppConfig(); "
            "print(sorted(m for m in c.SECTIONS.values() if m.split(':')[0] in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_section_module_missing_is_a_clean_error(tmp_path, monkeypatch, run_parser):
    monkeypatch.setitem(C.SECTIONS, "http", "edge.no_such_module:HttpConfig")
    with pytest.raises(ConfigError, match=r"config.toml: section \[http\] needs edge.no_such_module, which this "
                                          r"installation of agegender does not have"):
        C.load_config(write(tmp_path, "[http]\nport = 8080\n"), run_options(run_parser))


def test_other_sections_from_dict_errors_name_the_file_and_key(tmp_path, monkeypatch, run_parser):
    """[http] and [mqtt] classes come from their own modules; their ConfigError is reported with the file."""
    @dataclass
    class HttpConfig:
        port: int = 8080

        @classmethod
        def from_dict(cls, d: dict) -> "HttpConfig":
            if not isinstance(d.get("port", 8080), int) or not 0 < d.get("port", 8080) < 65536:
                raise ConfigError(f"http.port: expected a port number 1-65535, got {d['port']!r}")
            return cls(**d)

    monkeypatch.setitem(sys.modules, "fake_http", types.SimpleNamespace(HttpConfig=HttpConfig))
    monkeypatch.setitem(C.SECTIONS, "http", "fake_http:HttpConfig")
    cfg = C.load_config(write(tmp_path, "[http]\nport = 9000\n"), run_options(run_parser))
    assert cfg.section("http").port == 9000
    with pytest.raises(ConfigError) as e:
        C.load_config(write(tmp_path, "[http]\nport = 70000\n"), run_options(run_parser))
    assert str(e.value) == f"{tmp_path / 'config.toml'}: http.port: expected a port number 1-65535, got 70000"


def test_run_with_config_end_to_end(tmp_path, capsys):
    from deploy_helpers import make_tiny_onnx

    model = make_tiny_onnx(tmp_path / "tiny.onnx")
    stats = tmp_path / "stats.json"
    path = write(tmp_path, f'[run]\nsource = "demo"\nmodel = "{model}"\ndetector = "haar"\nmax_frames = 50\n'
                           f'width = 320\nheight = 240\nstats_json = "{stats}"\n')
    assert main(["run", "--config", str(path), "--max-frames", "3"]) == 0
    import json

    summary = json.loads(stats.read_text())
    assert summary["frames_processed"] == 3 and "max-frames 3" in summary["end_reason"]


def test_shipped_example_config_is_valid(run_parser):
    cfg = C.load_config(ROOT / "deploy" / "config.toml", run_options(run_parser))
    assert cfg.run["source"] == "0" and cfg.run["analytics_db"].startswith("/var/lib/agegender/")
    assert cfg.section("analytics").window_s == 60 and cfg.section("watchdog").grace_s == 60.0
