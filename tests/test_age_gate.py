"""The age check: P(minor) and its calibration, the decision rule, per-track decisions, and what the outputs carry."""
import json
import logging

import numpy as np
import pytest

from edge.age_gate import (
    ADULT,
    ASK_ID,
    UNCALIBRATED_RISK,
    AgeGate,
    Calibration,
    GateSettings,
    LookQuality,
    TrackGates,
    decide,
    p_minor,
    sharpness,
    tempered,
    yaw_proxy,
)
from edge.contract import ModelContract
from edge.errors import ConfigError


def dist_at(age: float, width: float) -> np.ndarray:
    d = np.exp(-0.5 * ((np.arange(101) - age) / width) ** 2)
    return (d / d.sum()).astype(np.float32)


def calibrated_contract(temperature=1.0, risk=None) -> ModelContract:
    c = ModelContract()
    c.age_check = {"legal_age": 18, "temperature": temperature, "risk": risk or {"18": 0.01, "21": 0.02, "25": 0.05}}
    return c


def test_p_minor_is_the_mass_under_the_legal_age_and_temperature_flattens_it():
    d = dist_at(25, 3)
    p1 = float(p_minor(d, 18, 1.0))
    assert p1 == pytest.approx(d[:18].sum(), rel=1e-5)
    assert float(p_minor(d, 18, 2.0)) > p1 > float(p_minor(d, 18, 0.5))
    np.testing.assert_allclose(tempered(np.stack([d, d]), 1.7).sum(1), 1.0, rtol=1e-6)


def test_decision_needs_both_a_low_p_minor_and_an_estimate_of_at_least_t():
    assert decide(0.001, 30, 25, 0.02)[0] == ADULT
    assert decide(0.001, 24, 25, 0.02)[0] == ASK_ID            # looks under T
    gate, reason = decide(0.05, 40, 25, 0.02)
    assert gate == ASK_ID and "P(minor)" in reason             # not confident enough
    with pytest.raises(ConfigError):
        GateSettings(25, legal_age=30)
    with pytest.raises(ConfigError):
        GateSettings(25, risk=0.7)


def test_calibration_from_the_contract_and_risk_per_challenge_age():
    cal = Calibration.from_contract(calibrated_contract(1.5))
    assert cal.fitted and cal.temperature == 1.5
    assert cal.risk_for(25, 18) == 0.05 and cal.risk_for(23, 18) == 0.02   # the stricter lower T
    assert cal.risk_for(17, 18) == UNCALIBRATED_RISK                        # below every calibrated T
    assert cal.risk_for(25, 21) == UNCALIBRATED_RISK                        # another legal age
    assert not Calibration.from_contract(ModelContract()).fitted


def test_an_uncalibrated_model_is_gated_conservatively_and_says_so(caplog):
    with caplog.at_level(logging.WARNING):
        gate = AgeGate(GateSettings(25), ModelContract(), "m.tflite")
    assert "no age-check calibration" in caplog.text and gate.risk == UNCALIBRATED_RISK
    calibrated = AgeGate(GateSettings(25), calibrated_contract(), "m.tflite")
    assert calibrated.risk == 0.05
    assert AgeGate(GateSettings(25, risk=0.001), calibrated_contract()).risk == 0.001   # the operator's alpha wins


def test_judge_one_photo_and_refuse_without_a_distribution():
    gate = AgeGate(GateSettings(25), calibrated_contract())
    assert gate.judge(40.0, dist_at(40, 3)).gate == ADULT
    assert gate.judge(16.0, dist_at(16, 3)).gate == ASK_ID
    d = gate.judge(30.0, None)
    assert d.gate == ASK_ID and "no age distribution" in d.reason
    small = gate.judge(40.0, dist_at(40, 3), LookQuality(face_width=30))
    assert small.gate == ADULT                                # no quality rule set: a photo is judged as it is
    strict = AgeGate(GateSettings(25, min_face=64), calibrated_contract())
    assert "too small" in strict.judge(40.0, dist_at(40, 3), LookQuality(face_width=30)).reason


def test_a_track_is_decided_once_after_n_looks_and_never_flips():
    gates = TrackGates(AgeGate(GateSettings(25, looks=4), calibrated_contract()))
    for i in range(3):
        d = gates.observe(1, 40.0, dist_at(40, 3))
        assert not d.final and d.gate == ASK_ID and f"{i + 1} of 4" in d.reason
    final = gates.observe(1, 40.0, dist_at(40, 3))
    assert final.final and final.gate == ADULT and final.evidence == 4
    assert gates.newly_decided(1) and not gates.newly_decided(1)
    # a later look that reads as a child does not turn the decision over
    assert gates.observe(1, 12.0, dist_at(12, 2)).gate == ADULT
    # a minor: ask_id sticks even if later looks read older
    for _ in range(4):
        gates.observe(2, 15.0, dist_at(15, 2))
    assert gates.current(2).gate == ASK_ID
    for _ in range(10):
        assert gates.observe(2, 45.0, dist_at(45, 3)).gate == ASK_ID
    assert [d.gate for d in gates.forget([1, 2, 3])] == [ADULT, ASK_ID]
    assert gates.current(1) is None


def test_mixed_looks_are_pooled_not_decided_by_the_last_one():
    gates = TrackGates(AgeGate(GateSettings(25, looks=4), calibrated_contract()))
    looks = [dist_at(40, 3)] * 3 + [dist_at(16, 2)]      # one look reads as a minor: mean P(minor) ~0.25
    for d in looks:
        out = gates.observe(1, 35.0, d)
    assert out.final and out.gate == ASK_ID


def test_a_track_with_only_unusable_looks_is_asked_for_id_with_the_reason():
    gates = TrackGates(AgeGate(GateSettings(25, looks=3, min_face=64), calibrated_contract()))
    for _ in range(5):
        d = gates.observe(7, 40.0, dist_at(40, 3), LookQuality(face_width=40))
        assert not d.final
    d = gates.observe(7, 40.0, dist_at(40, 3), LookQuality(face_width=40))
    assert d.final and d.gate == ASK_ID and "too small" in d.reason
    assert gates.pending(8).gate == ASK_ID and not gates.pending(8).final


def test_look_quality_measures():
    frontal = {"right_eye": np.array([30.0, 40]), "left_eye": np.array([70.0, 40]), "nose": np.array([50.0, 60])}
    turned = dict(frontal, nose=np.array([64.0, 60]))
    assert yaw_proxy(frontal) == pytest.approx(0.0) and yaw_proxy(turned) == pytest.approx(0.35)
    assert yaw_proxy({}) == 0.0
    rng = np.random.default_rng(0)
    sharp = rng.integers(0, 255, (60, 60, 3), dtype=np.uint8)
    import cv2

    blurred = cv2.GaussianBlur(sharp, (0, 0), 3)
    assert sharpness(sharp) > 10 * sharpness(blurred)
    big = cv2.resize(sharp, (240, 240), interpolation=cv2.INTER_NEAREST)
    same_at_112 = sharpness(cv2.resize(big, (112, 112), interpolation=cv2.INTER_AREA))
    assert sharpness(big) == pytest.approx(same_at_112, rel=0.01)


def test_face_json_carries_the_gate_fields():
    from edge.types import Detection, Face, Prediction

    gate = AgeGate(GateSettings(25), calibrated_contract())
    f = Face(Detection(np.array([0, 0, 10, 10], np.float32), 0.9),
             Prediction(40.0, (35.0, 45.0), "38-43", 0.2, "male", age_dist=dist_at(40, 3)))
    f.gate = gate.judge(f.prediction.age, f.prediction.age_dist)
    d = f.to_json()
    assert d["gate"] == "adult" and d["gate_final"] is True and 0 <= d["p_minor"] < 0.05
    assert {"gate_reason", "gate_evidence"} <= set(d)


def test_track_book_counts_decisions_and_emits_one_age_check_event_per_person():
    from edge.service.live_stats import TrackBook
    from edge.types import Detection, Face, Prediction

    gates = TrackGates(AgeGate(GateSettings(25, looks=2), calibrated_contract()))
    book = TrackBook(windows=(60,), clock=lambda: 1000.0)
    events = []
    for _ in range(4):
        faces = []
        for tid, age in ((1, 40.0), (2, 15.0)):
            f = Face(Detection(np.array([0, 0, 10, 10], np.float32), 0.9),
                     Prediction(age, (age - 4, age + 4), "x", 0.2, "male"), tid)
            f.gate = gates.observe(tid, age, dist_at(age, 2.5))
            faces.append(f)
        events += book.update(faces)
    checks = [e.to_json() for e in events if e.kind == "age_check"]
    assert sorted((c["track_id"], c["gate"]) for c in checks) == [(1, "adult"), (2, "ask_id")]
    assert all("age" not in c for c in checks)              # a decision, not an age
    assert book.counts(60).by_gate == {"adult": 1, "ask_id": 1}
    assert {f["gate"] for f in book.current_faces()} == {"adult", "ask_id"}


def test_prometheus_and_mqtt_carry_the_age_checks():
    from edge.live.metrics import RunMetrics
    from edge.service.live_stats import TrackBook, TrackEvent, TrackInfo
    from edge.service.prometheus import render

    m = RunMetrics()
    m.count("age_checks_adult", 3)
    m.count("age_checks_ask_id")
    book = TrackBook(windows=(3600,))
    text = render(m, 10.0, book)
    assert "agegender_age_checks_adult_total 3" in text and "agegender_age_checks_ask_id_total 1" in text
    assert 'agegender_age_checks{window="3600s",decision="adult"}' in text
    info = TrackInfo(5, 1.0, 2.0, 30.0, "25-32", "male", gate="ask_id", gate_reason="looks under 25 (22)")
    payload = TrackEvent("age_check", info, 2.0).to_json()
    assert payload["type"] == "age_check" and payload["gate"] == "ask_id" and "age" not in payload
    json.dumps(payload)


def test_pipeline_decides_each_track_once_and_counts_people(monkeypatch):
    from live_helpers import FakeAnalyzer, PausableSource, fake_pipeline

    from edge.types import Prediction

    def classify(self, image, dets, times=None):
        out = []
        for d in dets:
            adult = d.box[0] > image.shape[1] / 2
            age = 45.0 if adult else 15.0
            out.append(Prediction(age, (age - 4, age + 4), "x", 0.1, "male", age_dist=dist_at(age, 2.5)))
        return out

    monkeypatch.setattr(FakeAnalyzer, "classify", classify)
    source = PausableSource(fps=200)
    source.live = False
    p = fake_pipeline(source, max_frames=40, detect_every=1, gate=GateSettings(25, looks=5, min_face=0))
    p.analyzer.model.contract = calibrated_contract()
    frames = []
    p.on_frame = frames.append
    p.run()
    by_track: dict = {}
    for r in frames:
        for f in r.faces:
            by_track.setdefault(f.track_id, []).append(f.gate)
    assert len(by_track) == 2
    for gates in by_track.values():
        finals = [g for g in gates if g.final]
        assert finals and len({g.gate for g in finals}) == 1               # decided, and never flipped
        assert sum(not g.final for g in gates) <= 5                          # within the looks it needs
    assert p.metrics.age_checks_adult == 1 and p.metrics.age_checks_ask_id == 1
