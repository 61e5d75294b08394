"""`agegender evaluate`: accuracy, calibration and fairness of any model file on a labelled split.

Keras files run through Keras; TFLite, ONNX and OpenVINO files run through edge's backends,
so export can compare every variant with the same code.
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from edge.contract import ModelContract, contract_path_for, load_contract_beside
from edge.errors import AgeGenderError, ContractError
from train import metrics as M
from train.sources import LabeledFaces, read_source

log = logging.getLogger(__name__)

Predictor = Callable[[np.ndarray], dict]


@dataclass
class LoadedModel:
    path: Path
    contract: ModelContract
    predict: Predictor
    kind: str


def load_model_for_eval(path: str | Path, backend: str = "auto", threads: int = 0) -> LoadedModel:
    path = Path(path)
    if path.suffix == ".keras":
        from train.model import load_keras_model

        contract = load_contract_beside(path)
        if contract is None:
            raise ContractError(f"{path}: no contract ({contract_path_for(path).name} beside it)")
        model = load_keras_model(path)

        from edge.vision.decode import correct_age_prior

        def predict(batch: np.ndarray) -> dict:
            out = model(batch.astype(np.float32), training=False)
            return correct_age_prior({k: np.asarray(v) for k, v in out.items()}, contract)

        return LoadedModel(path, contract, predict, "keras")
    from edge.vision.backends import BackendOptions
    from edge.vision.model import AgeGenderModel

    m = AgeGenderModel(path, backend, BackendOptions(threads=threads))
    return LoadedModel(path, m.contract, m.infer, m.backend.name)


def run_model(model: LoadedModel, images: np.ndarray, batch_size: int = 64, flip_tta: bool = False) -> dict:
    outs: dict[str, list] = {}
    from edge.progress import progress

    for i in progress(range(0, len(images), batch_size), desc="evaluate", unit="batch"):
        batch = np.ascontiguousarray(images[i:i + batch_size])
        out = model.predict(batch)
        if flip_tta:
            flipped = model.predict(np.ascontiguousarray(batch[:, :, ::-1]))
            out = {k: (np.asarray(out[k]) + np.asarray(flipped[k])) / 2 for k in out}
        for k, v in out.items():
            outs.setdefault(k, []).append(np.asarray(v, np.float32))
    res = {k: np.concatenate(v) for k, v in outs.items()}
    if "age" not in res and "age_dist" in res:
        res["age"] = (res["age_dist"] * np.arange(res["age_dist"].shape[1])).sum(1, keepdims=True)
    return res


def model_stability(model: LoadedModel, chips: list[np.ndarray], seed: int = 0):
    """``train.stability.measure_stability`` of a loaded model (Keras, TFLite, ONNX or OpenVINO)."""
    from train.stability import measure_stability

    return measure_stability(lambda x: run_model(model, x), model.contract, chips, seed)


@dataclass
class EvalResult:
    model: str
    data: str
    split: str
    metrics: dict = field(default_factory=dict)
    outputs: dict = field(default_factory=dict, repr=False)
    faces: Optional[LabeledFaces] = field(default=None, repr=False)
    seconds: float = 0.0


def compute_metrics(outputs: dict, faces: LabeledFaces, contract: ModelContract, gate=None) -> dict:
    """Every metric of one evaluation; ``gate`` (an ``edge.age_gate.AgeGate``) adds the age check's rates."""
    age = outputs["age"].reshape(-1)
    p_female = outputs["gender"].reshape(-1)
    out: dict = {}
    exact = faces.has_exact_age
    true_age = faces.true_age if faces.true_age is not None else faces.age_lo
    if exact.any():
        out["age"] = M.age_metrics(age[exact], np.asarray(true_age)[exact], contract)
        out["age"]["bias_by_band_race"] = M.signed_error_table(
            age[exact], np.asarray(true_age)[exact], faces.race[exact], faces.has_race[exact], contract.race_labels)
    if faces.has_age_interval.any() or (~exact & (faces.age_hi > 0)).any():
        iv = faces.has_age_interval
        out["age_bins"] = M.interval_metrics(age[iv], faces.age_lo[iv], faces.age_hi[iv], contract)
        groups = [r for r, keep in zip(faces.race7, iv) if keep] if faces.race7 and any(faces.race7) else \
            [contract.race_labels[r] if h else "" for r, h in zip(faces.race[iv], faces.has_race[iv])]
        out["age_bins"]["direction_by_bin_race"] = M.bin_direction_table(age[iv], faces.age_lo[iv],
                                                                         faces.age_hi[iv], groups)
    if faces.has_gender.any():
        g = faces.has_gender
        out["gender"] = M.gender_metrics(p_female[g], faces.gender[g].astype(np.int64))
    if "race" in outputs and faces.has_race.any():
        r = faces.has_race
        out["race"] = M.race_metrics(outputs["race"][r], faces.race[r].astype(np.int64), contract.race_labels)
        if faces.race7 and any(faces.race7):
            race7 = [name for name, keep in zip(faces.race7, r) if keep]
            out["race"]["by_race7"] = M.race7_metrics(outputs["race"][r], faces.race[r].astype(np.int64), race7,
                                                      contract.race_labels)
    # fairness: per race, gender, age band
    age_err = np.where(exact, np.abs(age - np.asarray(true_age)), np.nan)
    gender_hit = np.where(faces.has_gender, (p_female > 0.5) == (faces.gender == 1), False)
    mid = (faces.age_lo + faces.age_hi) / 2
    groups = {}
    for i, name in enumerate(contract.race_labels):
        groups[f"race:{name}"] = faces.has_race & (faces.race == i)
    if faces.race7 and any(faces.race7):
        for name in sorted({r for r in faces.race7 if r}):
            groups[f"race7:{name}"] = np.array([r == name for r in faces.race7])
    for i, name in enumerate(contract.gender_labels):
        groups[f"gender:{name}"] = faces.has_gender & (faces.gender == i)
    for band in M.AGE_BANDS:
        groups[f"age:{M.band_name(band)}"] = (mid >= band[0]) & (mid <= band[1] + 0.99)
    out["subgroups"] = M.subgroup_table(groups, age_err if exact.any() else None, gender_hit)
    for prefix in ("race:", "race7:"):
        accs = [r["gender_accuracy"] for k, r in out["subgroups"]["rows"].items()
                if k.startswith(prefix) and r["n"] >= 20 and "gender_accuracy" in r]
        if len(accs) >= 2:
            out.setdefault("gender", {})[f"gap_over_{prefix[:-1]}"] = float(max(accs) - min(accs))
    adult_gap = _adult_gender_gap_over_race7(groups, mid >= 20, gender_hit, faces.has_gender)
    if adult_gap is not None and "gender" in out:
        out["gender"]["gap_over_race7_adults"] = adult_gap
    _add_age_checks(out, outputs, faces, contract, np.asarray(true_age, np.float64), groups, gate)
    return out


def _add_age_checks(out: dict, outputs: dict, faces: LabeledFaces, contract: ModelContract, true_age: np.ndarray,
                    groups: dict, gate) -> None:
    """The Challenge-T tables (always) and, with a gate, its rates."""
    from edge.age_gate import Calibration
    from train.age_verification import verification_metrics
    from train.gate_calibration import gate_metrics

    age, dist = outputs["age"].reshape(-1), outputs.get("age_dist")
    exact = faces.has_exact_age
    check_groups = {k.split(":", 1)[1] if k.startswith("gender:") else k: v for k, v in groups.items()
                    if k.startswith(("gender:", "race:"))}
    calibration = Calibration.from_contract(contract)
    out["age_verification"] = verification_metrics(age, dist, faces.age_lo, faces.age_hi, exact, true_age,
                                                    check_groups, temperature=calibration.temperature
                                                    if calibration.fitted else 1.0)
    if gate is not None and dist is not None:
        out["age_gate"] = gate_metrics(age, dist, faces.age_lo, faces.age_hi, exact, true_age, check_groups, gate)


def _adult_gender_gap_over_race7(groups: dict, adult: np.ndarray, hit: np.ndarray, labelled: np.ndarray,
                                 min_faces: int = 20) -> Optional[float]:
    """The gender gap over race7 among faces aged 20 and up: children are harder for every group, so this
    separates a group's own gap from a difference in age mix."""
    accs = []
    for name, member in groups.items():
        sel = member & adult & labelled
        if name.startswith("race7:") and sel.sum() >= min_faces:
            accs.append(hit[sel].mean())
    return float(max(accs) - min(accs)) if len(accs) >= 2 else None


def evaluate(model: LoadedModel, data: str, split: str = "test", limit: int = 0, batch_size: int = 64,
             flip_tta: bool = False, images: Optional[np.ndarray] = None, gate=None) -> EvalResult:
    from train.cache import decode_chips

    faces = read_source(data, split)
    if limit and len(faces) > limit:
        faces = faces.subset(np.sort(np.random.default_rng(0).choice(len(faces), limit, replace=False)))
    if images is None:
        images, ok = decode_chips(faces.paths, model.contract.input_size)
        if not ok.all():
            faces, images = faces.subset(ok), images[ok]
    if model.contract.color_order == "BGR":
        images = images[..., ::-1]
    t = time.perf_counter()
    outputs = run_model(model, images, batch_size, flip_tta)
    seconds = time.perf_counter() - t
    result = EvalResult(str(model.path), str(data), split, compute_metrics(outputs, faces, model.contract, gate),
                        outputs, faces, seconds)
    result.metrics["flip_tta"] = flip_tta
    result.metrics["n"] = len(faces)
    return result


# ---------------------------------------------------------------------------- framing check
def framing_check(model: LoadedModel, data: str, split: str, detector_name: str = "yunet",
                  models_dirs: tuple[str, ...] = (), limit: int = 0, pad_ratio: float = 0.5) -> dict:
    """The product path (detector + alignment + model) on chips padded with a wide border,
    against the same chips fed directly. Differences measure the runtime's framing."""
    import cv2

    from edge.vision.align import Aligner, central_detection, pad_chip
    from edge.vision.detectors import DetectorConfig, create_detector

    faces = read_source(data, split)
    if limit and len(faces) > limit:
        faces = faces.subset(np.sort(np.random.default_rng(0).choice(len(faces), limit, replace=False)))
    detector = create_detector(detector_name, DetectorConfig(score_threshold=0.5, min_face=10), None, models_dirs)
    aligner = Aligner(model.contract, detector.name)
    size = model.contract.input_size
    direct, aligned, found = [], [], []
    for p in faces.paths:
        chip = cv2.imread(p)
        if chip is None:
            found.append(False)
            direct.append(np.zeros((size, size, 3), np.uint8)); aligned.append(direct[-1])
            continue
        ref = cv2.resize(chip, (size, size), interpolation=cv2.INTER_AREA)[..., ::-1]
        padded, _ = pad_chip(chip, pad_ratio)
        det = central_detection(detector.detect(padded), padded.shape)
        found.append(det is not None)
        direct.append(ref)
        aligned.append(aligner.align(padded, [det])[0] if det is not None else ref)
    found_arr = np.array(found)
    out_direct = run_model(model, np.stack(direct))
    out_aligned = run_model(model, np.stack(aligned))
    sub = faces.subset(found_arr)
    pick = lambda o: {k: v[found_arr] for k, v in o.items()}  # noqa: E731
    m_direct = compute_metrics(pick(out_direct), sub, model.contract)
    m_aligned = compute_metrics(pick(out_aligned), sub, model.contract)
    res = {"detector": detector.name, "n": len(faces), "detected": int(found_arr.sum()), "pad_ratio": pad_ratio}
    if "age" in m_direct:
        res["age_mae_direct"] = m_direct["age"]["mae"]
        res["age_mae_pipeline"] = m_aligned["age"]["mae"]
        res["age_mae_delta"] = m_aligned["age"]["mae"] - m_direct["age"]["mae"]
    if "gender" in m_direct:
        res["gender_acc_direct"] = m_direct["gender"]["accuracy"]
        res["gender_acc_pipeline"] = m_aligned["gender"]["accuracy"]
        res["gender_acc_delta_pp"] = 100 * (m_aligned["gender"]["accuracy"] - m_direct["gender"]["accuracy"])
    return res


# ---------------------------------------------------------------------------- CLI
def run_evaluate(args: argparse.Namespace) -> int:
    from train.report import write_report

    model = load_model_for_eval(args.model, args.backend, args.threads)
    gate = None
    if args.age_gate:
        from edge.age_gate import AgeGate, GateSettings

        gate = AgeGate(GateSettings(args.age_gate, args.legal_age, args.gate_risk), model.contract, str(model.path))
    result = evaluate(model, args.data, args.split, args.limit, args.batch_size, args.flip_tta, gate=gate)
    if args.framing_check:
        result.metrics["framing"] = framing_check(model, args.data, args.split, args.detector,
                                                  tuple(args.models_dir), args.limit)
    if getattr(args, "gate_quality", False):
        if gate is None:
            raise AgeGenderError("--gate-quality needs --age-gate T")
        from train.cache import decode_chips
        from train.gate_quality import quality_study

        images, _ = decode_chips(result.faces.paths, model.contract.input_size)
        result.metrics["gate_quality"] = quality_study(lambda x: run_model(model, x), result.faces, images, gate,
                                                       tuple(args.models_dir))
    if args.stability:
        from train.stability import sample_chips

        chips, _ = sample_chips(result.faces.paths, args.stability)
        result.metrics["stability"] = model_stability(model, chips).as_dict()
    summary = summarize(result.metrics)
    print(json.dumps(summary, indent=2))
    if args.out:
        write_report(result, Path(args.out), history=args.history)
        log.info("report written to %s", args.out)
    return 0


def summarize(m: dict) -> dict:
    s: dict = {"n": m.get("n")}
    if "age" in m:
        s.update(age_mae=round(m["age"]["mae"], 3), cs5=round(m["age"]["cs5"], 4),
                 adience_exact=round(m["age"]["adience_exact"], 4), adience_one_off=round(m["age"]["adience_one_off"], 4))
        worst = (m["age"].get("bias_by_band_race") or {}).get("worst")
        if worst:
            s["age_bias_worst_cell"] = {"band": worst["band"], "race": worst["race"], "n": worst["n"],
                                        "mean_signed": round(worst["mean_signed"], 2)}
    if "age_bins" in m:
        s.update(age_bin_acc=round(m["age_bins"]["bin_accuracy"], 4), age_bin_one_off=round(m["age_bins"]["bin_one_off"], 4))
    if "gender" in m:
        s.update(gender_acc=round(m["gender"]["accuracy"], 4), gender_auc=round(m["gender"]["roc_auc"], 4),
                 gender_ece=round(m["gender"]["ece"], 4))
        for k in ("gap_over_race", "gap_over_race7", "gap_over_race7_adults"):
            if k in m["gender"]:
                s[f"gender_{k}"] = round(m["gender"][k], 4)
    if "race" in m:
        s["race_acc"] = round(m["race"]["accuracy"], 4)
    if "age_verification" in m:
        from train.age_verification import summary_row

        av = m["age_verification"]
        s["age_verification"] = {k: round(v, 4) for k, v in
                                 {**summary_row(av.get("exact", {})), **summary_row(av.get("bins", {}))}.items()
                                 if v is not None}
    if "age_gate" in m:
        g = m["age_gate"]
        s["age_gate"] = {"settings": g["settings"], **{k: g["exact"][k]["rate"] for k in
                                                     ("minors_passed", "adults_referred", "children_passed")
                                                     if "exact" in g}}
        if "bin_10_19_passed" in g:
            s["age_gate"]["bin_10_19_passed"] = g["bin_10_19_passed"]["rate"]
    if "framing" in m:
        s["framing"] = m["framing"]
    if "stability" in m:
        s["stability"] = {k: ({kk: round(vv, 4) for kk, vv in v.items()} if isinstance(v, dict) else v)
                          for k, v in m["stability"].items()}
    return s


def safe_summary(path: str, data: str, split: str, **kw) -> dict:
    """Evaluate and summarise, turning an error into a one-line note (for tables of many files)."""
    try:
        return summarize(evaluate(load_model_for_eval(path), data, split, **kw).metrics)
    except AgeGenderError as e:
        return {"error": str(e)}
