"""`agegender export`: one trained Keras model -> the files devices run, each checked against it."""
from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from edge.contract import ModelContract, contract_path_for, load_contract_beside
from edge.errors import AgeGenderError, ContractError
from edge.vision.model import model_file_bytes
from export.compare import compare_outputs

log = logging.getLogger(__name__)

FORMATS = {
    # name: (file suffix, precision)
    "tflite-int8": ("_int8.tflite", "int8"),
    "tflite-fp16": ("_fp16.tflite", "fp16"),
    "tflite-fp32": ("_fp32.tflite", "fp32"),
    "onnx-fp32": ("_fp32.onnx", "fp32"),
    "onnx-int8": ("_int8.onnx", "int8"),
    "openvino": ("_openvino.xml", "fp32"),
}
NEEDS_CALIBRATION = {"tflite-int8", "onnx-int8"}


@dataclass
class ExportedFile:
    format: str
    path: Path
    precision: str
    size_bytes: int
    check: dict = field(default_factory=dict)   # agreement with Keras on calibration faces


def parse_formats(text: str) -> list[str]:
    names = [f.strip() for f in text.split(",") if f.strip()]
    unknown = [f for f in names if f not in FORMATS]
    if unknown:
        raise AgeGenderError(f"unknown export format(s) {', '.join(unknown)}; choose from {', '.join(FORMATS)}")
    if not names:
        raise AgeGenderError("--formats is empty")
    return names


def check_writable(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".write-test-"):
            pass
    except OSError as e:
        raise AgeGenderError(f"cannot write to output folder {out} ({e.strerror or e})") from e


def export_all(model_path: Path, formats: list[str], out: Path, calib_data: Optional[str], calib_n: int = 400,
               name: Optional[str] = None, onnx_reduce_range: str = "on", float_tail: bool = False,
               float_layers: int = 0) -> list[ExportedFile]:
    """Export to every format; ``float_tail``: the files end at the logits and the runtime applies
    softmax, sigmoid and the expected age in float32 (see ``train.model.float_tail_view``);
    ``float_layers``: the INT8 TFLite file keeps that many of its worst-quantized layers in float32."""
    from export import onnx_export, tflite_export
    from export.calibration import calibration_images
    from export.saved_model import export_saved_model
    from train.evaluate import load_model_for_eval, run_model
    from edge.contract import FLOAT_TAIL_OUTPUT_MEANINGS
    from train.model import float_tail_view, load_keras_model

    check_writable(out)
    if any(f in NEEDS_CALIBRATION for f in formats) and not calib_data:
        raise AgeGenderError("INT8 formats need --calib DIR (a data folder with a training split)")
    if calib_data and not Path(calib_data).is_dir():
        raise AgeGenderError(f"--calib {calib_data}: folder not found")
    contract = load_contract_beside(model_path)
    if contract is None:
        raise ContractError(f"{model_path}: no contract ({contract_path_for(model_path).name} beside it)")
    stem = name or contract.name
    keras_model = load_keras_model(model_path)
    reference = load_model_for_eval(model_path)
    calib = calibration_images(calib_data, contract, calib_n) if calib_data else None
    check_faces = calib[:128] if calib is not None else np.random.default_rng(0).integers(
        0, 255, (16, contract.input_size, contract.input_size, 3), dtype=np.uint8)
    ref_out = run_model(reference, check_faces)
    results: list[ExportedFile] = []
    with tempfile.TemporaryDirectory(prefix="agegender-export-") as tmp:
        graph = float_tail_view(keras_model) if float_tail else keras_model
        saved = export_saved_model(graph, Path(tmp) / "saved_model", contract.input_size)
        onnx_fp32: Optional[Path] = None
        for fmt in formats:
            suffix, precision = FORMATS[fmt]
            target = out / f"{stem}{suffix}"
            c = ModelContract.from_dict(contract.to_dict(), "contract")
            c.precision = precision
            c.provenance = dict(contract.provenance, exported_from=model_path.name, format=fmt, float_tail=float_tail)
            if float_tail:
                c.outputs = dict(FLOAT_TAIL_OUTPUT_MEANINGS)
            log.info("exporting %s -> %s", fmt, target)
            if fmt == "tflite-int8" and float_layers > 0:
                data, kept = tflite_export.convert_selective_int8(saved, calib, float_layers)
                c.provenance["float_layers"] = [name for name, _ in kept]
                target.write_bytes(tflite_export.embed_metadata(data, c))
            elif fmt.startswith("tflite"):
                data = tflite_export.convert(saved, precision, calib)
                target.write_bytes(tflite_export.embed_metadata(data, c))
            elif fmt in ("onnx-fp32", "onnx-int8", "openvino"):
                if onnx_fp32 is None:
                    onnx_fp32 = onnx_export.convert_fp32(saved, Path(tmp) / "model_fp32.onnx")
                    onnx_export.set_metadata(onnx_fp32, c)
                if fmt == "onnx-fp32":
                    shutil.copyfile(onnx_fp32, target)
                    onnx_export.set_metadata(target, c)
                elif fmt == "onnx-int8":
                    rr = onnx_export.should_reduce_range(onnx_reduce_range)
                    c.provenance["onnx_reduce_range"] = rr
                    onnx_export.quantize_int8(onnx_fp32, target, calib, rr)
                    onnx_export.set_metadata(target, c)
                else:
                    from export import openvino_export
                    openvino_export.convert(onnx_fp32, target, c)
            c.save_beside(target)
            size = model_file_bytes(target)
            exported = load_model_for_eval(target)
            check = compare_outputs(ref_out, run_model(exported, check_faces), contract)
            log.info("%s: %.2f MB; against Keras on %d faces: mean |Δage| %.3f y, max %.2f y, same gender %.1f%%",
                     fmt, size / 1e6, len(check_faces), check["age_abs_diff_mean"], check["age_abs_diff_max"],
                     100 * check["same_gender_decision"])
            results.append(ExportedFile(fmt, target, precision, size, check))
    return results


def existing_exports(model_path: Path, formats: list[str], out: Path, name: Optional[str] = None) -> list[ExportedFile]:
    """The files an earlier export wrote to ``out`` (for ``--verify-only``)."""
    contract = load_contract_beside(model_path)
    stem = name or (contract.name if contract else model_path.stem)
    results = []
    for fmt in formats:
        suffix, precision = FORMATS[fmt]
        target = out / f"{stem}{suffix}"
        if not target.is_file():
            raise AgeGenderError(f"--verify-only: {target} not found (export {fmt} first)")
        size = model_file_bytes(target)
        results.append(ExportedFile(fmt, target, precision, size))
    return results


def run_export(args: argparse.Namespace) -> int:
    formats = parse_formats(args.formats)
    out = Path(args.out)
    if args.verify_only:
        args.verify = True
        results = existing_exports(Path(args.model), formats, out, args.name)
    else:
        results = export_all(Path(args.model), formats, out, args.calib, args.calib_n, args.name,
                             args.onnx_reduce_range, float_tail=args.float_tail, float_layers=args.float_layers)
    for r in (r for r in results if r.check):
        print(f"{r.format:12s} {r.path}  {r.size_bytes / 1e6:.2f} MB  mean|Δage| {r.check['age_abs_diff_mean']:.3f} y  "
              f"same gender {100 * r.check['same_gender_decision']:.1f}%")
    if args.verify:
        from export.verify import AgreementBound, verify_exports

        if not args.verify_data:
            raise AgeGenderError("--verify needs --verify-data DIR (evaluated on its test split)")
        bound = AgreementBound.parse(getattr(args, "agreement_bound", "none"))
        report = Path(args.verify_report or out / "EXPORTS.md")
        verified = verify_exports(Path(args.model), results, args.verify_data, report, args.verify_limit,
                                  stability_n=args.verify_stability, bound=bound)
        print(verified.text)
        if verified.failures:
            for name, why in verified.failures.items():
                log.error("%s disagrees with the Keras model beyond the bound: %s", name, "; ".join(why))
            log.error("%d file(s) beyond --agreement-bound (report: %s); do not ship them", len(verified.failures),
                      report)
            return 1
    return 0
