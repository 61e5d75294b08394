"""Two-phase training: heads on a frozen backbone, then full fine-tuning with cosine decay.

Resumable: every epoch writes ``checkpoints/last.weights.h5``, the optimizer's variables
and ``state.json``; ``--resume`` continues from them, phase, epoch and learning-rate
schedule included. The best epoch by validation score is kept as ``best.keras``.
"""
from __future__ import annotations

import json
import logging
import math
import os
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from edge.contract import ModelContract
from edge.errors import DatasetError
from train.augment import AugmentConfig
from train.losses import AgeLossConfig
from train.sources import LabeledFaces, read_source

log = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    data: list[str] = field(default_factory=list)
    out: str = "runs/agegender"
    name: str = "agegender"
    licence: str = "non-commercial research only (trained on UTKFace)"
    backbone_weights: str = "imagenet"
    input_size: int = 96
    alpha: float = 1.0
    freeze_until: str = "block_2_add"  # backbone layers frozen while fine-tuning; "" fine-tunes all
    batch_size: int = 64
    frozen_epochs: int = 1
    epochs: int = 12                 # fine-tuning epochs after the frozen phase
    steps_per_epoch: int = 0         # 0: one pass over the training samples
    frozen_lr: float = 1e-3
    lr: float = 1e-3
    min_lr_ratio: float = 0.02
    warmup_steps: int = 200
    weight_decay: float = 1e-5
    loss_weights: dict[str, float] = field(default_factory=lambda: {"age": 1.0, "gender": 1.0, "race": 0.5})
    source_mix: Optional[list[float]] = None   # sampling weight per --data source; None: by size
    balance: str = "none"            # none | age | age+race | age+race7
    age_weights: list = field(default_factory=list)  # [[lo, hi, w], ...]: sampling weight x w for ages lo..hi
    max_train: int = 0               # cap per source, for smoke tests; 0: all
    max_val: int = 0
    seed: int = 2026
    cache_dir: str = ""
    age: AgeLossConfig = field(default_factory=AgeLossConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    ema_decay: float = 0.0           # weight averaging (e.g. 0.999); 0: off
    mixup: float = 0.0               # Beta(alpha, alpha) mixup of training batches; 0: off
    init_model: str = ""             # a .keras model of the same input size to start from (a fine-tune); "": none
    consistency: float = 0.0         # weight of the pair term: each face beside its camera twin; 0: off
    consistency_noise: int = 1       # the twin's integer noise, grey levels
    consistency_shift: float = 0.25  # the twin's sub-pixel shift of the sampling grid, up to this many pixels
    verbose: int = 1

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_json(cls, text: str) -> "TrainConfig":
        d = json.loads(text)
        age = d.get("age", {})
        if "thresholds" in age:
            age["thresholds"] = tuple(age["thresholds"])
        d["age"] = AgeLossConfig(**age)
        aug = d.get("augment", {})
        if "jpeg_quality" in aug:
            aug["jpeg_quality"] = tuple(aug["jpeg_quality"])
        d["augment"] = AugmentConfig(**aug)
        return cls(**d)


# ---------------------------------------------------------------------------- data
def _cap(faces: LabeledFaces, n: int, seed: int) -> LabeledFaces:
    if n <= 0 or len(faces) <= n:
        return faces
    idx = np.sort(np.random.default_rng(seed).choice(len(faces), n, replace=False))
    return faces.subset(idx)


def load_split(cfg: TrainConfig, split: str, cap: int) -> list[LabeledFaces]:
    if not cfg.data:
        raise DatasetError("no training data given (use --data DIR, once per data set)")
    return [_cap(read_source(d, split), cap, cfg.seed) for d in cfg.data]


def pack_targets(f: LabeledFaces) -> dict[str, np.ndarray]:
    return {
        "age_dist": np.stack([f.age_lo, f.age_hi, f.has_exact_age, f.has_age_interval], 1).astype(np.float32),
        "gender": np.stack([f.gender, f.has_gender], 1).astype(np.float32),
        "race": np.stack([f.race, f.has_race], 1).astype(np.float32),
    }


RACE7 = ("White", "Black", "East Asian", "Southeast Asian", "Indian", "Middle Eastern", "Latino_Hispanic")


def race_groups(part: LabeledFaces) -> np.ndarray:
    """FairFace's 7 groups where the source has them, else the 5-class label shifted past them
    (so UTKFace's classes stay groups of their own)."""
    if part.race7 and any(part.race7):
        lookup = {name: i for i, name in enumerate(RACE7)}
        return np.array([lookup.get(r, len(RACE7)) for r in part.race7], np.int64)
    return part.race.astype(np.int64) + len(RACE7) + 1


def age_band_factor(part: LabeledFaces, age_weights: list) -> np.ndarray:
    """Per-face sampling factor: ``w`` for a face whose age (the middle of its bin, for age bins) lies in
    ``lo..hi`` of an ``[lo, hi, w]`` rule, 1 elsewhere; later rules win."""
    factor = np.ones(len(part))
    mid = (part.age_lo + part.age_hi) / 2
    for lo, hi, w in age_weights:
        factor[(mid >= lo) & (mid <= hi)] = w
    return factor


def sampling_weights(parts: list[LabeledFaces], mix: Optional[list[float]], balance: str,
                     age_weights: Optional[list] = None) -> np.ndarray:
    """Per-sample probabilities: each source gets its share of the mix, and within a source
    samples are optionally balanced over age bands (and race) and weighted up in chosen age ranges."""
    if mix is not None and len(mix) != len(parts):
        raise DatasetError(f"source mix has {len(mix)} weights for {len(parts)} data sets")
    shares = np.asarray(mix if mix is not None else [len(p) for p in parts], np.float64)
    shares = shares / shares.sum()
    out = []
    for share, part in zip(shares, parts):
        w = np.ones(len(part))
        if balance != "none":
            mid = (part.age_lo + part.age_hi) / 2
            band = np.digitize(mid, [3, 10, 20, 30, 40, 50, 60, 70])
            key = band * 10 + (race_groups(part) if balance == "age+race7"
                               else part.race if balance == "age+race" else 0)
            _, inv, counts = np.unique(key, return_inverse=True, return_counts=True)
            w = 1.0 / np.sqrt(counts[inv])  # square root: balance without starving the common bands
        if age_weights:
            w = w * age_band_factor(part, age_weights)
        out.append(share * w / w.sum())
    return np.concatenate(out)


def make_train_dataset(images: np.ndarray, targets: dict[str, np.ndarray], weights: np.ndarray,
                       cfg: TrainConfig):
    import tensorflow as tf

    from train.augment import augment_batch

    size = images.shape[1]
    paired = cfg.consistency > 0
    faces_per_batch = cfg.batch_size // 2 if paired else cfg.batch_size   # a pair is two rows of the batch

    def batches():
        rng = np.random.default_rng(cfg.seed + int(time.time()))
        while True:
            idx = np.sort(rng.choice(len(weights), faces_per_batch, p=weights))
            if cfg.mixup > 0:
                yield mixup_batch(images, targets, idx, rng.choice(len(weights), faces_per_batch, p=weights),
                                  rng.beta(cfg.mixup, cfg.mixup, faces_per_batch).astype(np.float32))
            else:
                yield images[idx], {k: v[idx] for k, v in targets.items()}

    extra = lambda v: 2 * v.shape[1] + 1 if cfg.mixup > 0 else v.shape[1]  # noqa: E731
    sig = (tf.TensorSpec((None, size, size, 3), tf.uint8),
           {k: tf.TensorSpec((None, extra(v)), tf.float32) for k, v in targets.items()})
    ds = tf.data.Dataset.from_generator(batches, output_signature=sig)
    ds = ds.map(lambda x, y: (augment_batch(x, cfg.augment), y), num_parallel_calls=1)
    if paired:
        from train.augment import with_twins

        ds = ds.map(lambda x, y: with_twins(x, y, cfg.consistency_noise, cfg.consistency_shift), num_parallel_calls=1)
    # One private thread for the input pipeline: on a 2-core machine, letting tf.data and the
    # training step share TF's pools oversubscribes the cores and halved the step rate here.
    options = tf.data.Options()
    options.threading.private_threadpool_size = 1
    options.threading.max_intra_op_parallelism = 1
    return ds.with_options(options).prefetch(2)


def mixup_batch(images: np.ndarray, targets: dict[str, np.ndarray], idx: np.ndarray, partner: np.ndarray,
                lam: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Images ``lam * a + (1 - lam) * b``; each target becomes ``[y_a, y_b, lam]`` so that the loss
    can weigh both labels, each with its own mask (see ``losses.mixable``)."""
    mixed = lam[:, None, None, None] * images[idx] + (1 - lam[:, None, None, None]) * images[partner]
    return (np.clip(np.rint(mixed), 0, 255).astype(np.uint8),
            {k: np.concatenate([v[idx], v[partner], lam[:, None]], 1) for k, v in targets.items()})


def make_eval_dataset(images: np.ndarray, targets: dict[str, np.ndarray], batch_size: int, paired: bool = False):
    """Validation batches; ``paired``: each face twice in a row, so that a consistency loss compares a face
    with itself (no change) and the validation loss stays comparable; the metrics are the same."""
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((images, targets)).batch(batch_size // 2 if paired else batch_size)
    if paired:
        ds = ds.map(lambda x, y: (tf.repeat(x, 2, axis=0), {k: tf.repeat(v, 2, axis=0) for k, v in y.items()}))
    return ds.map(lambda x, y: (tf.cast(x, tf.float32), y)).prefetch(2)


# ---------------------------------------------------------------------------- schedule
def learning_rate(step: int, total: int, base: float, warmup: int, min_ratio: float) -> float:
    if warmup and step < warmup:
        return base * (step + 1) / warmup
    t = min(1.0, (step - warmup) / max(1, total - warmup))
    return base * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * t)))


def slow_epoch(rate: float, first_rate: float) -> bool:
    """True when an epoch ran at under half the first epoch's samples/s."""
    return first_rate > 0 and rate < 0.5 * first_rate


def validation_score(logs: dict) -> float:
    """Lower is better. Each term is an error divided by a typical value, so the tasks count
    about equally: age MAE / 5 years, gender error / 5%, race error / 15%, age-bin error / 40%."""
    score, terms = 0.0, 0
    for key, scale, is_error in (("val_age_dist_mae", 5.0, True), ("val_gender_acc", 0.05, False),
                                 ("val_race_acc", 0.15, False), ("val_age_dist_bin_acc", 0.4, False)):
        if key in logs and logs[key] == logs[key]:
            value = float(logs[key])
            score += (value if is_error else 1.0 - value) / scale
            terms += 1
    return score / max(terms, 1)


# ---------------------------------------------------------------------------- training
def _seed_everything(seed: int) -> None:
    import keras

    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)


def _compile(model, cfg: TrainConfig, lr: float):
    import keras

    from train import losses as L

    losses = {"age_dist": (L.make_age_loss(cfg.age), 4), "gender": (L.gender_loss, 2), "race": (L.race_loss, 2)}
    fns = {k: L.mixable(fn, width) if cfg.mixup > 0 else fn for k, (fn, width) in losses.items()}
    if cfg.consistency > 0:
        for k in ("age_dist", "gender"):
            fns[k] = L.with_consistency(fns[k], cfg.consistency, k, cfg.age.age_max)
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=lr, weight_decay=cfg.weight_decay),
        loss=fns,
        loss_weights={"age_dist": cfg.loss_weights.get("age", 1.0),
                      "gender": cfg.loss_weights.get("gender", 1.0),
                      "race": cfg.loss_weights.get("race", 1.0)},
        metrics={"age_dist": [L.AgeMAE(age_max=cfg.age.age_max), L.AgeIntervalAccuracy(age_max=cfg.age.age_max)],
                 "gender": [L.MaskedBinaryAccuracy()], "race": [L.MaskedCategoricalAccuracy()]},
    )


def contract_for(cfg: TrainConfig, extra: Optional[dict] = None) -> ModelContract:
    provenance = {"trained_on": [str(Path(d).name) for d in cfg.data], "input_size": cfg.input_size,
                  "alpha": cfg.alpha, "backbone": "MobileNetV2", "backbone_weights": Path(cfg.backbone_weights).name,
                  "created": time.strftime("%Y-%m-%d")}
    provenance.update(extra or {})
    return ModelContract(name=cfg.name, input_size=cfg.input_size, age_max=cfg.age.age_max,
                         provenance=provenance, licence=cfg.licence)


class RunState:
    """``state.json`` in the run folder: which phase and epoch finished last, and the best score."""

    def __init__(self, run_dir: Path):
        self.path = run_dir / "state.json"
        self.data = {"phase": "frozen", "epoch": 0, "best_score": None, "best_epoch": None}
        if self.path.is_file():
            self.data.update(json.loads(self.path.read_text()))

    def save(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=2))
        os.replace(tmp, self.path)


def _make_callbacks(model, full_model, cfg: TrainConfig, run_dir: Path, state: RunState, phase: str,
                    total_steps: int, base_lr: float, steps_per_epoch: int, epoch_offset: int, average=None):
    import contextlib

    import keras

    from train.ema import make_callback
    from train.model import save_for_inference

    ckpt = run_dir / "checkpoints"
    ckpt.mkdir(parents=True, exist_ok=True)

    class Schedule(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            step = self.epoch * steps_per_epoch + batch
            self.model.optimizer.learning_rate.assign(
                learning_rate(step, total_steps, base_lr, cfg.warmup_steps if phase == "finetune" else 0,
                              cfg.min_lr_ratio))

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

    class Checkpoint(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            self.model.save_weights(ckpt / "last.weights.h5")
            opt_vars = [np.asarray(v) for v in self.model.optimizer.variables]
            np.savez(ckpt / "optimizer.npz", *opt_vars)
            if average is not None:
                average.save(ckpt / "ema.npz")
            score = validation_score(logs)
            logs["val_score"] = score
            if state.data["best_score"] is None or score < state.data["best_score"]:
                with average.applied() if average is not None else contextlib.nullcontext():
                    save_for_inference(full_model, run_dir / "best.keras")
                state.data.update(best_score=score, best_epoch=epoch_offset + epoch + 1,
                                  best_metrics={k: float(v) for k, v in logs.items() if k.startswith("val_")})
                contract_for(cfg, {"best_epoch": state.data["best_epoch"],
                                   "val": {k: round(v, 4) for k, v in state.data["best_metrics"].items()}}
                             ).save_beside(run_dir / "best.keras")
                log.info("epoch %d: new best validation score %.4f", epoch_offset + epoch + 1, score)
            state.data.update(phase=phase, epoch=epoch + 1)
            state.save()

    class Throughput(keras.callbacks.Callback):
        """Images per second: a log line every 100 steps, and ``samples_per_s`` in the history for
        each epoch (training steps only, validation excluded). Warns when an epoch runs at under
        half the first epoch's rate, which means something else is using the CPU."""

        def on_epoch_begin(self, epoch, logs=None):
            self.t0, self.epoch, self.t_end = time.monotonic(), epoch, None

        def on_test_begin(self, logs=None):
            self.t_end = self.t_end or time.monotonic()

        def on_epoch_end(self, epoch, logs=None):
            if logs is None:
                return
            seconds = (self.t_end or time.monotonic()) - self.t0
            rate = steps_per_epoch * cfg.batch_size / max(seconds, 1e-9)
            logs["samples_per_s"] = rate
            # per phase: a frozen-backbone epoch is faster than a fine-tuning one
            first = state.data.setdefault(f"first_samples_per_s_{phase}", rate)
            if slow_epoch(rate, first):
                log.warning("epoch %d ran at %.0f samples/s, under half the first epoch's %.0f: "
                            "is something else using the CPU?", epoch_offset + epoch + 1, rate, first)

        def on_train_batch_end(self, batch, logs=None):
            if (batch + 1) % 100 == 0:
                rate = (batch + 1) * cfg.batch_size / max(time.monotonic() - self.t0, 1e-9)
                log.info("epoch %d step %d/%d: %.0f img/s, loss %.3f", epoch_offset + self.epoch + 1, batch + 1,
                         steps_per_epoch, rate, float((logs or {}).get("loss", float("nan"))))

    return [Schedule(), Throughput(), make_callback(average), Checkpoint(),
            keras.callbacks.CSVLogger(str(run_dir / "history.csv"), append=True),
            keras.callbacks.TensorBoard(str(run_dir / "tensorboard"), write_graph=False, update_freq="epoch")]


def _restore_optimizer(model, path: Path) -> None:
    if not path.is_file():
        return
    model.optimizer.build(model.trainable_variables)
    saved = np.load(path)
    values = [saved[f"arr_{i}"] for i in range(len(saved.files))]
    variables = model.optimizer.variables
    if len(values) != len(variables) or any(v.shape != tuple(a.shape) for v, a in zip(values, variables)):
        log.warning("optimizer state in %s does not match; continuing with a fresh optimizer", path)
        return
    for var, val in zip(variables, values):
        var.assign(val)


def start_from(model, path: str) -> None:
    """Copy a trained model's weights into ``model`` (a fine-tune): same architecture and input size."""
    from edge.errors import ModelLoadError
    from train.model import load_keras_model

    source = load_keras_model(path)
    if source.input_shape[1:3] != model.input_shape[1:3]:
        raise ModelLoadError(f"{path}: input {source.input_shape[1]} px, but this run trains at "
                           f"{model.input_shape[1]} px (--input-size)")
    try:
        model.set_weights(source.get_weights())
    except ValueError as e:
        raise ModelLoadError(f"{path}: not the same network as this run ({e})") from e
    log.info("starting from the weights of %s", path)


def train(cfg: TrainConfig, resume: bool = False) -> Path:
    """Run (or resume) training; returns the path of the best model."""
    import keras

    from train.cache import cached_chips
    from train.model import build_model, set_backbone_trainable, training_view

    run_dir = Path(cfg.out)
    cfg_path = run_dir / "config.json"
    if resume:
        if not cfg_path.is_file():
            raise DatasetError(f"{run_dir}: nothing to resume (no config.json)")
        cfg = TrainConfig.from_json(cfg_path.read_text())
        log.info("resuming %s", run_dir)
    elif (run_dir / "state.json").exists():
        raise DatasetError(f"{run_dir} already holds a run: pass --resume, or choose another --out")
    run_dir.mkdir(parents=True, exist_ok=True)
    cfg_path.write_text(cfg.to_json())
    _seed_everything(cfg.seed)
    cache_dir = cfg.cache_dir or str(Path.home() / ".cache" / "agegender")

    train_parts = load_split(cfg, "train", cfg.max_train)
    val_parts = load_split(cfg, "val", cfg.max_val)
    train_faces, val_faces = LabeledFaces.concat(train_parts), LabeledFaces.concat(val_parts)
    x_train, ok_train = cached_chips(train_faces.paths, cfg.input_size, cache_dir)
    x_val, ok_val = cached_chips(val_faces.paths, cfg.input_size, cache_dir)
    weights = sampling_weights(train_parts, cfg.source_mix, cfg.balance, cfg.age_weights) * ok_train
    weights /= weights.sum()
    log.info("training on %d faces (%s), validating on %d", int(ok_train.sum()),
             ", ".join(f"{p.source}: {len(p)}" for p in train_parts), int(ok_val.sum()))
    y_train = pack_targets(train_faces)
    val_idx = np.flatnonzero(ok_val)
    y_val = {k: v[val_idx] for k, v in pack_targets(val_faces).items()}
    train_ds = make_train_dataset(x_train, y_train, weights, cfg)
    val_ds = make_eval_dataset(np.asarray(x_val[val_idx]), y_val, 256, paired=cfg.consistency > 0)
    steps = cfg.steps_per_epoch or int(math.ceil(ok_train.sum() / cfg.batch_size))

    full_model = build_model(cfg.input_size, cfg.alpha, cfg.backbone_weights, cfg.age.age_max)
    if cfg.init_model:
        start_from(full_model, cfg.init_model)
    model = training_view(full_model)
    state = RunState(run_dir)
    (run_dir / "contract.json").write_text(contract_for(cfg).to_json())
    if resume and (run_dir / "checkpoints" / "last.weights.h5").is_file():
        model.load_weights(run_dir / "checkpoints" / "last.weights.h5")
    average = None
    if cfg.ema_decay > 0:
        from train.ema import WeightAverage

        average = WeightAverage(model, cfg.ema_decay)
        if resume:
            average.load(run_dir / "checkpoints" / "ema.npz")

    phases = [("frozen", cfg.frozen_epochs, cfg.frozen_lr, False), ("finetune", cfg.epochs, cfg.lr, True)]
    for i, (phase, epochs, lr, backbone_trainable) in enumerate(phases):
        done = state.data["epoch"] if state.data["phase"] == phase else 0
        if state.data["phase"] == "finetune" and phase == "frozen":
            continue
        if epochs <= 0 or done >= epochs:
            if phase == "frozen":
                state.data.update(phase="finetune", epoch=0)
            continue
        set_backbone_trainable(full_model, backbone_trainable, cfg.freeze_until)
        _compile(model, cfg, lr)
        if done > 0:
            _restore_optimizer(model, run_dir / "checkpoints" / "optimizer.npz")
        log.info("phase %s: epochs %d..%d of %d, %d steps each", phase, done + 1, epochs, epochs, steps)
        offset = 0 if phase == "frozen" else cfg.frozen_epochs
        callbacks = _make_callbacks(model, full_model, cfg, run_dir, state, phase, epochs * steps, lr, steps, offset,
                                    average)
        model.fit(train_ds, epochs=epochs, initial_epoch=done, steps_per_epoch=steps,
                  validation_data=val_ds, callbacks=callbacks, verbose=cfg.verbose)
        if phase == "frozen":
            state.data.update(phase="finetune", epoch=0)
            state.save()
    best = run_dir / "best.keras"
    keras.backend.clear_session()
    return best
