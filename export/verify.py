"""Every exported file against the Keras model on a test split: the EXPORTS.md table."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from benchmarks.latency import measure
from benchmarks.report import command_line
from benchmarks.system import machine_info, machine_line
from edge.vision.model import model_file_bytes

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AgreementBound:
    """How far an exported file may disagree with the Keras model, face by face, and still ship."""

    age_p95: float = 1.0        # years
    age_max: float = 4.0        # years
    gender_flips: float = 0.005  # share of faces whose gender decision differs

    @classmethod
    def parse(cls, text: str) -> Optional["AgreementBound"]:
        """``"p95=1,max=4,flips=0.005"`` (any subset) -> a bound; ``"none"`` -> None (report only)."""
        from edge.errors import AgeGenderError

        if text.strip().lower() in ("", "none", "off"):
            return None
        names = {"p95": "age_p95", "max": "age_max", "flips": "gender_flips"}
        values = {}
        for part in text.split(","):
            key, _, value = part.partition("=")
            if key.strip() not in names:
                raise AgeGenderError(f"--agreement-bound: unknown key {key.strip()!r} (p95, max, flips)")
            try:
                values[names[key.strip()]] = float(value)
            except ValueError as e:
                raise AgeGenderError(f"--agreement-bound {part!r}: not a number") from e
        return cls(**values)

    def violations(self, agree: dict) -> list[str]:
        out = []
        if agree["age_abs_diff_p95"] > self.age_p95:
            out.append(f"|Δage| p95 {agree['age_abs_diff_p95']:.2f} y > {self.age_p95:g}")
        if agree["age_abs_diff_max"] > self.age_max:
            out.append(f"|Δage| max {agree['age_abs_diff_max']:.2f} y > {self.age_max:g}")
        flips = 1.0 - agree["same_gender_decision"]
        if flips > self.gender_flips:
            out.append(f"gender flips {100 * flips:.2f}% > {100 * self.gender_flips:g}%")
        return out


@dataclass
class VerifyReport:
    text: str
    failures: dict[str, list[str]] = field(default_factory=dict)   # file name -> bounds it exceeds


def agreement_rows(rows: list, bound: Optional[AgreementBound]) -> list[str]:
    """The per-face agreement table: every file against the Keras model, face by face."""
    lines = ["## Agreement with the Keras model, face by face", "",
             "Each face's answer from the file against the Keras model's on the same crop: the mean, p95 and max of "
             "|age − Keras age| and the gender decisions that differ. "
             + (f"Bound (export --verify fails above it): p95 ≤ {bound.age_p95:g} y, max ≤ {bound.age_max:g} y, "
                f"flips ≤ {100 * bound.gender_flips:g}%." if bound else "No bound was applied."), "",
             "| format | file | faces | \|Δage\| mean | p95 | max | gender flips | within bound |",
             "|---|---|---|---|---|---|---|---|"]
    for fmt, _, path, _, agree, _ in rows:
        if agree is None:
            continue
        verdict = "–" if bound is None else ("yes" if not bound.violations(agree) else
                                             "**no**: " + "; ".join(bound.violations(agree)))
        lines.append(f"| {fmt} | `{path.name}` | {agree['n']} | {agree['age_abs_diff_mean']:.2f} y | "
                     f"{agree['age_abs_diff_p95']:.2f} y | {agree['age_abs_diff_max']:.2f} y | "
                     f"{agree['gender_flips']} ({100 * (1 - agree['same_gender_decision']):.2f}%) | {verdict} |")
    return lines + [""]


def _latency_ms(model, image: np.ndarray) -> float:
    return measure(lambda: model.predict(image[None]), warmup=10, runs=100, min_seconds=1.0).p50_ms


STABILITY_INTRO = [
    "## Stability of single faces", "",
    "How far one face's answer moves under changes a camera makes all the time: ±1 grey level of noise on the "
    "crop, and a 0.25 px shift of the alignment (the crop's sampling grid moved by a quarter of a source pixel, "
    "as a landmark that moved that much would). Each figure is the change of a face's answer against its own "
    "clean crop (`train/stability.py`). Targets for INT8: mean age change ≤ 0.3 y, p95 ≤ 1.0 y, p(female) "
    "change p95 ≤ 0.03.", ""]


def _tail(path: Path, contract) -> str:
    if path.suffix == ".keras":
        return "float32 throughout"
    if contract.provenance.get("float_tail"):
        return "logits; softmax in float32 in the runtime"
    return "softmax inside the file"


def stability_rows(rows: list[tuple[str, Path, object, object]]) -> list[str]:
    """``rows``: (format, path, contract, train.stability.Stability) per file."""
    lines = [f"{rows[0][3].n} faces of the same split.", "",
             "| format | file | output tail | noise: age mean | p95 | max | p(female) p95 | shift: age mean | p95 | max |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for fmt, path, contract, st in rows:
        n, sh = st.noise, st.shift
        lines.append(f"| {fmt} | `{path.name}` | {_tail(path, contract)} | {n.age_mean:.2f} y | {n.age_p95:.2f} y | "
                     f"{n.age_max:.2f} y | {n.p_female_p95:.3f} | {sh.age_mean:.2f} y | {sh.age_p95:.2f} y | "
                     f"{sh.age_max:.2f} y |")
    return lines


def verify_exports(keras_path: Path, exported: list, data: str, out_md: Path, limit: int = 0,
                   split: str = "test", stability_n: int = 300, bound: Optional[AgreementBound] = None) -> VerifyReport:
    """Accuracy, per-face agreement with Keras and latency of every exported file, and (``stability_n`` > 0)
    the stability of single faces, as markdown written to ``out_md``; files beyond ``bound`` are listed in
    ``failures``."""
    from export.compare import compare_outputs
    from train.cache import decode_chips
    from train.evaluate import evaluate, load_model_for_eval, model_stability, summarize
    from train.sources import read_source
    from train.stability import sample_chips

    reference = load_model_for_eval(keras_path)
    faces = read_source(data, split)
    if limit and len(faces) > limit:
        faces = faces.subset(np.sort(np.random.default_rng(0).choice(len(faces), limit, replace=False)))
    images, ok = decode_chips(faces.paths, reference.contract.input_size)
    images = images[ok]
    ref = evaluate(reference, data, split, limit, images=images)
    ref_s = summarize(ref.metrics)
    rows = [("Keras (reference)", "fp32", keras_path, ref_s, None, _latency_ms(reference, images[0]))]
    chips = sample_chips(faces.paths, stability_n)[0] if stability_n > 0 else []
    stable = []

    def stability(fmt: str, model) -> None:
        if chips:
            stable.append((fmt, model.path, model.contract, model_stability(model, chips)))

    stability("Keras (reference)", reference)
    from edge.progress import progress

    for f in progress(exported, total=len(exported), desc="verify exports", unit="file"):
        m = load_model_for_eval(f.path, threads=2)
        res = evaluate(m, data, split, limit, images=images)
        agree = compare_outputs(ref.outputs, res.outputs, reference.contract)
        rows.append((f.format, f.precision, f.path, summarize(res.metrics), agree, _latency_ms(m, images[0])))
        stability(f.format, m)
    lines = [f"# Exported models, verified on the {Path(data).name} `{split}` split ({len(images)} faces)", "",
             f"Machine: {machine_line(machine_info())}; latency is the p50 of one face "
             "(batch 1, 2 threads for TFLite/ONNX; the Keras row is an eager TensorFlow call, for reference only) after "
             "10 warm-up runs. Δ columns are against the Keras model.", "",
             f"Reproduce: `{command_line()}`", "",
             "| format | precision | size | age MAE | CS@5 | gender | race | ΔMAE | Δgender | Δrace | same gender | same age group | p50 ms |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for fmt, prec, path, s, agree, lat in rows:
        size = model_file_bytes(path)
        d_mae = "" if agree is None else f"{s['age_mae'] - ref_s['age_mae']:+.3f}"
        d_g = "" if agree is None else f"{100 * (s['gender_acc'] - ref_s['gender_acc']):+.2f} pp"
        d_r = "" if agree is None or "race_acc" not in s else f"{100 * (s['race_acc'] - ref_s['race_acc']):+.2f} pp"
        sg = "" if agree is None else f"{100 * agree['same_gender_decision']:.2f}%"
        sa = "" if agree is None else f"{100 * agree['same_age_group']:.2f}%"
        lines.append(f"| {fmt} | {prec} | {size / 1e6:.2f} MB | {s['age_mae']:.3f} | {100 * s['cs5']:.1f}% | "
                     f"{100 * s['gender_acc']:.2f}% | {100 * s.get('race_acc', float('nan')):.2f}% | {d_mae} | {d_g} | {d_r} | "
                     f"{sg} | {sa} | {lat:.2f} |")
    lines += [""] + agreement_rows(rows, bound)
    if stable:
        lines += STABILITY_INTRO + stability_rows(stable)
    text = "\n".join(lines) + "\n"
    out_md.write_text(text)
    failures = {path.name: bound.violations(agree) for _, _, path, _, agree, _ in rows
                if bound is not None and agree is not None and bound.violations(agree)}
    return VerifyReport(text, failures)
