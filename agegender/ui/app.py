"""The Gradio page, serving it, and the `agegender ui` command. Gradio is imported only here, lazily."""
from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from typing import Any, Sequence

from agegender.ui.card import limitations_markdown
from agegender.ui.engine import (BACKENDS, DETECTORS, Engine, ModelFactory, analyze_payload, empty_table,
                                 reanalyze)
from agegender.ui.uploads import private_temp_dir
from edge.errors import AgeGenderError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 7860
    share: bool = False
    max_file_size: str = "20mb"
    stream_every: float = 0.25       # seconds between webcam frames in live mode
    cache_cleanup: tuple[int, int] = (30, 60)   # every 30 s, delete served results older than 60 s


def require_gradio() -> Any:
    try:
        import gradio
    except ImportError as e:
        raise AgeGenderError('agegender ui needs Gradio, which the device extras leave out: pip install ".[ui]"') from e
    return gradio


def build_app(engine: Engine, options: ServeOptions = ServeOptions(), models_dirs: Sequence[str] = ()):
    """The Gradio Blocks app. Needs the ``ui`` extra."""
    gr = require_gradio()

    initial = engine.initial_settings()
    locked = engine.fixed_model     # a shared page must not choose files on this machine
    with gr.Blocks(title="agegender: age & gender estimation", analytics_enabled=False,
                   delete_cache=options.cache_cleanup) as app:
        gr.Markdown("# agegender\nApparent age and gender of every face in a photo, estimated on this machine.")
        kept = gr.State(None)       # the decoded photo, in memory only, for re-analysis
        with gr.Row():
            with gr.Column(scale=1):
                with gr.Tabs():
                    with gr.Tab("Photo"):
                        photo = gr.Image(sources=["upload", "clipboard"], label="Photo", elem_id="photo-input")
                    with gr.Tab("Webcam photo"):
                        snapshot = gr.Image(sources=["webcam"], label="Webcam photo", elem_id="webcam-input")
                    with gr.Tab("Live webcam"):
                        live = gr.Image(sources=["webcam"], streaming=True, label="Live webcam", elem_id="live-input")
                        live_result = gr.Image(label="Live result", interactive=False, streaming=True,
                                               buttons=["fullscreen"], elem_id="live-result")
            with gr.Column(scale=1):
                result = gr.Image(label="Result", interactive=False, format="jpeg", elem_id="result-image",
                                  buttons=["download", "fullscreen"])
                status = gr.Textbox(label="Status", interactive=False, elem_id="status")
                table = gr.Dataframe(value=empty_table(initial.race, bool(initial.age_gate)), label="Faces",
                                     interactive=False, elem_id="faces-table")
        with gr.Accordion("Settings", open=False):
            model = gr.Textbox(value=initial.model or "default-fp16",
                               label="Model file (or: default-fp16, default, open)",
                               interactive=not locked)
            backend = gr.Dropdown(list(BACKENDS), value=initial.backend, label="Backend",
                                  interactive=not locked)
            detector = gr.Dropdown(list(DETECTORS), value=initial.detector, label="Face detector")
            with gr.Row():
                band_low = gr.Slider(0.0, 1.0, value=initial.gender_band[0], step=0.01,
                                     label="Gender 'undetermined' band: low p(female)")
                band_high = gr.Slider(0.0, 1.0, value=initial.gender_band[1], step=0.01,
                                      label="high p(female)")
            race = gr.Checkbox(value=initial.race, label="Also estimate race (off by default)")
            gate = gr.Number(value=initial.age_gate, minimum=0, maximum=60, precision=0,
                             label="Age check: challenge age T (e.g. 25; 0: off). 'OK' only for a face that looks "
                                   "T or older and is unlikely to be a minor; an aid to staff, never a replacement "
                                   "for an ID check", elem_id="age-gate")
            again = gr.Button("Analyse again")
        # the model card's limitations below the result, collapsed: the upload box stays above the fold
        with gr.Accordion("Limitations and intended use", open=False, elem_id="limitations-box"):
            gr.Markdown(limitations_markdown(engine.model_path, models_dirs), elem_id="limitations")
        controls = [model, backend, detector, band_low, band_high, race, gate]

        def on_photo(payload, *c):
            return analyze_payload(engine, payload, *c)

        def on_again(image, *c):
            return reanalyze(engine, image, *c)

        def on_frame(payload, *c):
            _, annotated, table_value, message = analyze_payload(engine, payload, *c)
            return annotated, table_value, message

        # preprocess=False: the handler gets the upload's file record and reads it itself, so a corrupt
        # file is a clear message (Gradio's own decoding would fail with a bare "Error") and is deleted.
        photo.change(on_photo, [photo, *controls], [kept, result, table, status], api_name="analyze",
                     preprocess=False, concurrency_id="analyze")
        snapshot.change(on_photo, [snapshot, *controls], [kept, result, table, status], api_name="analyze_webcam",
                        preprocess=False, concurrency_id="analyze")
        live.stream(on_frame, [live, *controls], [live_result, table, status], api_name="analyze_stream",
                    preprocess=False, stream_every=options.stream_every, concurrency_id="analyze")
        gr.on([again.click, model.submit, backend.change, detector.change, band_low.release, band_high.release,
               race.change, gate.submit], on_again, [kept, *controls], [result, table, status], api_name="reanalyze",
              concurrency_id="analyze")
    return app


def launch(app: Any, options: ServeOptions, block: bool = True) -> Any:
    """Serve the app; ``block=False`` returns at once (tests). No flagging exists in Blocks; run history
    (saved runs in the browser), PWA, MCP and server-side rendering are off."""
    import inspect

    wanted = dict(server_name=options.host, server_port=options.port, share=options.share,
                  prevent_thread_lock=not block, inbrowser=False, show_error=False, quiet=not block,
                  max_file_size=options.max_file_size, run_history=False, footer_links=["api", "settings"],
                  pwa=False, mcp_server=False, ssr_mode=False)
    accepted = inspect.signature(app.launch).parameters
    return app.launch(**{k: v for k, v in wanted.items() if k in accepted})


def run_ui(args: argparse.Namespace, build_model: ModelFactory, build_detector: ModelFactory) -> int:
    """`agegender ui`: load the model (a bad one fails here, with one line), then serve until Ctrl+C."""
    options = ServeOptions(host=args.host, port=args.port, share=args.share)
    require_gradio()
    engine = Engine(args, build_model, build_detector, fixed_model=options.share)
    engine.warm_up()
    if options.share:
        log.warning("--share: the page is reachable from the internet through a Gradio share link")
    elif options.host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("serving on %s: other machines on the network can reach the page", options.host)
    with private_temp_dir():
        app = build_app(engine, options, args.models_dir)
        log.info("agegender ui on http://%s:%d (Ctrl+C to stop)", options.host, options.port)
        try:
            launch(app, options, block=True)
        except OSError as e:     # Gradio's "Cannot find empty port"
            raise AgeGenderError(f"cannot serve on {options.host}:{options.port} ({e}); try another --port") from e
        finally:
            app.close()
    return 0
