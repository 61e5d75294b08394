"""TensorRT is not on this machine: test what runs without it (arguments, trtexec line, calibrator)."""
import sys
import types

import numpy as np
import pytest

from edge.errors import AgeGenderError, BackendUnavailable
from export.tensorrt import CalibrationBatches, TrtBuildConfig, build_engine, make_calibrator, trtexec_command


def test_argument_checks(tmp_path):
    onnx = tmp_path / "m.onnx"
    with pytest.raises(AgeGenderError, match="not found"):
        TrtBuildConfig(onnx, tmp_path / "e").validate()
    onnx.write_bytes(b"x")
    with pytest.raises(AgeGenderError, match="fp16 or int8"):
        TrtBuildConfig(onnx, tmp_path / "e", precision="int4").validate()
    with pytest.raises(AgeGenderError, match="max-batch"):
        TrtBuildConfig(onnx, tmp_path / "e", max_batch=0).validate()


def test_trtexec_line_has_dynamic_batch_and_precision(tmp_path):
    cfg = TrtBuildConfig(tmp_path / "m.onnx", tmp_path / "m.engine", "int8", tmp_path / "m.calib", 8, 96)
    cmd = trtexec_command(cfg)
    assert "--minShapes=image:1x96x96x3" in cmd and "--maxShapes=image:8x96x96x3" in cmd
    assert "--int8" in cmd and "--fp16" in cmd and f"--calib={tmp_path / 'm.calib'}" in cmd


def test_without_tensorrt_the_error_names_the_command(tmp_path, monkeypatch):
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"x")
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    with pytest.raises(BackendUnavailable, match="trtexec --onnx="):
        build_engine(TrtBuildConfig(onnx, tmp_path / "m.engine"))


def test_calibrator_feeds_batches_and_round_trips_its_cache(tmp_path):
    class IInt8EntropyCalibrator2:   # stand-in for TensorRT's base class
        def __init__(self):
            pass

    trt = types.SimpleNamespace(IInt8EntropyCalibrator2=IInt8EntropyCalibrator2)
    images = np.zeros((20, 96, 96, 3), np.uint8)
    batches = CalibrationBatches(images, batch_size=8)
    assert len(batches) == 2                      # a partial last batch is dropped
    cache = tmp_path / "x.calib"
    cal = make_calibrator(trt, batches, cache)
    assert cal.get_batch_size() == 8
    assert cal.read_calibration_cache() is None
    cal.write_calibration_cache(b"TRT-calibration")
    assert cal.read_calibration_cache() == b"TRT-calibration"
    assert batches.next().dtype == np.float32 and batches.next().shape == (8, 96, 96, 3) and batches.next() is None


def test_jetpack_release_maps_to_the_support_matrix(tmp_path):
    from edge.service.jetson import jetson_release

    f = tmp_path / "nv_tegra_release"
    f.write_text("# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64, DATE: Wed Jan 8\n")
    r6 = jetson_release(f)
    assert (r6.l4t, r6.jetpack, r6.python, r6.gpu_supported) == (36, "6", "3.10", True)
    f.write_text("# R35 (release), REVISION: 5.0, GCID: 35550185, BOARD: t186ref, EABI: aarch64\n")
    r5 = jetson_release(f)
    assert r5.jetpack == "5" and not r5.gpu_supported and "not supported" in r5.gpu_note()
    f.write_text("# R32 (release), REVISION: 7.4, GCID: 33514132, BOARD: t210ref, EABI: aarch64\n")
    assert jetson_release(f).jetpack == "4"
    assert jetson_release(tmp_path / "missing") is None
    f.write_text("garbage")
    assert jetson_release(f) is None
