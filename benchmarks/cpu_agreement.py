"""INT8 files on CPUs this machine is not: per-face agreement with the float file on x86 with VNNI (natively,
where this CPU has it) and on x86 without VNNI (QEMU user-mode emulation of a Haswell: AVX2, no VNNI), the case
where ONNX Runtime's u8 x s8 kernels saturate.

    python -m benchmarks.cpu_agreement FACES_DIR --reference models/agegender_fp32.onnx \\
        --models models/agegender_int8.onnx OLD_int8.onnx --out docs/int8_cpus.md

Each run is ``agegender predict FACES --crops --json`` (emulated: under ``qemu-x86_64-static -cpu Haswell-v4``);
answers are compared face by face with the reference run natively. Emulated runs are slow and give no timings.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

CPUS = {"native": [], "haswell (no VNNI, emulated)": ["qemu-x86_64-static", "-cpu", "Haswell-v4"]}


def predict(prefix: list[str], faces: str, model: str) -> dict[str, dict]:
    cmd = prefix + [sys.executable, "-m", "agegender", "-q", "predict", faces, "--crops", "--json", "--model", model,
                    "--threads", "2"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return {Path(r["path"]).name: r["faces"][0] for r in map(json.loads, out.splitlines()) if r.get("faces")}


def agreement(ref: dict, cand: dict) -> dict:
    names = sorted(set(ref) & set(cand))
    diff = np.array([abs(ref[n]["age"] - cand[n]["age"]) for n in names])
    flips = sum((ref[n]["p_female"] > 0.5) != (cand[n]["p_female"] > 0.5) for n in names)
    return {"n": len(names), "mean": float(diff.mean()), "p95": float(np.percentile(diff, 95)),
            "max": float(diff.max()), "flips": int(flips)}


def main(argv=None) -> int:
    from edge.vision.backends.cpu_features import has_vnni

    p = argparse.ArgumentParser(prog="python -m benchmarks.cpu_agreement")
    p.add_argument("faces")
    p.add_argument("--reference", required=True)
    p.add_argument("--models", nargs="+", required=True)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    cpus = dict(CPUS)
    if shutil.which("qemu-x86_64-static") is None:
        del cpus["haswell (no VNNI, emulated)"]
    ref = predict([], args.faces, args.reference)
    lines = [f"Reference: `{Path(args.reference).name}` natively ({len(ref)} faces). This CPU "
             f"{'has' if has_vnni() else 'lacks'} VNNI.", "",
             "| file | CPU | faces | \\|Δage\\| mean | p95 | max | gender flips |", "|---|---|---|---|---|---|---|"]
    for model in args.models:
        for cpu, prefix in cpus.items():
            a = agreement(ref, predict(prefix, args.faces, model))
            lines.append(f"| `{Path(model).name}` | {cpu} | {a['n']} | {a['mean']:.2f} y | {a['p95']:.2f} y | "
                         f"{a['max']:.2f} y | {a['flips']} ({100 * a['flips'] / max(a['n'], 1):.1f}%) |")
            print(lines[-1], flush=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
