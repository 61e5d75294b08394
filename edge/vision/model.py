"""An age/gender model file, its contract, and batched inference through a backend."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

import numpy as np

from edge.vision import model_store
from edge.vision.backends import Backend, BackendOptions, open_backend
from edge.contract import ModelContract, contract_path_for, load_contract_beside
from edge.vision.decode import DecodeConfig, correct_age_prior, decode
from edge.errors import ContractError, ModelLoadError
from edge.types import Prediction

log = logging.getLogger(__name__)

# Names `--model` accepts besides a path: the shipped zoo in models/.
MODEL_ZOO = {
    "default": ("agegender_int8.tflite",),
    "open": ("agegender_open_int8.tflite",),
    # the default model in FP16: as steady as float on single faces (INT8 moves one face's age about 3x as
    # much under a grey level of noise, models/EXPORTS.md), for 1.7x the cost per face on x86
    "default-fp16": ("agegender_fp16.tflite",),
}


def _softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x - x.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def from_logits(outputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A float-tail model's logits -> the usual outputs (age_dist, age, gender, race), in float32."""
    if "age_logits" not in outputs:
        return outputs
    out = dict(outputs)
    dist = _softmax(np.asarray(out.pop("age_logits"), np.float32))
    out["age_dist"] = dist
    out["age"] = (dist * np.arange(dist.shape[1], dtype=np.float32)).sum(1, keepdims=True)
    if "gender_logit" in out:
        out["gender"] = 1.0 / (1.0 + np.exp(-np.asarray(out.pop("gender_logit"), np.float32)))
    if "race_logits" in out:
        out["race"] = _softmax(np.asarray(out.pop("race_logits"), np.float32))
    return out


def model_file_bytes(path: str | Path) -> int:
    """Size on disk of a model file; an OpenVINO ``.xml`` counts its ``.bin`` weights too."""
    path = Path(path)
    weights = path.with_suffix(".bin")
    return path.stat().st_size + (weights.stat().st_size if path.suffix == ".xml" and weights.exists() else 0)


def resolve_model_path(model: Optional[str], models_dirs: tuple[str, ...] = ()) -> Path:
    """``None`` or a :data:`MODEL_ZOO` name (``default``, ``open``, ``default-fp16``) -> a shipped file found on
    the search path; else a path."""
    name = model or "default"
    if name in MODEL_ZOO:
        found = model_store.find_file(MODEL_ZOO[name], (), models_dirs)
        if found is None:
            raise ModelLoadError(
                f"model {name!r} ({MODEL_ZOO[name][0]}) not found in {model_store.describe_search(models_dirs)}; "
                f"pass --model PATH, or --models-dir / ${model_store.MODELS_DIR_ENV} naming the folder that holds it")
        return found
    return Path(name)


def load_model(model: Optional[str] = None, backend: str = "auto", threads: int = 0,
               models_dirs: tuple[str, ...] = ()) -> "AgeGenderModel":
    """A model file, or a shipped name (:data:`MODEL_ZOO`; ``None`` is ``default``), ready to run."""
    return AgeGenderModel(resolve_model_path(model, models_dirs), backend, BackendOptions(threads=threads))


def load_contract(path: Path, backend: Backend) -> ModelContract:
    contract = load_contract_beside(path)
    if contract is not None:
        return contract
    embedded = backend.embedded_metadata()
    if embedded:
        return ModelContract.from_json(embedded, f"{path} (embedded contract)")
    raise ContractError(f"{path}: no model contract ({contract_path_for(path).name} is missing and none is embedded)")


def check_contract(contract: ModelContract, backend: Backend, path: Path) -> None:
    """Refuse a model whose inputs or outputs disagree with its contract."""
    if len(backend.inputs) != 1:
        raise ContractError(f"{path}: expected one input, the model has {len(backend.inputs)}")
    shape = backend.inputs[0].shape
    if len(shape) != 4 or shape[3] != 3 or (shape[1] > 0 and shape[1] != contract.input_size) or (
            shape[2] > 0 and shape[2] != contract.input_size):
        raise ContractError(f"{path}: model input {list(shape)} does not match the contract's "
                            f"{contract.input_size}x{contract.input_size}x3 NHWC")
    names = {o.name for o in backend.outputs}
    missing = ([] if names & {"gender", "gender_logit"} else ["gender"]) + \
        ([] if names & {"age", "age_dist", "age_logits"} else ["age"])
    if missing:
        raise ContractError(f"{path}: model lacks output(s) {', '.join(missing)} named by the contract "
                            f"(it has {', '.join(sorted(names))})")
    for o in backend.outputs:
        if o.name in ("age_dist", "age_logits") and o.shape[-1] not in (-1, contract.age_max + 1):
            raise ContractError(f"{path}: age_dist has {o.shape[-1]} bins, the contract says {contract.age_max + 1}")
        if o.name in ("race", "race_logits") and o.shape[-1] not in (-1, len(contract.race_labels)):
            raise ContractError(f"{path}: race has {o.shape[-1]} classes, the contract names {len(contract.race_labels)}")


_warned_saturation: set[str] = set()


def warn_if_int8_saturates(contract: ModelContract, backend: str, path: Path) -> None:
    """Once per file: an INT8 ONNX file built with 8-bit weights (reduce-range off) on an x86 CPU without VNNI,
    where ONNX Runtime's kernels saturate and single faces move by years (models/EXPORTS.md)."""
    from edge.vision.backends.cpu_features import int8_saturates

    rr = contract.provenance.get("onnx_reduce_range")
    if backend != "onnx" or contract.precision != "int8" or rr is None or str(path) in _warned_saturation:
        return
    if int8_saturates(bool(rr)):
        _warned_saturation.add(str(path))
        log.warning("%s: INT8 ONNX with 8-bit weights on an x86 CPU without VNNI: ONNX Runtime's kernels saturate "
                    "here and single faces can move by years; use a file exported with --onnx-reduce-range on "
                    "(the shipped one is), or the FP32 / TFLite files", path.name)


class AgeGenderModel:
    """Loads a model file with its contract; ``predict`` takes aligned uint8 crops (N, S, S, 3)."""

    def __init__(self, path: str | Path, backend: str = "auto", options: Optional[BackendOptions] = None):
        self.path = Path(path)
        self.backend = open_backend(self.path, backend, options)
        self.contract = load_contract(self.path, self.backend)
        check_contract(self.contract, self.backend, self.path)
        warn_if_int8_saturates(self.contract, self.backend.name, self.path)
        self.max_batch = self.backend.max_batch
        log.info("model %s (%s, %s, %d px) on %s", self.path, self.contract.name, self.contract.precision,
                 self.contract.input_size, self.backend.name)

    @property
    def input_size(self) -> int:
        return self.contract.input_size

    def infer(self, crops: np.ndarray) -> dict[str, np.ndarray]:
        """Raw outputs for a batch, split into chunks where the model has a fixed batch size."""
        if len(crops) == 0:
            return {}
        step = self.max_batch or len(crops)
        parts = [self.backend.infer(crops[i:i + step]) for i in range(0, len(crops), step)]
        return correct_age_prior(from_logits({k: np.concatenate([p[k] for p in parts]) for k in parts[0]}),
                                 self.contract)

    def predict(self, crops: np.ndarray, cfg: Optional[DecodeConfig] = None) -> list[Prediction]:
        if len(crops) == 0:
            return []
        return decode(self.infer(crops), self.contract, cfg)
