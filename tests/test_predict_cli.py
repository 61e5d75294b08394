"""`agegender predict` end to end, with a small model built by the tests, and every bad input."""
import json
import shutil
from pathlib import Path

import cv2
import pytest

from edge.contract import contract_path_for
from conftest import needs_tf, run_cli

pytestmark = needs_tf


def agegender(*args, env_extra=None):
    return run_cli(*args, env_extra=env_extra)


@pytest.fixture(scope="module")
def images(tmp_path_factory, face_image):
    d = tmp_path_factory.mktemp("imgs")
    cv2.imwrite(str(d / "faces.jpg"), face_image)
    blank = face_image.copy(); blank[:] = 127
    cv2.imwrite(str(d / "blank.png"), blank)
    return d


@pytest.mark.parametrize("fmt", ["tflite-int8", "onnx-fp32"])
def test_predict_json_and_annotated_images(fmt, tiny_exports, images, tmp_path):
    model = tiny_exports[fmt].path
    r = agegender("predict", str(images), "--model", str(model), "--detector", "haar", "--json", "--out",
                  str(tmp_path), "--race")
    assert r.returncode == 0, r.stderr
    records = {Path(x["path"]).name: x for x in map(json.loads, r.stdout.splitlines())}
    assert set(records) == {"faces.jpg", "blank.png"}
    assert records["blank.png"]["faces"] == []
    faces = records["faces.jpg"]["faces"]
    assert len(faces) >= 1
    f = faces[0]
    assert set(f) >= {"box", "score", "age", "age_range", "age_group", "gender", "p_female", "race"}
    assert f["age_range"][0] <= f["age"] <= f["age_range"][1]
    assert f["gender"] in ("male", "female", "undetermined") and 0 <= f["p_female"] <= 1
    assert len(f["box"]) == 4 and sorted(f["race"]) == sorted(["White", "Black", "Asian", "Indian", "Others"])
    assert (tmp_path / "faces_annotated.jpg").is_file()


def test_predict_crops_mode(tiny_exports, images):
    r = agegender("predict", str(images / "faces.jpg"), "--crops", "--model", str(tiny_exports["tflite-int8"].path),
                  "--json")
    assert r.returncode == 0, r.stderr
    (rec,) = map(json.loads, r.stdout.splitlines())
    assert len(rec["faces"]) == 1 and "race" not in rec["faces"][0]


def test_bad_inputs_each_get_one_line_and_the_run_continues(tiny_exports, images, tmp_path):
    (tmp_path / "notes.txt").write_text("not an image")
    good = (images / "faces.jpg").read_bytes()
    (tmp_path / "corrupt.jpg").write_bytes(good[: len(good) // 3])
    (tmp_path / "empty.jpg").write_bytes(b"")
    shutil.copy(images / "faces.jpg", tmp_path / "ok.jpg")
    r = agegender("predict", str(tmp_path / "missing.jpg"), str(tmp_path / "notes.txt"), str(tmp_path / "corrupt.jpg"),
                  str(tmp_path / "empty.jpg"), str(tmp_path / "ok.jpg"), "--model", str(tiny_exports["tflite-int8"].path),
                  "--detector", "haar", "--json")
    assert r.returncode == 1
    assert len(r.stdout.splitlines()) >= 1 and "ok.jpg" in r.stdout     # the good file still ran
    errors = [line for line in r.stderr.splitlines() if line.startswith("ERROR")]
    for name in ("missing.jpg", "notes.txt", "empty.jpg"):
        assert sum(name in e for e in errors) == 1, r.stderr
    # a truncated JPEG either fails with one line or decodes partially (OpenCV pads it); never a traceback
    assert "Traceback" not in r.stderr


def test_truncated_model_file(tiny_exports, images, tmp_path):
    src = tiny_exports["tflite-int8"].path
    bad = tmp_path / "cut.tflite"
    bad.write_bytes(src.read_bytes()[:5000])
    shutil.copy(contract_path_for(src), contract_path_for(bad))
    r = agegender("predict", str(images / "faces.jpg"), "--model", str(bad), "--detector", "haar")
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1].startswith("agegender: error:") and "cut.tflite" in r.stderr
    assert "Traceback" not in r.stderr


def test_contract_mismatch_and_missing_contract(tiny_exports, images, tmp_path):
    src = tiny_exports["onnx-fp32"].path
    m = tmp_path / "m.onnx"
    shutil.copy(src, m)
    contract = json.loads(contract_path_for(src).read_text())
    contract["input_size"] = 128
    contract_path_for(m).write_text(json.dumps(contract))
    r = agegender("predict", str(images / "faces.jpg"), "--model", str(m), "--detector", "haar")
    assert r.returncode == 2 and "does not match" in r.stderr and "Traceback" not in r.stderr
    contract["colour"] = "x"
    contract_path_for(m).write_text(json.dumps(contract))
    r = agegender("predict", str(images / "faces.jpg"), "--model", str(m), "--detector", "haar")
    assert r.returncode == 2 and "unknown contract key" in r.stderr


def test_embedded_contract_is_used_without_the_json(tiny_exports, images, tmp_path):
    for fmt in ("tflite-int8", "onnx-int8"):
        src = tiny_exports[fmt].path
        m = tmp_path / src.name
        shutil.copy(src, m)   # no .json beside it
        r = agegender("predict", str(images / "faces.jpg"), "--model", str(m), "--crops", "--json")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["faces"][0]["age_group"]


def test_missing_model_and_unknown_detector(images):
    r = agegender("predict", str(images / "faces.jpg"), "--model", "/nonexistent/model.tflite")
    assert r.returncode == 2 and "not found" in r.stderr
    r = agegender("predict", str(images / "faces.jpg"), "--model", "x.tflite", "--detector", "nope")
    assert r.returncode == 2 and r.stderr.count("\n") == 1


def test_model_zoo_names_select_the_shipped_files(tiny_exports, images, tmp_path):
    """`--model open` picks agegender_open_int8.tflite from the models dir, `default` agegender_int8.tflite,
    `default-fp16` agegender_fp16.tflite."""
    src = tiny_exports["tflite-int8"].path
    zoo = tmp_path / "zoo"
    zoo.mkdir()
    for name, label in (("agegender_open_int8.tflite", "open-one"), ("agegender_int8.tflite", "default-one"),
                        ("agegender_fp16.tflite", "fp16-one")):
        shutil.copy(src, zoo / name)
        contract = json.loads(contract_path_for(src).read_text())
        contract["name"] = label
        contract_path_for(zoo / name).write_text(json.dumps(contract))
    for zoo_name, file_name, label in (("open", "agegender_open_int8.tflite", "open-one"),
                                       ("default", "agegender_int8.tflite", "default-one"),
                                       ("default-fp16", "agegender_fp16.tflite", "fp16-one")):
        r = agegender("-v", "predict", str(images / "faces.jpg"), "--model", zoo_name, "--models-dir", str(zoo),
                      "--crops", "--json")
        assert r.returncode == 0, r.stderr
        assert f"model {zoo / file_name} ({label}," in r.stderr, r.stderr


def test_a_missing_zoo_model_is_a_clear_error(tmp_path, monkeypatch):
    from edge.vision import model_store
    from edge.errors import ModelLoadError
    from edge.vision.model import resolve_model_path

    monkeypatch.setattr(model_store, "package_models_dir", lambda: tmp_path / "no-package-models")
    monkeypatch.setenv("AGEGENDER_MODELS_DIR", str(tmp_path / "empty"))
    monkeypatch.setenv("AGEGENDER_CACHE", str(tmp_path / "cache"))
    with pytest.raises(ModelLoadError, match=r"model 'open' \(agegender_open_int8.tflite\) not found in .*empty"):
        resolve_model_path("open", (str(tmp_path / "elsewhere"),))
