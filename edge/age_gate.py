"""The age check: an "adult" / "ask_id" decision per face or per person, from the calibrated age
distribution, never from the point estimate alone.

A face is judged "adult" only if the model is confident it is not a minor, P(age < legal age) < alpha, *and*
its estimated age is at least the challenge age T (a "Challenge-25" policy asks for ID from anyone who looks
under 25). Everything else is "ask_id". The gate is an aid to staff: it refers people to an ID check, it never
replaces one.

P(minor) comes from the model's age distribution, sharpened or flattened by a temperature fitted on
validation faces for this very model file (`agegender calibrate`, stored in the contract's ``age_check``);
alpha per challenge age is chosen there too, so that at most 2% of validation minors pass. A file without a
calibration is gated with conservative defaults, and says so once.

In video a track is decided once, from several settled looks, and an "ask_id" never turns back into "adult".
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from edge.contract import ModelContract
from edge.errors import ConfigError

log = logging.getLogger(__name__)

ADULT, ASK_ID = "adult", "ask_id"
# Without a fitted calibration: the untuned probe of issue #27 (temperature 2, alpha 5%) halved, so that an
# uncalibrated model errs towards asking for ID.
UNCALIBRATED_TEMPERATURE = 2.0
UNCALIBRATED_RISK = 0.025
SHARPNESS_SIDE = 112   # crops are scored for sharpness at this size


@dataclass
class GateSettings:
    """What the operator chooses (``--age-gate``, ``--legal-age``, ``--gate-risk``) and the per-person rules."""

    challenge_age: float                  # T: "adult" needs an estimate of at least this
    legal_age: int = 18                   # P(minor) = P(age < legal_age)
    risk: Optional[float] = None          # alpha; None: the model's calibrated value for T
    looks: int = 8                        # a track is decided after this many classified, usable frames
    min_face: float = 0.0                 # face width in frame pixels under which a look is not usable
    max_yaw: float = 0.0                  # |yaw proxy| above which a look is not usable (0: off)
    min_sharpness: float = 0.0            # variance of the Laplacian of the face crop under which ... (0: off)

    def __post_init__(self) -> None:
        if not 10 <= self.challenge_age <= 60:
            raise ConfigError(f"age gate {self.challenge_age:g}: choose a challenge age between 10 and 60 (e.g. 25)")
        if not 10 <= self.legal_age <= self.challenge_age:
            raise ConfigError(f"legal age {self.legal_age}: must lie between 10 and the challenge age "
                              f"{self.challenge_age:g}")
        if self.risk is not None and not 0 < self.risk < 0.5:
            raise ConfigError(f"gate risk {self.risk:g}: must lie between 0 and 0.5 (e.g. 0.02)")
        if self.looks < 1:
            raise ConfigError("gate looks must be at least 1")


@dataclass
class GateDecision:
    gate: str                  # "adult" | "ask_id"
    p_minor: float             # calibrated P(age < legal age)
    reason: str                # why, in a few words
    evidence: int = 1          # looks behind the decision
    final: bool = True         # False while a track is still collecting looks (then gate is "ask_id")

    def to_json(self) -> dict:
        return {"gate": self.gate, "p_minor": round(float(self.p_minor), 4), "gate_reason": self.reason,
                "gate_evidence": int(self.evidence), "gate_final": bool(self.final)}


@dataclass
class Calibration:
    """The contract's ``age_check`` block, read."""

    temperature: float = UNCALIBRATED_TEMPERATURE
    legal_age: int = 18
    risk: dict[str, float] = field(default_factory=dict)   # challenge age (str) -> alpha
    fitted: bool = False

    @classmethod
    def from_contract(cls, contract: ModelContract) -> "Calibration":
        block = contract.age_check or {}
        if not block.get("temperature"):
            return cls()
        return cls(float(block["temperature"]), int(block.get("legal_age", 18)),
                   {str(k): float(v) for k, v in (block.get("risk") or {}).items()}, True)

    def risk_for(self, challenge_age: float, legal_age: int) -> float:
        """alpha for T: the fitted value for the largest calibrated T at or below it (a lower T passes more
        faces, so its alpha is the stricter one); the uncalibrated default otherwise."""
        if not self.fitted or legal_age != self.legal_age:
            return UNCALIBRATED_RISK
        known = sorted((float(t), a) for t, a in self.risk.items() if float(t) <= challenge_age)
        return known[-1][1] if known else UNCALIBRATED_RISK


def tempered(dist: np.ndarray, temperature: float) -> np.ndarray:
    """The age distribution(s) with logits divided by ``temperature`` (> 1 flattens, < 1 sharpens)."""
    logd = np.log(np.clip(np.asarray(dist, np.float64), 1e-12, None)) / temperature
    logd -= logd.max(axis=-1, keepdims=True)
    e = np.exp(logd)
    return e / e.sum(axis=-1, keepdims=True)


def p_minor(dist: np.ndarray, legal_age: int, temperature: float = 1.0) -> np.ndarray:
    """P(age < legal_age) per distribution over whole years 0..age_max (bin a covers a - 0.5 .. a + 0.5)."""
    return tempered(dist, temperature)[..., :legal_age].sum(axis=-1)


def decide(p: float, age: float, challenge_age: float, risk: float) -> tuple[str, str]:
    """The rule for one face (or one track's pooled evidence): (gate, reason)."""
    if p >= risk:
        return ASK_ID, f"P(minor) {p:.3f} not under {risk:g}"
    if age < challenge_age:
        return ASK_ID, f"looks under {challenge_age:g} ({age:.0f})"
    return ADULT, f"looks {challenge_age:g}+ and P(minor) {p:.3f} < {risk:g}"


@dataclass
class LookQuality:
    """What makes one look at a face too weak for an age check."""

    face_width: float = 0.0     # frame pixels
    yaw: float = 0.0            # landmark yaw proxy: nose offset from the eye midpoint / eye distance
    sharpness: float = float("inf")  # variance of the Laplacian of the aligned crop

    def problem(self, settings: GateSettings) -> Optional[str]:
        if settings.min_face and self.face_width < settings.min_face:
            return f"face too small ({self.face_width:.0f} px < {settings.min_face:g})"
        if settings.max_yaw and abs(self.yaw) > settings.max_yaw:
            return f"face turned (yaw {self.yaw:+.2f})"
        if settings.min_sharpness and self.sharpness < settings.min_sharpness:
            return f"face blurred (sharpness {self.sharpness:.0f} < {settings.min_sharpness:g})"
        return None


def yaw_proxy(landmarks: Optional[dict[str, np.ndarray]]) -> float:
    """How far the nose sits off the eye midpoint, in eye distances: about 0 frontal, +/-0.3 at a 3/4 view."""
    if not landmarks or not {"right_eye", "left_eye", "nose"} <= set(landmarks):
        return 0.0
    r, left, nose = (np.asarray(landmarks[k], np.float64) for k in ("right_eye", "left_eye", "nose"))
    axis = left - r
    d = float(np.linalg.norm(axis))
    if d < 1e-6:
        return 0.0
    return float(np.dot(nose - (r + left) / 2, axis / d) / d)


def sharpness(crop: np.ndarray) -> float:
    """Variance of the Laplacian of a crop's grey image at a fixed size (low: blurred); the same face at any
    size scores alike."""
    import cv2

    grey = cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2GRAY) if crop.ndim == 3 else crop
    grey = cv2.resize(grey, (SHARPNESS_SIDE, SHARPNESS_SIDE), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


class AgeGate:
    """The rule and the model's calibration; :meth:`judge` decides one look (a photo)."""

    def __init__(self, settings: GateSettings, contract: ModelContract, model_name: str = "model"):
        self.settings = settings
        self.calibration = Calibration.from_contract(contract)
        if not self.calibration.fitted:
            log.warning("%s has no age-check calibration (agegender calibrate): gating conservatively, "
                        "temperature %.1f and P(minor) < %.3f", model_name, UNCALIBRATED_TEMPERATURE, UNCALIBRATED_RISK)
        elif settings.legal_age != self.calibration.legal_age:
            log.warning("%s was calibrated for legal age %d, not %d: gating conservatively", model_name,
                        self.calibration.legal_age, settings.legal_age)
        self.risk = settings.risk if settings.risk is not None else \
            self.calibration.risk_for(settings.challenge_age, settings.legal_age)

    @property
    def temperature(self) -> float:
        return self.calibration.temperature if self.settings.legal_age == self.calibration.legal_age \
            else UNCALIBRATED_TEMPERATURE

    def p_minor(self, dist: np.ndarray) -> float:
        return float(p_minor(dist, self.settings.legal_age, self.temperature))

    def judge(self, age: float, dist: Optional[np.ndarray], quality: Optional[LookQuality] = None) -> GateDecision:
        if dist is None:
            return GateDecision(ASK_ID, 1.0, "the model gives no age distribution")
        p = self.p_minor(dist)
        problem = quality.problem(self.settings) if quality is not None else None
        if problem:
            return GateDecision(ASK_ID, p, problem, 0)
        gate, reason = decide(p, age, self.settings.challenge_age, self.risk)
        return GateDecision(gate, p, reason)

    def describe(self) -> dict:
        return {"challenge_age": self.settings.challenge_age, "legal_age": self.settings.legal_age,
                "risk": self.risk, "temperature": self.temperature, "calibrated": self.calibration.fitted,
                "looks": self.settings.looks}


@dataclass
class _TrackEvidence:
    p_minor: list = field(default_factory=list)
    ages: list = field(default_factory=list)
    rejected: list = field(default_factory=list)
    decision: Optional[GateDecision] = None
    reported: bool = False


class TrackGates:
    """Per-person decisions in video: a track collects ``looks`` usable looks (classified frames whose face is
    large, frontal and sharp enough), then is decided once from their mean P(minor) and median age. The
    decision sticks for the life of the track. A track that sees only unusable looks is decided "ask_id" with
    the reason after ``2 * looks`` of them."""

    def __init__(self, gate: AgeGate):
        self.gate = gate
        self._tracks: dict[int, _TrackEvidence] = {}

    def observe(self, track_id: int, age: float, dist: Optional[np.ndarray],
                quality: Optional[LookQuality] = None) -> GateDecision:
        ev = self._tracks.setdefault(track_id, _TrackEvidence())
        if ev.decision is not None:
            return ev.decision
        look = self.gate.judge(age, dist, quality)
        if look.evidence == 0 or dist is None:
            ev.rejected.append(look.reason)
        else:
            ev.p_minor.append(look.p_minor)
            ev.ages.append(age)
        need = self.gate.settings.looks
        if len(ev.p_minor) >= need:
            p, a = float(np.mean(ev.p_minor)), float(np.median(ev.ages))
            gate, reason = decide(p, a, self.gate.settings.challenge_age, self.gate.risk)
            ev.decision = GateDecision(gate, p, reason, len(ev.p_minor))
            return ev.decision
        if len(ev.rejected) >= 2 * need:
            ev.decision = GateDecision(ASK_ID, float(np.mean(ev.p_minor)) if ev.p_minor else look.p_minor,
                                       ev.rejected[-1], len(ev.p_minor))
            return ev.decision
        return self._pending(ev)

    def _pending(self, ev: _TrackEvidence) -> GateDecision:
        p = float(np.mean(ev.p_minor)) if ev.p_minor else 1.0
        need = self.gate.settings.looks
        return GateDecision(ASK_ID, p, f"deciding: {len(ev.p_minor)} of {need} looks", len(ev.p_minor), final=False)

    def current(self, track_id: int) -> Optional[GateDecision]:
        """The track's final decision, if it has one."""
        ev = self._tracks.get(track_id)
        return None if ev is None else ev.decision

    def pending(self, track_id: int) -> GateDecision:
        """What a frame without a new look shows for an undecided track: "ask_id", not final."""
        return self._pending(self._tracks.setdefault(track_id, _TrackEvidence()))

    def newly_decided(self, track_id: int) -> bool:
        """True once, the first time it is asked after the track's decision (for per-person counts)."""
        ev = self._tracks.get(track_id)
        if ev is None or ev.decision is None or ev.reported:
            return False
        ev.reported = True
        return True

    def forget(self, track_ids) -> list[GateDecision]:
        """Drop ended tracks; returns their final decisions (for per-person counts)."""
        out = []
        for tid in track_ids:
            ev = self._tracks.pop(tid, None)
            if ev is not None and ev.decision is not None:
                out.append(ev.decision)
        return out

