"""The model contract: the one source of truth for how a model is fed and read.

A contract travels with every model file, as ``<model>.json`` beside it and, where the
format allows, inside the file's own metadata. ``train/`` and ``export/`` write it;
``edge/`` reads it. Nothing here imports anything heavier than the standard library.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

from edge.errors import ContractError

SCHEMA_VERSION = 1
METADATA_KEY = "agegender_contract"

# Landmark positions (fractions of the chip's side) that each detector finds on aligned
# training chips, and where the chip sits relative to each detector's box: measured by
# `agegender align-template` on 2,000 UTKFace training chips (see edge/vision/align.py); the box
# crop is (dx, dy, side) as edge.vision.align.box_matrix reads it. The FairFace copy
# in ../shared shares UTKFace's chip framing. Written into every model's contract.
MEASURED_TEMPLATES: dict[str, dict[str, list[float]]] = {
    "yunet": {
        "right_eye": [0.2828, 0.2875],
        "left_eye": [0.6786, 0.2872],
        "nose": [0.4701, 0.5282],
        "mouth_right": [0.3144, 0.6809],
        "mouth_left": [0.6608, 0.6785],
        "mouth_center": [0.4871, 0.6798],
    },
    "blazeface": {
        "right_eye": [0.3058, 0.2936],
        "left_eye": [0.6933, 0.3008],
        "nose": [0.5001, 0.5286],
        "mouth_center": [0.4938, 0.7155],
        "right_ear": [0.0911, 0.3637],
        "left_ear": [0.8948, 0.374],
    },
    "blazeface-full": {
        "right_eye": [0.292, 0.2964],
        "left_eye": [0.6894, 0.294],
        "nose": [0.495, 0.5443],
        "mouth_center": [0.4939, 0.7224],
        "right_ear": [0.0883, 0.3784],
        "left_ear": [0.8947, 0.3688],
    },
}
MEASURED_BOX_CROPS: dict[str, list[float]] = {
    "yunet": [0.0027, 0.1107, 1.0087],
    "blazeface": [0.0045, 0.0005, 1.0757],
    "blazeface-full": [0.0067, 0.0381, 1.0001],
    "res10": [0.0101, 0.127, 0.9824],
    "haar": [0.0046, 0.085, 0.9709],
}

ADIENCE_GROUPS: tuple[tuple[int, Optional[int]], ...] = (
    (0, 2), (4, 6), (8, 13), (15, 20), (25, 32), (38, 43), (48, 53), (60, None))
DECADE_GROUPS: tuple[tuple[int, Optional[int]], ...] = (
    (0, 9), (10, 19), (20, 29), (30, 39), (40, 49), (50, 59), (60, 69), (70, None))
FAIRFACE_GROUPS: tuple[tuple[int, Optional[int]], ...] = (
    (0, 2), (3, 9), (10, 19), (20, 29), (30, 39), (40, 49), (50, 59), (60, 69), (70, None))

OUTPUT_MEANINGS = {
    "age": "expected age in years, shape (N, 1), float",
    "age_dist": "probability over ages 0..age_max years (last bin means age_max and older), shape (N, age_max+1)",
    "gender": "probability that the face is female, shape (N, 1)",
    "race": "probabilities over race_labels, shape (N, len(race_labels))",
}
# A "float tail" export ends at the logits: the runtime applies softmax, sigmoid and the expectation in
# float32, so an INT8 file does not round a 101-bin softmax to 1/256 steps.
FLOAT_TAIL_OUTPUT_MEANINGS = {
    "age_logits": "logits over ages 0..age_max years, shape (N, age_max+1); softmax them for age_dist",
    "gender_logit": "logit of p(female), shape (N, 1); sigmoid it for gender",
    "race_logits": "logits over race_labels, shape (N, len(race_labels)); softmax them for race",
}


def group_label(group: Sequence[Optional[int]]) -> str:
    lo, hi = group
    return f"{lo}+" if hi is None else f"{lo}-{hi}"


@dataclass
class ModelContract:
    """How to feed a model and how to read its outputs."""

    name: str = "agegender"
    input_size: int = 96
    color_order: str = "RGB"
    input_dtype: str = "uint8"
    input_range: tuple[int, int] = (0, 255)
    normalization: str = "inside the model: x / 127.5 - 1"
    layout: str = "NHWC"
    input_name: str = "image"
    outputs: dict[str, str] = field(default_factory=lambda: dict(OUTPUT_MEANINGS))
    age_max: int = 100
    gender_labels: tuple[str, str] = ("male", "female")
    race_labels: tuple[str, ...] = ("White", "Black", "Asian", "Indian", "Others")
    age_groups: dict[str, list[list[Optional[int]]]] = field(default_factory=lambda: {
        "adience": [list(g) for g in ADIENCE_GROUPS],
        "decades": [list(g) for g in DECADE_GROUPS],
        "fairface": [list(g) for g in FAIRFACE_GROUPS],
    })
    alignment_templates: dict[str, dict[str, list[float]]] = field(
        default_factory=lambda: {k: {n: list(p) for n, p in v.items()} for k, v in MEASURED_TEMPLATES.items()})
    box_crops: dict[str, list[float]] = field(
        default_factory=lambda: {k: list(v) for k, v in MEASURED_BOX_CROPS.items()})
    precision: str = "fp32"
    # The age check's calibration of P(age < legal age), fitted on val by `agegender calibrate` for this very
    # file (edge/age_gate.py reads it): {"legal_age", "temperature", "risk": {challenge age: alpha}, "fitted_on",
    # "val": {...}}. Empty: the gate runs with conservative defaults and warns.
    age_check: dict[str, Any] = field(default_factory=dict)
    # Inference-time correction of the training age prior (edge/vision/decode.py): {"tau", "prior": [...]};
    # the age distribution becomes dist * prior**-tau, renormalised. Empty: off.
    age_prior: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    licence: str = "unspecified"
    schema_version: int = SCHEMA_VERSION

    # ------------------------------------------------------------------ serialisation
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["input_range"] = list(self.input_range)
        d["gender_labels"] = list(self.gender_labels)
        d["race_labels"] = list(self.race_labels)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "contract") -> "ModelContract":
        if not isinstance(data, dict):
            raise ContractError(f"{source}: a contract must be a JSON object")
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise ContractError(
                f"{source}: contract schema_version {version!r} is not supported (this runtime reads {SCHEMA_VERSION})")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ContractError(f"{source}: unknown contract key(s) {', '.join(unknown)}")
        kwargs = dict(data)
        for key in ("input_range", "gender_labels", "race_labels"):
            if key in kwargs:
                kwargs[key] = tuple(kwargs[key])
        contract = cls(**kwargs)
        contract.validate(source)
        return contract

    @classmethod
    def from_json(cls, text: str, source: str = "contract") -> "ModelContract":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ContractError(f"{source}: not valid JSON ({e.msg} at line {e.lineno})") from e
        return cls.from_dict(data, source)

    def validate(self, source: str = "contract") -> None:
        if not (16 <= int(self.input_size) <= 1024):
            raise ContractError(f"{source}: input_size {self.input_size} is out of range")
        if self.color_order not in ("RGB", "BGR"):
            raise ContractError(f"{source}: color_order must be RGB or BGR, not {self.color_order!r}")
        if self.layout != "NHWC":
            raise ContractError(f"{source}: only NHWC layout is supported, not {self.layout!r}")
        if not {"age", "age_dist", "age_logits"} & set(self.outputs):
            raise ContractError(f"{source}: the contract names no age output")
        if len(self.gender_labels) != 2:
            raise ContractError(f"{source}: gender_labels must have two entries")
        for det, template in self.alignment_templates.items():
            missing = [n for n in ("right_eye", "left_eye") if n not in template]
            if missing:
                raise ContractError(f"{source}: alignment template {det!r} lacks {', '.join(missing)}")

    # ------------------------------------------------------------------ age groups
    def groups(self, scheme: str = "adience") -> list[tuple[int, Optional[int]]]:
        try:
            return [(int(lo), None if hi is None else int(hi)) for lo, hi in self.age_groups[scheme]]
        except KeyError as e:
            raise ContractError(f"unknown age-group scheme {scheme!r}; known: {', '.join(self.age_groups)}") from e

    def group_index(self, age: float, scheme: str = "adience") -> int:
        """Index of the group an age falls in; ages in a gap go to the nearest group."""
        groups = self.groups(scheme)
        best, best_dist = 0, math.inf
        for i, (lo, hi) in enumerate(groups):
            top = math.inf if hi is None else hi + 1  # a group lo-hi covers [lo, hi + 1) in real years
            dist = 0.0 if lo <= age < top else min(abs(age - lo), abs(age - top))
            if dist < best_dist:
                best, best_dist = i, dist
        return best

    def group_name(self, age: float, scheme: str = "adience") -> str:
        return group_label(self.groups(scheme)[self.group_index(age, scheme)])

    # ------------------------------------------------------------------ files
    def save_beside(self, model_path: str | Path) -> Path:
        path = contract_path_for(model_path)
        path.write_text(self.to_json() + "\n", encoding="utf-8")
        return path


def contract_path_for(model_path: str | Path) -> Path:
    """``models/agegender_int8.tflite`` -> ``models/agegender_int8.tflite.json``.

    The whole file name is kept so that ``x_int8.tflite`` and ``x_int8.onnx`` in one
    folder each get their own contract.
    """
    p = Path(model_path)
    return p.with_name(p.name + ".json")


def load_contract_beside(model_path: str | Path) -> Optional[ModelContract]:
    path = contract_path_for(model_path)
    if not path.is_file():
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ContractError(f"{path}: cannot read contract ({e.strerror})") from e
    return ModelContract.from_json(text, str(path))
