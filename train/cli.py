"""`agegender train`: command-line options -> TrainConfig -> trainer."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from edge.errors import AgeGenderError

log = logging.getLogger(__name__)

UTK_LICENCE = "non-commercial research only (trained on UTKFace, whose licence forbids commercial use)"
OPEN_LICENCE = "CC BY 4.0 training data (FairFace, Karkkainen and Joo 2021): attribution required"


def _floats(text: str, what: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError as e:
        raise AgeGenderError(f"{what} must be comma-separated numbers, not {text!r}") from e


def parse_age_weights(text: str) -> list[list[float]]:
    """``"5-25:2,60-100:1.5"`` -> ``[[5, 25, 2], [60, 100, 1.5]]``."""
    rules = []
    for part in (t.strip() for t in text.split(",") if t.strip()):
        try:
            span, w = part.split(":")
            lo, hi = span.split("-")
            rule = [float(lo), float(hi), float(w)]
        except ValueError as e:
            raise AgeGenderError(f"--age-weight takes LO-HI:WEIGHT[,...] (e.g. 5-25:2), not {part!r}") from e
        if rule[0] > rule[1] or rule[2] <= 0:
            raise AgeGenderError(f"--age-weight {part!r}: needs LO <= HI and a positive weight")
        rules.append(rule)
    return rules


def parse_age_sigma(text: str) -> dict[str, float]:
    """``"BASE,SLOPE[,KNEE]"`` -> the label-distribution width parameters of AgeLossConfig."""
    values = _floats(text, "--age-sigma")
    if len(values) not in (2, 3) or values[0] <= 0 or values[1] < 0:
        raise AgeGenderError("--age-sigma takes BASE,SLOPE[,KNEE] with BASE > 0 and SLOPE >= 0, e.g. 1.0,0.08,18")
    return dict(zip(("sigma_base", "sigma_slope", "sigma_knee"), values))


def licence_for(data: list[str]) -> str:
    from train.sources import detect_format

    kinds = {detect_format(d) for d in data if Path(d).exists()}
    return UTK_LICENCE if "utkface" in kinds or not kinds else OPEN_LICENCE


def config_from_args(args: argparse.Namespace):
    from train.losses import AgeLossConfig
    from train.trainer import TrainConfig

    weights = _floats(args.loss_weights, "--loss-weights")
    if len(weights) != 3:
        raise AgeGenderError("--loss-weights needs three numbers: age,gender,race")
    mix = _floats(args.source_mix, "--source-mix") or None
    return TrainConfig(
        data=list(args.data), out=args.out, name=args.name, licence=args.licence or licence_for(args.data),
        backbone_weights=args.backbone_weights, input_size=args.input_size, alpha=args.alpha,
        freeze_until=args.freeze_until,
        batch_size=args.batch_size, frozen_epochs=args.frozen_epochs, epochs=args.epochs,
        steps_per_epoch=args.steps_per_epoch, lr=args.lr,
        loss_weights={"age": weights[0], "gender": weights[1], "race": weights[2]},
        source_mix=mix, balance=args.balance, max_train=args.max_train, max_val=args.max_val, seed=args.seed,
        cache_dir=args.cache_dir, verbose=1 if not args.quiet else 2,
        age=AgeLossConfig(kind=args.age_loss, interval_prior_weight=args.interval_prior,
                          threshold_weight=args.threshold_loss,
                          thresholds=tuple(_floats(args.age_thresholds, "--age-thresholds")),
                          **(parse_age_sigma(args.age_sigma) if args.age_sigma else {})),
        age_weights=parse_age_weights(args.age_weight), ema_decay=args.ema,
        mixup=args.mixup, init_model=args.init_model, consistency=args.consistency, consistency_noise=args.consistency_noise,
        consistency_shift=args.consistency_shift)


def run_train(args: argparse.Namespace) -> int:
    from train.trainer import train

    cfg = config_from_args(args)
    if not args.resume and not cfg.data:
        raise AgeGenderError("no training data: pass --data DIR (repeat for several data sets)")
    best = train(cfg, resume=args.resume)
    log.info("best model: %s", best)
    return 0
