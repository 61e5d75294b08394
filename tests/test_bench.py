"""`agegender bench`: small real runs of every report, asserting the fields and their sanity."""
import json

import pytest

from conftest import needs_tf, run_cli

pytestmark = needs_tf


@pytest.fixture(scope="module")
def latency_report(tiny_exports, tmp_path_factory):
    out = tmp_path_factory.mktemp("lat")
    models = [str(tiny_exports["tflite-int8"].path), str(tiny_exports["onnx-fp32"].path)]
    r = run_cli("bench", "latency", "--models", *models, "--threads", "1", "--batches", "1,4", "--runs", "5",
                "--min-seconds", "0", "--out", str(out))
    assert r.returncode == 0, r.stderr[-2000:]
    return out


def test_latency_report_fields_and_sanity(latency_report):
    report = json.loads((latency_report / "latency.json").read_text())
    assert report["kind"] == "latency" and report["machine"]["cores"] >= 1 and "numpy" in report["machine"]["libraries"]
    rows = report["rows"]
    assert {(r["backend"], r["batch"]) for r in rows} >= {("tflite", 1), ("tflite", 4), ("onnx", 1), ("onnx", 4)}
    for r in rows:
        assert 0 < r["min_ms"] <= r["p50_ms"] <= r["p95_ms"] <= r["p99_ms"]
        assert r["runs"] >= 5 and r["faces_per_second"] > 0 and r["load_ms"] > 0 and r["first_inference_ms"] > 0
        assert r["peak_rss_mb"] > 10 and r["size_mb"] > 0
        assert r["ms_per_face_p50"] == pytest.approx(r["p50_ms"] / r["batch"], rel=1e-3)
    md = (latency_report / "latency.md").read_text()
    assert "| model | backend |" in md and "Reproduce: `agegender bench latency" in md


def test_compare_reports(latency_report, tmp_path):
    path = str(latency_report / "latency.json")
    r = run_cli("bench", "compare", path, path)
    assert r.returncode == 0, r.stderr
    assert "p50_ms B/A" in r.stdout and "| 1.0 |" in r.stdout
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    r = run_cli("bench", "compare", path, str(bad))
    assert r.returncode == 2 and r.stderr.strip().startswith("agegender: error:") and "Traceback" not in r.stderr


def test_pipeline_report(runtime_model, tmp_path):
    from benchmarks.pipeline_bench import BenchSettings, pipeline_report
    from benchmarks.report import pipeline_markdown

    s = BenchSettings(str(runtime_model), seconds=1.5, workdir=tmp_path)
    report = pipeline_report(s, [(320, 240)], [0, 2], ["haar"], skip_frames=2, jitter_frames=20,
                             compare_detect_every=3, crossing_frames=45)
    cases = report["cases"]
    assert len(cases) == 4 and [c["case"]["faces"] for c in cases] == [0, 2, 2, 2]
    every = cases[3]
    assert every["case"]["detect_every"] == 3 and every["detections_skipped"] > 0
    assert cases[1]["detections_skipped"] == 0
    for c in cases[1:]:
        t = c["tracking"]
        assert t["distinct_faces"] == 2 and t["face_frames"] > 0 and t["visitors_counted"] >= 2
    cases = cases[:3]
    for c in cases:
        assert c["processed_fps"] > 0 and c["frames_processed"] > 0
        assert c["resources"]["peak_rss_mb"] > 10 and c["resources"]["cpu_percent"] > 0
        for st in c["stages"].values():
            assert st["p50_ms"] <= st["p95_ms"]
        assert {"decode", "detect", "track", "process", "draw", "end_to_end"} <= set(c["stages"])
        assert c["floor"]["floor_fps"] > 0 and c["capacity_fps"] > 0
    two = cases[1]
    assert two["faces_per_frame"] > 1 and two["floor"]["classifier_ms"] > 0 and "infer" in two["stages"]
    assert cases[0]["floor"]["classifier_ms"] == 0
    assert report["face_cost"][0]["detector"] == "haar"
    assert report["batching"][0]["faces"] == 2 and report["batching"][0]["batched_ms"] > 0
    skip = report["skipping"][0]
    assert skip["classifications_per_frame_skipping"] < skip["classifications_per_frame"]
    assert report["jitter"]["raw"]["tracks"] >= 1
    md = pipeline_markdown(report, "agegender bench pipeline")
    assert "compute floor" in md and "| 320x240 | 2 | haar |" in md and "visitors_per_face" in md
    assert [r["faces"] for r in report["fps_by_faces"]] == [0, 2] and "haar 320x240" in report["fps_by_faces"][1]
    assert any(r["setting"].startswith("footfall count, haar") for r in report["targets"])
    assert "## Targets" in md and "## FPS against faces per frame" in md and "## Counting faces that cross" in md
    assert [c["detect_every"] for c in report["crossing"]] == [1, 3]
    assert all(c["frames"] > 0 and c["visitors_counted"] >= 1 for c in report["crossing"])


def test_accuracy_report(tiny_exports, synthetic_utk, tmp_path):
    out = tmp_path / "acc"
    r = run_cli("bench", "accuracy", "--models", str(tiny_exports["tflite-int8"].path), "--data",
                f"{synthetic_utk},test", "--out", str(out))
    assert r.returncode == 0, r.stderr[-2000:]
    rows = json.loads((out / "accuracy.json").read_text())["rows"]
    assert rows[0]["n"] > 0 and rows[0]["age_mae"] > 0 and 0 <= rows[0]["gender_acc"] <= 1


def test_bad_arguments_are_one_line_errors(tmp_path):
    for args in (["bench", "latency", "--models", str(tmp_path / "none.tflite")],
                 ["bench", "accuracy", "--models", str(tmp_path / "none.onnx"), "--data", "x"],
                 ["bench", "latency", "--models", "x", "--threads", "a,b"]):
        r = run_cli(*args)
        assert r.returncode == 2 and r.stderr.strip().startswith("agegender: error:"), (args, r.stderr)


def test_each_bench_subcommand_lists_only_its_own_options():
    latency = run_cli("bench", "latency", "--help")
    pipeline = run_cli("bench", "pipeline", "--help")
    assert latency.returncode == pipeline.returncode == 0
    assert "--runs" in latency.stdout and "--detect-study-faces" not in latency.stdout
    assert "--detect-study-faces" in pipeline.stdout and "--runs" not in pipeline.stdout
    assert "--minutes" in run_cli("bench", "soak", "--help").stdout


def test_reproduce_lines_name_paths_relative_to_the_repository():
    from pathlib import Path

    from benchmarks.report import REPO_ROOT, command_line

    shared = str(REPO_ROOT.parent / "shared" / "datasets" / "utkface")
    line = command_line(["bench", "accuracy", "--data", shared + ",test", f"--out={REPO_ROOT / 'benchmarks'}",
                         str(Path.home() / ".cache" / "agegender" / "m.tflite")])
    assert "--data ../shared/datasets/utkface,test" in line and "--out=benchmarks" in line
    assert "~/.cache/agegender/m.tflite" in line and str(REPO_ROOT) not in line


def test_report_json_writes_paths_relative_to_the_repository(tmp_path):
    import json
    from pathlib import Path

    from benchmarks.report import REPO_ROOT, write_report

    shared = str(REPO_ROOT.parent / "shared" / "datasets" / "utkface")
    write_report(tmp_path, "r", {"settings": {"data": [shared + ",test"], "model": str(REPO_ROOT / "models" / "m.tflite"),
                                              "cache": str(Path.home() / ".cache" / "x"), "n": 3}}, "md")
    text = (tmp_path / "r.json").read_text()
    assert str(REPO_ROOT) not in text and json.loads(text)["settings"] == {
        "data": ["../shared/datasets/utkface,test"], "model": "models/m.tflite", "cache": "~/.cache/x", "n": 3}
