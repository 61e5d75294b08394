"""The model and detector behind the page, one analysis at a time, and the page's handlers (no Gradio)."""
from __future__ import annotations

import argparse
import dataclasses
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import numpy as np

from agegender.ui.uploads import load_upload
from edge.vision.analyzer import FaceAnalyzer
from edge.vision.decode import DecodeConfig
from edge.vision.draw import draw_faces
from edge.errors import AgeGenderError
from edge.live.defaults import STEADY_MODEL
from edge.types import Face, Prediction

log = logging.getLogger(__name__)

BACKENDS = ("auto", "tflite", "onnx", "openvino")
DETECTORS = ("auto", "yunet", "blazeface", "blazeface-full", "res10", "haar")


# ---------------------------------------------------------------------------- settings and results
@dataclass(frozen=True)
class Settings:
    """The page's controls."""

    model: str = ""                 # file path, or a shipped name (default, open, default-fp16); "" is the default
    backend: str = "auto"
    detector: str = "auto"
    gender_band: tuple[float, float] = (0.35, 0.65)
    race: bool = False
    age_gate: float = 0.0           # the age check's challenge age T; 0: off

    @classmethod
    def from_controls(cls, model: Any, backend: Any, detector: Any, band_low: Any, band_high: Any,
                      race: Any, age_gate: Any = 0) -> "Settings":
        low, high = float(band_low), float(band_high)
        if not 0.0 <= low <= high <= 1.0:
            raise AgeGenderError(f"gender band {low:.2f}–{high:.2f}: the low end must not be above the high end")
        gate = float(age_gate or 0)
        if gate and not 10 <= gate <= 60:
            raise AgeGenderError(f"age check at {gate:g}: choose a challenge age between 10 and 60, or 0 for off")
        return cls(model=str(model or "").strip(), backend=str(backend or "auto"), detector=str(detector or "auto"),
                   gender_band=(low, high), race=bool(race), age_gate=gate)


@dataclass(frozen=True)
class Analysis:
    """One analysed image: what the page shows."""

    faces: list[Face]
    annotated_rgb: np.ndarray
    headers: list[str]
    rows: list[list[str]]
    message: str

    def table(self) -> dict[str, Any]:
        return {"headers": self.headers, "data": self.rows}


def gender_text(p: Prediction) -> str:
    if p.gender == "undetermined":
        return "undetermined"
    return f"{p.gender.capitalize()}: {100 * p.gender_confidence:.1f}%"


def age_text(p: Prediction) -> str:
    lo, hi = p.age_range
    return f"{p.age:.0f} years, {lo:.0f}–{hi:.0f}"


def race_text(p: Prediction) -> str:
    if not p.race:
        return "–"
    best = max(p.race, key=p.race.get)
    return f"{best}: {100 * p.race[best]:.1f}%"


def gate_text(face: Face) -> str:
    g = face.gate
    if g is None:
        return "–"
    verdict = "OK (adult)" if g.gate == "adult" else "Please show ID"
    return f"{verdict}: P(minor) {100 * g.p_minor:.1f}%"


def table_headers(with_race: bool, with_gate: bool = False) -> list[str]:
    return (["Face"] + (["Age check"] if with_gate else []) + ["Age (80% interval)", "Age group", "Gender"]
            + (["Race"] if with_race else []))


def face_rows(faces: Sequence[Face], with_race: bool, with_gate: bool = False) -> list[list[str]]:
    rows = []
    for i, face in enumerate(faces, 1):
        p = face.prediction
        if p is None:
            continue
        row = [f"#{i}"] + ([gate_text(face)] if with_gate else []) + [age_text(p), p.age_group, gender_text(p)]
        if with_race:
            row.append(race_text(p))
        rows.append(row)
    return rows


def empty_table(with_race: bool = False, with_gate: bool = False) -> dict[str, Any]:
    return {"headers": table_headers(with_race, with_gate), "data": []}


# ---------------------------------------------------------------------------- the engine
ModelFactory = Callable[[argparse.Namespace], Any]


@dataclass
class Engine:
    """Keeps the current model and detector, rebuilds only the one whose control changed, and runs one
    analysis at a time (backends are not thread-safe). Model and detector are built by the CLI's own
    ``build_model`` / ``build_detector`` from a copy of the command-line arguments."""

    args: argparse.Namespace
    build_model: ModelFactory
    build_detector: ModelFactory
    fixed_model: bool = False        # ignore the page's model file and backend (a shared page)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _model: Any = field(default=None, repr=False)
    _model_key: Optional[tuple[str, str]] = None
    _detector: Any = field(default=None, repr=False)
    _detector_key: Optional[str] = None

    def initial_settings(self) -> Settings:
        from agegender.builders import parse_gender_band

        return Settings(model=str(self.args.model or ""), backend=self.args.backend, detector=self.args.detector,
                        gender_band=parse_gender_band(self.args.gender_band), race=bool(self.args.race),
                        age_gate=float(getattr(self.args, "age_gate", 0) or 0))

    @property
    def model_path(self) -> Optional[Path]:
        return getattr(self._model, "path", None)

    def _analyzer(self, s: Settings) -> FaceAnalyzer:
        if self.fixed_model:
            initial = self.initial_settings()
            s = dataclasses.replace(s, model=initial.model, backend=initial.backend)
        key = (s.model or STEADY_MODEL, s.backend)      # "" is the photo default
        if self._model is None or key != self._model_key:
            args = argparse.Namespace(**{**vars(self.args), "model": key[0], "backend": s.backend})
            self._model, self._model_key = self.build_model(args), key
            log.info("model: %s (%s)", self._model.path, s.backend)
        if self._detector is None or s.detector != self._detector_key:
            same = s.detector == self.args.detector
            args = argparse.Namespace(**{**vars(self.args), "detector": s.detector,
                                         "detector_model": self.args.detector_model if same else None})
            self._detector, self._detector_key = self.build_detector(args), s.detector
        decode = DecodeConfig(gender_band=s.gender_band, with_race=s.race)
        return FaceAnalyzer(self._detector, self._model, decode)

    def warm_up(self, settings: Optional[Settings] = None) -> None:
        """Load the initial model and detector, so a bad model fails at start, not on the first upload."""
        with self._lock:
            self._analyzer(settings or self.initial_settings())

    def analyze(self, image_bgr: np.ndarray, s: Settings) -> Analysis:
        import cv2

        t0 = time.perf_counter()
        with self._lock:
            analyzer = self._analyzer(s)
            faces = analyzer.analyze(image_bgr)
            detector = getattr(analyzer.detector, "name", "?")
            if s.age_gate:
                self._judge(faces, analyzer.model, s.age_gate)
        elapsed = time.perf_counter() - t0
        numbered = [dataclasses.replace(f, track_id=i) for i, f in enumerate(faces, 1)]
        annotated = draw_faces(image_bgr.copy(), numbered, s.race)
        n = len(faces)
        if n:
            message = f"{n} face{'s' if n > 1 else ''} found"
        else:
            message = "No face found. Try a larger, frontal, well-lit face, or another detector."
        message += f" ({detector} detector, {self.model_path.name if self.model_path else '?'}, {1000 * elapsed:.0f} ms)"
        gated = bool(s.age_gate)
        if gated:
            message += (f" · age check at {s.age_gate:g}: an aid to staff, never a replacement for an ID check")
        return Analysis(faces, cv2.cvtColor(annotated, cv2.COLOR_BGR2RGB), table_headers(s.race, gated),
                        face_rows(faces, s.race, gated), message)

    def _judge(self, faces: Sequence[Face], model: Any, challenge_age: float) -> None:
        from edge.age_gate import AgeGate, GateSettings

        gate = AgeGate(GateSettings(challenge_age, int(getattr(self.args, "legal_age", 18)),
                                    getattr(self.args, "gate_risk", None)), model.contract, str(model.path))
        for f in faces:
            if f.prediction is not None:
                f.gate = gate.judge(f.prediction.age, f.prediction.age_dist)


# ---------------------------------------------------------------------------- handlers (Gradio-free)
def analyze_payload(engine: Engine, payload: Any, *controls: Any
                    ) -> tuple[Optional[np.ndarray], Optional[np.ndarray], dict[str, Any], str]:
    """Upload or webcam photo -> (image kept for re-analysis, annotated RGB, table, message)."""
    try:
        settings = Settings.from_controls(*controls)
        image = load_upload(payload)
    except AgeGenderError as e:
        return None, None, empty_table(), f"Could not read the image: {e}"
    if image is None:
        return None, None, empty_table(), "Upload a photo or take one with the webcam."
    _, annotated, table, message = analyze_image(engine, image, settings)
    return image, annotated, table, message


def analyze_image(engine: Engine, image: Optional[np.ndarray], settings: Settings
                  ) -> tuple[Optional[np.ndarray], Optional[np.ndarray], dict[str, Any], str]:
    if image is None:
        return None, None, empty_table(settings.race), "Upload a photo or take one with the webcam."
    try:
        result = engine.analyze(image, settings)
    except AgeGenderError as e:
        log.warning("%s", e)
        return image, None, empty_table(settings.race), f"Error: {e}"
    return image, result.annotated_rgb, result.table(), result.message


def reanalyze(engine: Engine, image: Optional[np.ndarray], *controls: Any
              ) -> tuple[Optional[np.ndarray], dict[str, Any], str]:
    """The kept image again, after a control changed."""
    try:
        settings = Settings.from_controls(*controls)
    except AgeGenderError as e:
        return None, empty_table(), f"Error: {e}"
    _, annotated, table, message = analyze_image(engine, image, settings)
    return annotated, table, message
