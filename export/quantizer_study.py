"""INT8 from the field's own quantizers, measured face by face: the table of models/QUANTIZERS.md.

Every candidate starts from the shipped float files of one model (the FP32 ONNX file, and a float TFLite file
exported with ``--float-tail``), is calibrated on the same stratified training faces as ``agegender export``, and
is measured on the test split against the FP32 ONNX file (the float reference, equal to Keras to 1e-5):
size, ms per face (batch 1, 2 threads), age MAE, per-face |Δage| mean / p95 / max, gender decisions flipped, and
the change of one face's age under ±1 grey level of noise (``train/stability.py``).

Quantizers (each optional: a missing package is a row that says so):
- TFLite: the shipped converter file; LiteRT's ai-edge-quantizer recipes ``static_wi8_ai8`` (full INT8),
  ``static_wi8_ai16`` (16-bit activations) and ``dynamic_wi8_afp32`` (INT8 weights, float activations);
- ONNX: ONNX Runtime's static QDQ with 8-bit and 7-bit (reduce-range) weights; NNCF's post-training
  quantization (fast bias correction), with and without its overflow fix (7-bit weights).

Run it where these packages are (no TensorFlow needed), for example:
``python -m export.quantizer_study --fp32-onnx models/agegender_fp32.onnx --fp32-tflite DIR/agegender_fp32.tflite
--calib ../shared/datasets/utkface --data ../shared/datasets/utkface --work DIR --out models/QUANTIZERS.md``
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np

log = logging.getLogger(__name__)


@dataclass
class Candidate:
    name: str
    tool: str
    path: Optional[Path] = None
    error: str = ""
    figures: dict = field(default_factory=dict)


def _copy_contract(src_model: Path, dst_model: Path, precision: str, extra: dict) -> None:
    from edge.contract import load_contract_beside

    contract = load_contract_beside(src_model)
    contract.precision = precision
    contract.provenance = {**contract.provenance, **extra}
    contract.save_beside(dst_model)


# ---------------------------------------------------------------------------- TFLite: ai-edge-quantizer
def aeq_quantize(fp32_tflite: Path, out: Path, recipe_name: str, calib: np.ndarray) -> Path:
    from ai_edge_litert.interpreter import Interpreter
    from ai_edge_quantizer import quantizer, recipe

    q = quantizer.Quantizer(str(fp32_tflite))
    q.load_quantization_recipe(getattr(recipe, recipe_name)())
    result = None
    if q.need_calibration:
        interp = Interpreter(model_path=str(fp32_tflite))
        sig = next(iter(interp.get_signature_list()))
        name = interp.get_signature_list()[sig]["inputs"][0]
        dtype = interp.get_signature_runner(sig).get_input_details()[name]["dtype"]
        samples = [{name: calib[i:i + 1].astype(dtype)} for i in range(len(calib))]
        result = q.calibrate({sig: samples})
    q.quantize(result).export_model(str(out), overwrite=True)
    _copy_contract(fp32_tflite, out, "int8" if "ai8" in recipe_name or "wi8" in recipe_name else "mixed",
                   {"quantizer": f"ai-edge-quantizer {recipe_name}"})
    return out


# ---------------------------------------------------------------------------- ONNX: ORT and NNCF
def ort_quantize(fp32_onnx: Path, out: Path, calib: np.ndarray, reduce_range: bool) -> Path:
    from export.onnx_export import quantize_int8

    quantize_int8(fp32_onnx, out, calib, reduce_range)
    _copy_contract(fp32_onnx, out, "int8", {"quantizer": "onnxruntime quantize_static QDQ per-channel",
                                            "onnx_reduce_range": reduce_range})
    return out


def nncf_quantize(fp32_onnx: Path, out: Path, calib: np.ndarray, overflow_fix: bool) -> Path:
    import nncf
    import onnx
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, OverflowFix

    model = onnx.load(str(fp32_onnx))
    name = model.graph.input[0].name
    elem = model.graph.input[0].type.tensor_type.elem_type      # the exported graph takes float pixels 0..255
    dtype = np.uint8 if elem == onnx.TensorProto.UINT8 else np.float32
    dataset = nncf.Dataset([calib[i:i + 1].astype(dtype) for i in range(len(calib))], lambda x: {name: x})
    params = AdvancedQuantizationParameters(overflow_fix=OverflowFix.ENABLE if overflow_fix else OverflowFix.DISABLE)
    quantized = nncf.quantize(model, dataset, subset_size=len(calib), fast_bias_correction=True,
                              advanced_parameters=params)
    onnx.save(quantized, str(out))
    _copy_contract(fp32_onnx, out, "int8", {"quantizer": f"nncf {nncf.__version__} fast bias correction, "
                                                         f"overflow fix {'on' if overflow_fix else 'off'}",
                                            "onnx_reduce_range": overflow_fix})
    return out


# ---------------------------------------------------------------------------- measurement
def measure_file(path: Path, reference: dict, images: np.ndarray, faces, chips: list) -> dict:
    from benchmarks.latency import measure
    from edge.vision.model import model_file_bytes
    from export.compare import compare_outputs
    from train.evaluate import compute_metrics, load_model_for_eval, model_stability, run_model

    model = load_model_for_eval(path, threads=2)
    out = run_model(model, images)
    metrics = compute_metrics(out, faces, model.contract)
    agree = compare_outputs(reference, out, model.contract)
    stab = model_stability(model, chips).noise if chips else None
    latency = measure(lambda: model.predict(images[:1]), warmup=10, runs=100, min_seconds=1.0).p50_ms
    return {"size_mb": model_file_bytes(path) / 1e6, "ms_per_face": latency, "mae": metrics["age"]["mae"],
            "gender_acc": metrics["gender"]["accuracy"], "agreement": agree,
            "noise_mean": None if stab is None else stab.age_mean, "noise_p95": None if stab is None else stab.age_p95,
            "outputs_age": out["age"].reshape(-1).tolist()}


def markdown(rows: list[Candidate], reference: dict, n_faces: int, command: str, machine: str) -> str:
    lines = ["# INT8 by quantizer, measured face by face", "",
             f"Machine: {machine}. {n_faces} UTKFace test faces; the float reference is the FP32 ONNX file "
             f"(MAE {reference['mae']:.3f}). Latency: p50 of one face, batch 1, 2 threads. Noise: the change of one "
             "face's age under ±1 grey level (300 faces). Targets (issue #26): |Δage| p95 ≤ 1.0 y, max ≤ 4 y, "
             "flips ≤ 0.5%, MAE within +0.05 y of float, noise mean ≤ 0.3 y and p95 ≤ 1.0 y.", "",
             f"Reproduce: `{command}`", "",
             "| file | quantizer | size | ms/face | MAE | ΔMAE | \\|Δage\\| mean | p95 | max | gender flips | "
             "noise mean | noise p95 |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for c in rows:
        if c.error:
            lines.append(f"| {c.name} | {c.tool} | – | – | – | – | – | – | – | – | – | – |")
            continue
        f, a = c.figures, c.figures["agreement"]
        noise = "–" if f["noise_mean"] is None else f"{f['noise_mean']:.2f} y"
        noise95 = "–" if f["noise_p95"] is None else f"{f['noise_p95']:.2f} y"
        lines.append(f"| {c.name} | {c.tool} | {f['size_mb']:.2f} MB | {f['ms_per_face']:.2f} | {f['mae']:.3f} | "
                     f"{f['mae'] - reference['mae']:+.3f} | {a['age_abs_diff_mean']:.2f} y | "
                     f"{a['age_abs_diff_p95']:.2f} y | {a['age_abs_diff_max']:.2f} y | {a['gender_flips']} "
                     f"({100 * (1 - a['same_gender_decision']):.2f}%) | {noise} | {noise95} |")
    errors = [c for c in rows if c.error]
    if errors:
        lines += ["", "Not measured:"] + [f"- {c.name} ({c.tool}): {c.error}" for c in errors]
    return "\n".join(lines) + "\n"


def main(argv: Optional[list[str]] = None) -> int:
    from benchmarks.report import portable_arg
    from benchmarks.system import machine_info, machine_line
    from edge.contract import load_contract_beside
    from export.calibration import calibration_images
    from train.cache import decode_chips
    from train.evaluate import compute_metrics, load_model_for_eval, run_model
    from train.sources import read_source
    from train.stability import sample_chips

    p = argparse.ArgumentParser(prog="python -m export.quantizer_study")
    p.add_argument("--fp32-onnx", required=True)
    p.add_argument("--fp32-tflite", required=True, help="float TFLite file (agegender export --formats tflite-fp32 "
                                                         "--float-tail)")
    p.add_argument("--shipped", nargs="*", default=[], help="shipped INT8 files to measure beside the candidates")
    p.add_argument("--calib", required=True)
    p.add_argument("--calib-n", type=int, default=400)
    p.add_argument("--data", required=True)
    p.add_argument("--work", required=True, help="folder for the candidate files")
    p.add_argument("--out", required=True, help="Markdown report")
    p.add_argument("--only", default="", help="comma list of candidate names to run")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    fp32_onnx, fp32_tflite = Path(args.fp32_onnx), Path(args.fp32_tflite)
    contract = load_contract_beside(fp32_onnx)
    calib = calibration_images(args.calib, contract, args.calib_n)
    faces = read_source(args.data, "test")
    images, ok = decode_chips(faces.paths, contract.input_size)
    faces, images = faces.subset(ok), images[ok]
    chips, _ = sample_chips(faces.paths, 300)
    ref_model = load_model_for_eval(fp32_onnx, threads=2)
    reference = run_model(ref_model, images)
    reference["mae"] = compute_metrics(reference, faces, contract)["age"]["mae"]

    builders: list[tuple[str, str, Callable[[Path], Path], str]] = [
        ("aeq_static_wi8_ai8", "ai-edge-quantizer static_wi8_ai8",
         lambda o: aeq_quantize(fp32_tflite, o, "static_wi8_ai8", calib), ".tflite"),
        ("aeq_static_wi8_ai16", "ai-edge-quantizer static_wi8_ai16",
         lambda o: aeq_quantize(fp32_tflite, o, "static_wi8_ai16", calib), ".tflite"),
        ("aeq_dynamic_wi8_afp32", "ai-edge-quantizer dynamic_wi8_afp32",
         lambda o: aeq_quantize(fp32_tflite, o, "dynamic_wi8_afp32", calib), ".tflite"),
        ("ort_qdq_w8", "ONNX Runtime QDQ, 8-bit weights", lambda o: ort_quantize(fp32_onnx, o, calib, False), ".onnx"),
        ("ort_qdq_w7", "ONNX Runtime QDQ, 7-bit weights (reduce-range)",
         lambda o: ort_quantize(fp32_onnx, o, calib, True), ".onnx"),
        ("nncf", "NNCF PTQ, fast bias correction", lambda o: nncf_quantize(fp32_onnx, o, calib, False), ".onnx"),
        ("nncf_overflow_fix", "NNCF PTQ, fast bias correction, overflow fix",
         lambda o: nncf_quantize(fp32_onnx, o, calib, True), ".onnx"),
    ]
    only = {n for n in args.only.split(",") if n}
    earlier = work / "quantizers.json"
    previous = json.loads(earlier.read_text()) if only and earlier.is_file() else {}
    rows: list[Candidate] = []
    for shipped in args.shipped:
        if not only or Path(shipped).name in only:
            rows.append(Candidate(Path(shipped).name, "shipped", Path(shipped)))
    for name, tool, build, suffix in builders:
        if only and name not in only:
            continue
        c = Candidate(name, tool)
        try:
            c.path = build(work / f"{name}{suffix}")
        except Exception as e:  # noqa: BLE001 - a quantizer that fails is a row that says why
            c.error = f"{type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}"
            log.error("%s: %s", name, c.error)
        rows.append(c)
    for c in rows:
        if c.error or c.path is None:
            continue
        try:
            c.figures = measure_file(c.path, reference, images, faces, chips)
        except Exception as e:  # noqa: BLE001
            c.error = f"measuring failed: {type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}"
            log.error("%s: %s", c.name, c.error)
            continue
        a = c.figures["agreement"]
        log.info("%s: MAE %.3f, |Δage| p95 %.2f max %.2f, flips %d, %.2f ms", c.name, c.figures["mae"],
                 a["age_abs_diff_p95"], a["age_abs_diff_max"], a["gender_flips"], c.figures["ms_per_face"])
    # with --only, the rows measured earlier (quantizers.json in --work) are kept beside the new ones
    measured = {c.name for c in rows}
    for name, old in previous.items():
        if name not in measured and not old.get("error"):
            rows.append(Candidate(name, old["tool"], Path(old["path"]), "",
                                  {k: v for k, v in old.items() if k not in ("tool", "path", "error")}))
    command = "python -m export.quantizer_study " + " ".join(portable_arg(a) for a in (argv or sys.argv[1:]))
    Path(args.out).write_text(markdown(rows, reference, len(images), command, machine_line(machine_info())))
    dump = {c.name: {"tool": c.tool, "path": str(c.path), "error": c.error,
                     **{k: v for k, v in c.figures.items() if k != "outputs_age"}} for c in rows}
    (work / "quantizers.json").write_text(json.dumps(dump, indent=2, default=float))
    print(Path(args.out).read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
