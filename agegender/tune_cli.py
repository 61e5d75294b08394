"""`agegender tune [SOURCE] --config FILE`: measure the live settings on this device and write them into the
config file's ``[run]`` section (edge/live/tune.py chooses; this module runs it and edits the file)."""
from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Callable

from edge.errors import AgeGenderError

log = logging.getLogger(__name__)


def usable_cores() -> int:
    """Cores this process may run on (taskset and cgroup CPU sets narrow it; os.cpu_count does not)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _frame_size_and_fps(spec: str, args: argparse.Namespace) -> tuple[tuple[int, int], float]:
    from edge.live.sources import open_source

    src = open_source(spec, loop=True, width=args.width, height=args.height, fps=args.fps)
    src.open()
    try:
        frame = None
        for _ in range(50):
            frame = src.read(1.0)
            if frame is not None:
                break
        if frame is None:
            raise AgeGenderError(f"tune: no frame from {spec} in 50 s")
        fps = float(getattr(src, "fps", 0) or 0)
        return (frame.image.shape[1], frame.image.shape[0]), fps
    finally:
        src.close()


def run_tune(args: argparse.Namespace, make_parser: Callable[[], argparse.ArgumentParser],
             build_analyzer: Callable[[argparse.Namespace], object]) -> int:
    from agegender.run_options import run_specs
    from edge.live.demo import DemoSource
    from edge.live.sources import open_source
    from edge.live.tune import TuneRequest, tune
    from edge.service.config import default_toml, load_config, update_run_section

    specs = run_specs(make_parser())
    path = Path(args.config)
    configured = load_config(path, specs).run if path.is_file() else {}
    spec = args.source or configured.get("source") or "demo"
    from edge.live.defaults import STEADY_MODEL

    # an age check runs on the steady FP16 file (docs/age-check.md); otherwise the INT8 default
    fallback = STEADY_MODEL if configured.get("age_gate") else "default"
    models = tuple(m for m in args.models.split(",") if m) or (configured.get("model") or fallback,)
    request = TuneRequest(source=spec, fps=args.fps, faces=args.faces, min_face=args.min_face_px,
                          headroom=args.headroom, seconds=args.seconds, models=models,
                          threads=tuple(range(1, min(args.max_threads, usable_cores()) + 1)))
    frame_size, source_fps = _frame_size_and_fps(spec, args) if spec != "demo" else \
        ((args.width or 640, args.height or 480), args.fps or 30.0)

    def source():
        if spec == "demo":
            return DemoSource(loop=True, width=frame_size[0], height=frame_size[1], fps=args.fps or 30.0,
                              faces=args.faces)
        return open_source(spec, loop=True, realtime=True, width=args.width, height=args.height, fps=args.fps)

    def analyzer(trial):
        ns = argparse.Namespace(**{**vars(args), "model": trial.model, "threads": trial.threads,
                                   "detect_size": trial.detect_size})
        return build_analyzer(ns)

    log.info("tune: %s at %dx%d, %d face(s), faces from %.0f px, about %.0f s per setting", spec, *frame_size,
             args.faces, args.min_face_px, args.seconds)
    result = tune(request, analyzer, source, frame_size, source_fps)
    c = result.chosen
    if c is None:
        raise AgeGenderError("tune: no setting could be measured")
    note = [f"tuned {time.strftime('%Y-%m-%d %H:%M')} on {os.uname().nodename} ({usable_cores()} usable cores), "
            f"source {spec} at {frame_size[0]}x{frame_size[1]}, {args.faces} face(s):",
            result.summary(),
            f"{len(result.trials)} setting(s) measured in {result.seconds:.0f} s; detection sizes that keep "
            f"{args.min_face_px:.0f} px faces: {', '.join(map(str, result.allowed_sizes))} (the detector needs "
            f"{result.detector_min_px:.0f} px)"]
    if not c.passes:
        note.append("NO setting met the target here: this is the one closest to it; expect dropped frames")
    values = {"detect_size": c.detect_size, "detect_every": c.detect_every, "threads": c.threads, "model": c.model}
    if args.source:
        values["source"] = args.source
    text = path.read_text(encoding="utf-8") if path.is_file() else default_toml(specs)
    new_text = update_run_section(text, values, note)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".toml", encoding="utf-8") as tmp:
        tmp.write(new_text)
    try:
        load_config(tmp.name, specs)      # never write a file that `config --check` would refuse
        os.replace(tmp.name, path)
    finally:
        Path(tmp.name).unlink(missing_ok=True)
    print(result.summary())
    print(f"wrote [run] {', '.join(f'{k} = {v}' for k, v in values.items())} to {path}")
    if args.json:
        Path(args.json).write_text(json.dumps(result.as_dict(), indent=2))
    if not c.passes:
        log.warning("tune: no setting reached %.0f FPS with p95 under %.1f ms; wrote the closest", result.target_fps,
                    1000 / result.target_fps)
    return 0
