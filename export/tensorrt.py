"""TensorRT engines for Jetson, built on the device from the exported ONNX file.

TensorRT only exists on NVIDIA machines (JetPack on Jetson), so the engine build runs there:

    agegender trt-build models/agegender_fp32.onnx --precision fp16 --out agegender_fp16.engine
    agegender trt-build models/agegender_fp32.onnx --precision int8 --calib DATA --out agegender_int8.engine

INT8 uses TensorRT's entropy calibrator over the same stratified calibration faces as the
TFLite and ONNX INT8 exports, and writes TensorRT's calibration cache so later builds skip
calibration. Without the TensorRT Python API, the command prints the equivalent ``trtexec``
line (FP16 only: trtexec reads but cannot create a calibration cache).
"""
from __future__ import annotations

import argparse
import importlib
import logging
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from edge.errors import AgeGenderError, BackendUnavailable

log = logging.getLogger(__name__)


@dataclass
class TrtBuildConfig:
    onnx: Path
    out: Path
    precision: str = "fp16"          # fp16 | int8
    calib_cache: Optional[Path] = None
    max_batch: int = 8
    input_size: int = 96
    workspace_mb: int = 512

    def validate(self) -> None:
        if self.precision not in ("fp16", "int8"):
            raise AgeGenderError(f"--precision must be fp16 or int8, not {self.precision!r}")
        if not self.onnx.is_file():
            raise AgeGenderError(f"{self.onnx}: ONNX model not found (export it with --formats onnx-fp32)")
        if self.onnx.suffix != ".onnx":
            raise AgeGenderError(f"{self.onnx}: TensorRT builds from an .onnx file")
        if not 1 <= self.max_batch <= 64:
            raise AgeGenderError("--max-batch must be between 1 and 64")


def trtexec_command(cfg: TrtBuildConfig) -> list[str]:
    """The trtexec line that builds the same engine (dynamic batch 1..max_batch)."""
    s = cfg.input_size
    cmd = ["trtexec", f"--onnx={cfg.onnx}", f"--saveEngine={cfg.out}",
           f"--minShapes=image:1x{s}x{s}x3", f"--optShapes=image:1x{s}x{s}x3",
           f"--maxShapes=image:{cfg.max_batch}x{s}x{s}x3", f"--memPoolSize=workspace:{cfg.workspace_mb}M", "--fp16"]
    if cfg.precision == "int8":
        cmd.append("--int8")
        if cfg.calib_cache:
            cmd.append(f"--calib={cfg.calib_cache}")
    return cmd


class CalibrationBatches:
    """Float32 NHWC batches of calibration faces, in the order TensorRT asks for them."""

    def __init__(self, images: np.ndarray, batch_size: int = 8):
        if images.ndim != 4 or images.shape[-1] != 3:
            raise AgeGenderError(f"calibration images must be (N, H, W, 3), not {images.shape}")
        self.batch_size = batch_size
        self._batches = [np.ascontiguousarray(images[i:i + batch_size], np.float32)
                         for i in range(0, len(images) - batch_size + 1, batch_size)]
        self._i = 0

    def __len__(self) -> int:
        return len(self._batches)

    def next(self) -> Optional[np.ndarray]:
        if self._i >= len(self._batches):
            return None
        self._i += 1
        return self._batches[self._i - 1]


def make_calibrator(trt, batches: CalibrationBatches, cache: Path):
    """An IInt8EntropyCalibrator2 that feeds ``batches`` and reads/writes ``cache``."""

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self):
            super().__init__()
            self._device_mem = None

        def get_batch_size(self):
            return batches.batch_size

        def get_batch(self, names):
            batch = batches.next()
            if batch is None:
                return None
            cudart = importlib.import_module("cuda.cudart")   # cuda-python, on the Jetson
            if self._device_mem is None:
                _, self._device_mem = cudart.cudaMalloc(batch.nbytes)
            cudart.cudaMemcpy(self._device_mem, batch.ctypes.data, batch.nbytes,
                              cudart.cudaMemcpyKind.cudaMemcpyHostToDevice)
            return [int(self._device_mem)]

        def read_calibration_cache(self):
            return cache.read_bytes() if cache.is_file() else None

        def write_calibration_cache(self, data):
            cache.write_bytes(bytes(data))
            log.info("wrote TensorRT calibration cache %s", cache)

    return EntropyCalibrator()


def build_engine(cfg: TrtBuildConfig, calib_images: Optional[np.ndarray] = None) -> Path:
    """Build with the TensorRT Python API (on the Jetson)."""
    cfg.validate()
    try:
        trt = importlib.import_module("tensorrt")
    except ImportError as e:
        from edge.service.jetson import jetson_release

        release = jetson_release()
        where = f"{release.gpu_note()}. " if release is not None else ""
        raise BackendUnavailable(
            f"TensorRT's Python API is not installed here (it ships with JetPack). {where}Equivalent command: "
            + shlex.join(trtexec_command(cfg))) from e
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(cfg.onnx.read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise AgeGenderError(f"TensorRT cannot parse {cfg.onnx}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, cfg.workspace_mb << 20)
    config.set_flag(trt.BuilderFlag.FP16)
    s = cfg.input_size
    profile = builder.create_optimization_profile()
    profile.set_shape("image", (1, s, s, 3), (1, s, s, 3), (cfg.max_batch, s, s, 3))
    config.add_optimization_profile(profile)
    if cfg.precision == "int8":
        cache = cfg.calib_cache or cfg.out.with_suffix(".calib")
        if calib_images is None and not cache.is_file():
            raise AgeGenderError("INT8 needs --calib DIR (or an existing calibration cache)")
        config.set_flag(trt.BuilderFlag.INT8)
        batches = CalibrationBatches(calib_images if calib_images is not None else np.zeros((0, s, s, 3)))
        config.int8_calibrator = make_calibrator(trt, batches, cache)
        config.set_calibration_profile(profile)
    engine = builder.build_serialized_network(network, config)
    if engine is None:
        raise AgeGenderError("TensorRT failed to build the engine (see its log above)")
    cfg.out.write_bytes(bytes(engine))
    return cfg.out


def run_trt_build(args: argparse.Namespace) -> int:
    from edge.contract import load_contract_beside

    onnx = Path(args.onnx)
    contract = load_contract_beside(onnx)
    cfg = TrtBuildConfig(onnx=onnx, out=Path(args.out), precision=args.precision,
                         calib_cache=Path(args.calib_cache) if args.calib_cache else None,
                         max_batch=args.max_batch, input_size=contract.input_size if contract else args.input_size)
    cfg.validate()
    if args.print_command:
        print(shlex.join(trtexec_command(cfg)))
        return 0
    images = None
    if cfg.precision == "int8" and args.calib:
        from export.calibration import calibration_images

        images = calibration_images(args.calib, contract, args.calib_n)
    out = build_engine(cfg, images)
    print(f"TensorRT engine written to {out}")
    return 0
