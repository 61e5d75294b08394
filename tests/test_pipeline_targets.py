"""The pipeline report's targets table and FPS-by-faces table, on hand-made cases (no pipeline run)."""
from benchmarks.pipeline_targets import costliest_stage, fps_by_faces, is_default, target_rows


def _case(res, faces, capacity, dropped=0, e2e_p95=20.0, detect=3.0, infer=1.0, alone=1.0, visitors=1.0, **extra):
    w, h = map(int, res.split("x"))
    stages = {"detect": {"mean_ms": detect, "p50_ms": detect}, "align": {"mean_ms": 0.2, "p50_ms": 0.2},
              "track": {"mean_ms": 0.1, "p50_ms": 0.1}, "process": {"mean_ms": 1000 / capacity},
              "end_to_end": {"p95_ms": e2e_p95}}
    if faces:
        stages["infer"] = {"mean_ms": infer, "p50_ms": infer}
    case = {"case": {"width": w, "height": h, "faces": faces, "detector": "yunet", **extra}, "stages": stages,
            "capacity_fps": capacity, "frames_dropped": dropped, "floor": {"classifier_ms": alone if faces else 0.0}}
    if faces:
        case["tracking"] = {"distinct_faces": faces, "visitors_per_distinct_face": visitors}
    return case


def _report(*cases):
    return {"cases": list(cases)}


def test_targets_met_and_missed_with_the_costly_stage():
    report = _report(_case("640x480", 1, 150), _case("640x480", 6, 50, dropped=3, e2e_p95=55, detect=12, infer=4,
                                                       alone=2.0),
                     _case("1280x720", 1, 70), _case("1280x720", 3, 40, dropped=0, visitors=1.2),
                     _case("640x480", 6, 80, detect_every=3, variant="detect", visitors=1.1))
    rows = {(r["setting"], r["target"]): r for r in target_rows(report)}
    assert rows[("640x480, yunet, 1 face", "capacity >= 120 FPS")]["met"]
    miss = rows[("640x480, yunet, 6 faces", "capacity >= 60 FPS")]
    assert not miss["met"] and miss["why"].startswith("detect 12.0 of 20.0 ms") and "--detect-size" in miss["why"]
    assert not rows[("640x480, yunet, 6 faces", "every frame of a 30 FPS camera processed")]["met"]
    assert not rows[("640x480, yunet, 6 faces", "end-to-end p95 <= 40 ms")]["met"]
    assert rows[("1280x720, yunet, 1 face", "capacity >= 60 FPS")]["met"]
    assert rows[("1280x720, yunet, 3 faces", "0 dropped at 30 FPS")]["met"]
    ratio = next(r for r in rows.values() if r["setting"].startswith("classifier stage"))
    assert not ratio["met"] and ratio["measured"].startswith("2.00x (640x480, 6 faces")
    count = next(r for r in rows.values() if r["setting"].startswith("footfall count"))
    assert not count["met"] and count["measured"].startswith("1.200 (1280x720, 3 faces)")
    every = next(r for r in rows.values() if "--detect-every 3" in r["setting"])
    assert not every["met"] and every["measured"] == "1.100 vs 1.000" and "--detect-every 1" in every["target"]


def test_a_target_without_its_case_is_not_met():
    rows = target_rows(_report(_case("640x480", 1, 150)))
    missing = [r for r in rows if r["measured"] == "not measured"]
    assert len(missing) == 5 and not any(r["met"] for r in missing)


def test_fps_by_faces_keeps_default_cases_and_the_other_detection_interval():
    report = _report(_case("640x480", 0, 200), _case("640x480", 2, 100, dropped=4), _case("1280x720", 2, 50),
                     _case("640x480", 2, 300, skip_frames=2, variant="skip"),
                     _case("640x480", 2, 300, threads=1, variant="threads"),
                     _case("640x480", 2, 40, detect_every=1, variant="detect"))
    assert [is_default(c) for c in report["cases"]] == [True, True, True, False, False, False]
    rows = fps_by_faces(report)
    assert [r["faces"] for r in rows] == [0, 2]
    assert rows[1] == {"faces": 2, "yunet 640x480": "100 (4 dropped)", "yunet 1280x720": "50 (0 dropped)",
                       "yunet 640x480, detect every 1": "40 (0 dropped)"}
    assert "yunet 1280x720" not in rows[0]


def test_costliest_stage_names_the_lever():
    assert costliest_stage(_case("640x480", 6, 50, detect=2, infer=9)).startswith("infer 9.0 of 20.0 ms")
