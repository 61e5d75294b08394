"""`agegender run`: build the pipeline from options, handle signals, print the summary."""
from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Optional

from edge.errors import SourceError
from edge.service.settings import RunSettings

log = logging.getLogger(__name__)


def choose_source(spec: Optional[str], args: RunSettings):
    """No source given: the default camera if it opens, else the demo clip (said once)."""
    from edge.live.sources import open_source

    if spec:
        return open_source(spec, loop=args.loop, realtime=args.realtime, width=args.width, height=args.height,
                           fps=args.fps, demo_frames=args.demo_frames)
    cam = open_source("0", width=args.width, height=args.height, fps=args.fps)
    try:
        cam.open()
        cam.close()
        log.info("source: default camera 0")
        return open_source("0", width=args.width, height=args.height, fps=args.fps)
    except SourceError:
        log.warning("no camera could be opened: running the built-in demo clip instead (pass a source to choose)")
        return open_source("demo", loop=args.loop, demo_frames=args.demo_frames)


def format_summary(s: dict) -> str:
    st = s.get("stages", {})
    parts = [f"{s['frames_processed']} frames in {s['elapsed_s']:.1f} s: processed {s['processed_fps']:.1f} FPS, "
             f"camera {s['camera_fps']:.1f} FPS, dropped {s['frames_dropped']}, faces/frame {s['faces_per_frame']:.2f}, "
             f"reconnects {s['reconnects']}"]
    if st:
        parts.append("stage p50/p95 ms: " + ", ".join(
            f"{k} {v['p50_ms']:.1f}/{v['p95_ms']:.1f}" for k, v in st.items()))
    return "\n".join(parts)


def run_pipeline_command(args: RunSettings, build_analyzer: Callable[[], Any]) -> int:
    """Run the pipeline as ``args`` says; ``build_analyzer()`` makes the analyzer (again on SIGHUP)."""
    from edge.live.outputs import DisplaySink, JsonLinesSink, VideoSink
    from edge.live.pipeline import Pipeline, PipelineConfig
    from edge.live.tracking import TrackerConfig

    from edge.service.live_outputs import check_live_options

    check_live_options(args)   # refuse an unsafe --http before loading models
    analyzer = build_analyzer()
    source = choose_source(args.source, args)
    band = analyzer.decode.gender_band
    cfg = PipelineConfig(max_frames=args.max_frames, duration=args.duration, with_race=args.race, gender_band=band,
                         tracker=TrackerConfig(smoothing=args.smoothing, skip_frames=args.skip_frames),
                         blur_faces=args.blur_faces, detect_every=args.detect_every, gate=args.gate_settings())
    pipeline_ref: list = []
    sinks = []
    if args.json:
        sinks.append(JsonLinesSink(None if args.json == "-" else args.json, args.race))
    if args.display == "window":
        sinks.append(DisplaySink(fullscreen=args.fullscreen, on_quit=lambda: pipeline_ref[0].stop("window closed")))
    if args.save_video:
        sinks.append(VideoSink(args.save_video, fps=args.fps or 15))
    pipeline = Pipeline(source, analyzer, sinks, cfg)
    pipeline_ref.append(pipeline)
    from edge.service.lifecycle import attach_deployment
    from edge.service.live_outputs import attach_live_outputs

    live = attach_live_outputs(args, pipeline)   # dashboard/API (--http, serve), MQTT ([mqtt]), kiosk
    deployment = attach_deployment(args, pipeline, build_analyzer)   # analytics, systemd watchdog, SIGHUP reload

    def on_signal(signum, _frame):
        log.info("received %s: stopping", signal.Signals(signum).name)
        pipeline.stop(signal.Signals(signum).name)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, on_signal)
        signal.signal(signal.SIGTERM, on_signal)
    try:
        summary = pipeline.run()
    finally:
        deployment.close()
        live.close()
    print(format_summary(summary), file=sys.stderr)
    if args.stats_json:
        Path(args.stats_json).write_text(json.dumps(summary, indent=2))
    return 0
