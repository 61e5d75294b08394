"""Export: a small test-built model through every format, agreement, metadata, and bad arguments."""

import numpy as np
import pytest

from edge.contract import contract_path_for
from conftest import needs_tf, run_cli

pytestmark = needs_tf


def test_every_format_loads_through_edge_and_agrees(tiny_exports):
    from edge.vision.model import AgeGenderModel

    expected = {"tflite-int8", "tflite-fp16", "tflite-fp32", "onnx-fp32", "onnx-int8"}
    assert expected <= set(tiny_exports)
    for fmt, r in tiny_exports.items():
        m = AgeGenderModel(r.path)
        assert m.contract.precision == r.precision and m.contract.name == "tiny"
        assert r.check["same_gender_decision"] >= (0.99 if r.precision != "int8" else 0.8), (fmt, r.check)
        tolerance = {"fp32": 0.01, "fp16": 0.2}.get(r.precision, 6.0)
        assert r.check["age_abs_diff_mean"] <= tolerance, (fmt, r.check)
        out = m.infer(np.zeros((3, 64, 64, 3), np.uint8))   # a batch of several faces
        assert out["age"].shape == (3, 1) and out["age_dist"].shape == (3, 101) and out["race"].shape == (3, 5)


def test_onnx_io_names_and_dynamic_batch(tiny_exports):
    import onnxruntime as ort

    s = ort.InferenceSession(str(tiny_exports["onnx-fp32"].path), providers=["CPUExecutionProvider"])
    (inp,) = s.get_inputs()
    assert inp.name == "image" and not isinstance(inp.shape[0], int) and inp.shape[1:] == [64, 64, 3]
    assert {o.name for o in s.get_outputs()} == {"age", "age_dist", "gender", "race"}


def test_metadata_round_trip(tiny_exports):
    from edge.vision.backends import open_backend
    from edge.contract import ModelContract

    for fmt in ("tflite-int8", "tflite-fp32", "onnx-fp32", "onnx-int8"):
        path = tiny_exports[fmt].path
        embedded = ModelContract.from_json(open_backend(path).embedded_metadata())
        beside = ModelContract.from_json(contract_path_for(path).read_text())
        assert embedded == beside and embedded.provenance["format"] == fmt


def test_tflite_int8_has_uint8_input_and_float_outputs(tiny_exports):
    from edge.vision.backends import open_backend

    b = open_backend(tiny_exports["tflite-int8"].path)
    assert b.inputs[0].dtype == "uint8"
    assert all(o.dtype == "float32" for o in b.outputs)


def test_bad_arguments_are_clear_errors(tiny_keras_model, tmp_path, synthetic_utk):
    from edge.errors import AgeGenderError
    from export.cli import export_all, parse_formats

    with pytest.raises(AgeGenderError, match="unknown export format"):
        parse_formats("tflite-int8,coreml")
    with pytest.raises(AgeGenderError, match="--calib .*not found"):
        export_all(tiny_keras_model, ["tflite-int8"], tmp_path / "o", str(tmp_path / "nocalib"))
    with pytest.raises(AgeGenderError, match="need --calib|needs --calib"):
        export_all(tiny_keras_model, ["onnx-int8"], tmp_path / "o", None)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(AgeGenderError, match="cannot write"):
        export_all(tiny_keras_model, ["tflite-fp32"], blocker / "sub", None)
    empty = tmp_path / "emptycalib"
    (empty / "UTKFace").mkdir(parents=True)
    with pytest.raises(AgeGenderError, match="calibration"):
        export_all(tiny_keras_model, ["tflite-int8"], tmp_path / "o2", str(empty))


def test_reduce_range_setting():
    from export.onnx_export import should_reduce_range

    assert should_reduce_range("on") is True and should_reduce_range("off") is False
    assert isinstance(should_reduce_range("auto"), bool)


def test_stratified_calibration_covers_strata():
    from export.calibration import stratified_indices

    rng = np.random.default_rng(0)
    ages, g, r = rng.integers(1, 90, 2000), rng.integers(0, 2, 2000), rng.integers(0, 5, 2000)
    idx = stratified_indices(ages.astype(float), g, r, 300)
    assert len(idx) == 300 and len(set(idx)) == 300
    assert len(set(zip(np.digitize(ages[idx], [10, 30, 50, 70]), g[idx], r[idx]))) >= 45


def test_verify_only_writes_the_exports_table(tiny_keras_model, tiny_exports, synthetic_utk):
    out = tiny_exports["tflite-int8"].path.parent
    r = run_cli("export", str(tiny_keras_model), "--formats", "tflite-int8,onnx-fp32", "--out", str(out),
                "--verify-only", "--verify-data", str(synthetic_utk), "--verify-stability", "24",
                "--agreement-bound", "none")
    assert r.returncode == 0, r.stderr[-2000:]
    table, rest = (out / "EXPORTS.md").read_text().split("## Agreement with the Keras model, face by face")
    agreement, stability = rest.split("## Stability of single faces")
    arows = [line.split(" | ") for line in agreement.splitlines() if line.startswith("| ")][1:]
    assert [row[0] for row in arows] == ["| tflite-int8", "| onnx-fp32"]
    assert arows[1][3:6] == ["0.00 y", "0.00 y", "0.00 y"] and arows[1][6].startswith("0 (0.00%)")
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    assert [row.split(" | ")[0] for row in rows[1:]] == ["| Keras (reference)", "| tflite-int8", "| onnx-fp32"]
    fp32 = rows[-1].split(" | ")
    assert fp32[7] == "+0.000" and fp32[10].startswith("100.00%")      # ΔMAE and same-gender of an FP32 copy
    srows = [line.split(" | ") for line in stability.splitlines() if line.startswith("| ")][1:]
    assert [row[0] for row in srows] == ["| Keras (reference)", "| tflite-int8", "| onnx-fp32"]
    assert "24 faces" in stability
    noise_mean = [float(row[3].rstrip(" y")) for row in srows]
    assert abs(noise_mean[2] - noise_mean[0]) < 0.05    # an FP32 copy moves as the Keras model does
    # a bound a file exceeds fails the command and names the file (an untrained model's files differ from Keras
    # only by float round-off, so a zero bound is what they exceed)
    r = run_cli("export", str(tiny_keras_model), "--formats", "tflite-int8,onnx-fp32", "--out", str(out),
                "--verify-only", "--verify-data", str(synthetic_utk), "--verify-stability", "0",
                "--agreement-bound", "p95=0,max=0,flips=0")
    assert r.returncode == 1 and "disagrees with the Keras model beyond the bound" in r.stderr
    assert "do not ship them" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("export", str(tiny_keras_model), "--formats", "openvino", "--out", str(out / "nothing"),
                "--verify-only", "--verify-data", str(synthetic_utk))
    assert r.returncode == 2 and "not found" in r.stderr


def test_float_tail_export_ends_at_logits_and_the_runtime_finishes_in_float(tiny_keras_model, synthetic_utk,
                                                                            tmp_path):
    """--float-tail: the files output logits; edge applies softmax, sigmoid and the expectation."""
    from edge.vision.backends import open_backend
    from edge.vision.model import AgeGenderModel
    from export.cli import export_all

    results = export_all(tiny_keras_model, ["tflite-int8", "onnx-fp32"], tmp_path, str(synthetic_utk), calib_n=300,
                         float_tail=True)
    for r in results:
        names = {o.name for o in open_backend(r.path).outputs}
        assert names == {"age_logits", "gender_logit", "race_logits"}, names
        m = AgeGenderModel(r.path)
        assert set(m.contract.outputs) == {"age_logits", "gender_logit", "race_logits"}
        out = m.infer(np.random.default_rng(0).integers(0, 255, (4, 64, 64, 3), dtype=np.uint8))
        assert out["age_dist"].shape == (4, 101) and np.allclose(out["age_dist"].sum(1), 1, atol=1e-5)
        assert np.allclose(out["age"][:, 0], (out["age_dist"] * np.arange(101)).sum(1), atol=1e-3)
        assert ((out["gender"] > 0) & (out["gender"] < 1)).all() and np.allclose(out["race"].sum(1), 1, atol=1e-5)
    fp32 = next(r for r in results if r.format == "onnx-fp32")
    assert fp32.check["age_abs_diff_max"] < 0.01 and fp32.check["same_gender_decision"] == 1.0   # same as Keras


def test_selective_int8_keeps_the_worst_quantized_layers_in_float(tiny_keras_model, synthetic_utk, tmp_path):
    """--float-layers N: TFLite's quantization debugger ranks the layers; the N worst stay float32."""
    from edge.vision.backends import open_backend
    from edge.vision.model import AgeGenderModel
    from export.cli import export_all

    (r,) = export_all(tiny_keras_model, ["tflite-int8"], tmp_path, str(synthetic_utk), calib_n=300, float_layers=3)
    kept = AgeGenderModel(r.path).contract.provenance
    assert len(kept["float_layers"]) == 3 and len(set(kept["float_layers"])) == 3
    backend = open_backend(r.path)
    assert backend.inputs[0].dtype == "float32"        # not fully integer: the runtime feeds float pixels
    out = AgeGenderModel(r.path).infer(np.random.default_rng(0).integers(0, 255, (4, 64, 64, 3), dtype=np.uint8))
    assert out["age"].shape == (4, 1) and ((out["age"] >= 0) & (out["age"] <= 100)).all()
    assert r.check["age_abs_diff_mean"] < 5.0          # still the Keras model, within quantization error


def test_layer_errors_rank_the_debugger_dump_worst_first():
    from export.tflite_export import layer_quantization_errors

    class Dump:
        def layer_statistics_dump(self, f):
            f.write("op_name,tensor_idx,mean_squared_error,scale,zero_point,tensor_name\n"
                    "CONV_2D,1,0.04,0.1,0,a\nADD,2,0.09,0.1,0,b\nCONV_2D,3,1.0,0.0,0,c\n")

    assert layer_quantization_errors(Dump()) == [("b", pytest.approx(3.0)), ("a", pytest.approx(2.0))]
