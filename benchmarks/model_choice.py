"""Which model file the live pipeline and the age check should run, by measurement (benchmarks/results/
model_choice.md): INT8 against FP16 against the float reference (FP32 ONNX) on the pipeline bench clips.

- **Track-level agreement**: every clip is run through the whole pipeline once per file (every frame detected,
  so the tracks are the same); per track and frame, the smoothed age each file reports is compared with the
  float file's. The yardstick is the smoothing noise: how much the float file's own smoothed age moves along a
  track (its standard deviation).
- **The age check in video** (``--age-gate``): frames until each person is decided, decisions that flip
  (there must be none), and how often a file's decision differs from the float file's for the same person.
- **Cost**: processing capacity with the live defaults on a 6-face clip, and model-only ms per face.

    python -m benchmarks.model_choice --data ../shared/datasets/utkface --out benchmarks/results
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
from pathlib import Path
from typing import Optional

import numpy as np

log = logging.getLogger(__name__)

FILES = {"INT8 TFLite (default)": "default", "FP16 TFLite (default-fp16)": "default-fp16",
         "FP32 ONNX (float reference)": "agegender_fp32.onnx"}
REFERENCE = "FP32 ONNX (float reference)"


def _analyzer(model: str, models_dirs: tuple[str, ...], threads: int = 1):
    from edge.vision.analyzer import FaceAnalyzer
    from edge.vision.backends import BackendOptions
    from edge.vision.decode import DecodeConfig
    from edge.vision.detectors import DetectorConfig, create_detector
    from edge.vision.model import AgeGenderModel, resolve_model_path

    path = resolve_model_path(model, models_dirs) if model in ("default", "default-fp16") else \
        resolve_model_path(None, models_dirs).parent / model
    return FaceAnalyzer(create_detector("yunet", DetectorConfig(), None, models_dirs),
                        AgeGenderModel(path, "auto", BackendOptions(threads=threads)), DecodeConfig(), detect_size=640)


def run_clip(clip: Path, analyzer, gate: Optional[float], detect_every: int = 1) -> dict:
    """Per track: the smoothed age per frame and the gate decisions per frame."""
    from edge.age_gate import GateSettings
    from edge.live.pipeline import Pipeline, PipelineConfig
    from edge.live.sources import open_source

    tracks: dict[int, dict] = {}

    def collect(result) -> None:
        for f in result.faces:
            if f.prediction is None or f.track_id is None:
                continue
            t = tracks.setdefault(int(f.track_id), {"ages": {}, "gates": []})
            t["ages"][result.frame.index] = f.prediction.age
            if f.gate is not None:
                t["gates"].append((result.frame.index, f.gate.gate, f.gate.final))

    settings = GateSettings(gate, looks=8, min_face=0) if gate else None
    pipeline = Pipeline(open_source(str(clip)), analyzer, [], PipelineConfig(detect_every=detect_every, gate=settings),
                        on_frame=collect)
    summary = pipeline.run()
    return {"tracks": tracks, "summary": summary}


def track_agreement(ref: dict, cand: dict) -> dict:
    diffs, noise = [], []
    for tid, t in ref["tracks"].items():
        other = cand["tracks"].get(tid)
        if other is None or len(t["ages"]) < 10:
            continue
        frames = sorted(set(t["ages"]) & set(other["ages"]))
        diffs += [abs(t["ages"][i] - other["ages"][i]) for i in frames]
        noise.append(float(np.std([t["ages"][i] for i in sorted(t["ages"])][5:])))
    d = np.asarray(diffs)
    return {"frames": int(d.size), "mean": float(d.mean()) if d.size else None,
            "p95": float(np.percentile(d, 95)) if d.size else None, "max": float(d.max()) if d.size else None,
            "smoothing_noise": float(np.mean(noise)) if noise else None}


def gate_figures(run: dict, ref: Optional[dict]) -> dict:
    to_decision, flips, differ, decided = [], 0, 0, 0
    for tid, t in run["tracks"].items():
        if not t["gates"]:
            continue
        first = t["gates"][0][0]
        finals = [(i, g) for i, g, final in t["gates"] if final]
        if not finals:
            continue
        decided += 1
        to_decision.append(finals[0][0] - first + 1)
        flips += sum(1 for (_, a), (_, b) in zip(finals, finals[1:]) if a != b)
        if ref is not None:
            other = [g for _, g, final in ref["tracks"].get(tid, {}).get("gates", []) if final]
            differ += int(bool(other) and other[0] != finals[0][1])
    return {"people": decided, "frames_to_decision_median": float(np.median(to_decision)) if to_decision else None,
            "frames_to_decision_max": int(max(to_decision)) if to_decision else None, "flips": flips,
            "decisions_differing_from_float": differ}


def capacity(clip: Path, analyzer) -> float:
    from edge.live.defaults import DETECT_EVERY

    s = run_clip(clip, analyzer, None, DETECT_EVERY)["summary"]["stages"]["process"]
    return 1000.0 / s["mean_ms"]


def main(argv=None) -> int:
    from benchmarks.clips import ClipSpec, clip_faces, write_clip
    from benchmarks.latency import measure
    from benchmarks.report import portable_arg
    from benchmarks.system import machine_info, machine_line

    p = argparse.ArgumentParser(prog="python -m benchmarks.model_choice")
    p.add_argument("--data", default=None, help="UTKFace folder for the clips' faces (default: the demo portrait)")
    p.add_argument("--clips", type=int, default=4)
    p.add_argument("--faces", type=int, default=6)
    p.add_argument("--frames", type=int, default=150)
    p.add_argument("--models-dir", action="append", default=[])
    p.add_argument("--out", default="benchmarks/results")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    dirs = tuple(args.models_dir)
    analyzers = {label: _analyzer(model, dirs) for label, model in FILES.items()}
    report: dict = {"machine": machine_info(), "clips": args.clips, "faces": args.faces, "frames": args.frames,
                    "files": {}}
    runs: dict[str, list] = {label: [] for label in FILES}
    with tempfile.TemporaryDirectory() as tmp:
        clips = []
        for k in range(args.clips):
            spec = ClipSpec(640, 480, args.faces, frames=args.frames, seed=100 + k)
            clips.append(write_clip(spec, Path(tmp) / f"clip{k}.mp4", args.data, clip_faces(spec, args.data)))
        for label, analyzer in analyzers.items():
            for clip in clips:
                runs[label].append(run_clip(clip, analyzer, 25.0))
        for label, analyzer in analyzers.items():
            ref_runs = runs[REFERENCE]
            agree = [track_agreement(r, c) for r, c in zip(ref_runs, runs[label])] if label != REFERENCE else []
            gates = [gate_figures(c, r if label != REFERENCE else None) for r, c in zip(ref_runs, runs[label])]
            crops = np.zeros((1, analyzer.model.input_size, analyzer.model.input_size, 3), np.uint8)
            report["files"][label] = {
                "file": analyzer.model.path.name,
                "ms_per_face": measure(lambda a=analyzer: a.model.infer(crops), warmup=10, runs=200,
                                       min_seconds=1.0).p50_ms,
                "capacity_fps": capacity(clips[0], analyzer),
                "track_agreement": {k: (float(np.mean([a[k] for a in agree if a[k] is not None])) if agree else None)
                                    for k in ("mean", "p95", "max", "smoothing_noise")},
                "gate": {"people": sum(g["people"] for g in gates), "flips": sum(g["flips"] for g in gates),
                         "differing_from_float": sum(g["decisions_differing_from_float"] for g in gates),
                         "frames_to_decision_median": float(np.median([g["frames_to_decision_median"] for g in gates
                                                                       if g["frames_to_decision_median"]])),
                         "frames_to_decision_max": max(g["frames_to_decision_max"] or 0 for g in gates)}}
    noise_level = float(np.mean([track_agreement(r, r)["smoothing_noise"] for r in runs[REFERENCE]]))
    lines = ["# Which model file: INT8, FP16 or float, measured in the pipeline", "",
             f"Machine: {machine_line(report['machine'])}. {args.clips} clips × {args.faces} faces × {args.frames} "
             "frames at 640x480 (UTKFace test faces), every frame detected so that each file sees the same tracks; "
             "age check at T = 25 (8 looks). Capacity: 1000 / mean processing time per frame with the live defaults "
             "(detection every 3rd frame, 1 classifier thread), first clip.", "",
             "Reproduce: `python -m benchmarks.model_choice "
             + " ".join(portable_arg(a) for a in (argv or sys.argv[1:])) + "`",
             "", f"Smoothing noise (the float file's own smoothed age, std along a track): **{noise_level:.2f} y**.",
             "", f"| file | ms/face (1 thread) | capacity, {args.faces} faces | smoothed age vs float: mean | p95 | max "
             "| people decided | "
             "frames to decision (median / max) | flips | decisions ≠ float |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for label, f in report["files"].items():
        a, g = f["track_agreement"], f["gate"]
        fmt = lambda v: "–" if v is None else f"{v:.2f} y"  # noqa: E731
        lines.append(f"| {label} | {f['ms_per_face']:.2f} | {f['capacity_fps']:.0f} FPS | {fmt(a['mean'])} | "
                     f"{fmt(a['p95'])} | {fmt(a['max'])} | {g['people']} | {g['frames_to_decision_median']:.0f} / "
                     f"{g['frames_to_decision_max']} | {g['flips']} | "
                     f"{'–' if label == REFERENCE else g['differing_from_float']} |")
    report["smoothing_noise"] = noise_level
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "model_choice.json").write_text(json.dumps(report, indent=2, default=str))
    (out / "model_choice.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
