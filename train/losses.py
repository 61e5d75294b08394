"""Joint multi-task loss with label masks, written in ``keras.ops`` (any Keras backend).

Targets are packed so that a sample can lack any label:
- age: ``(N, 4)`` = [age_lo, age_hi, has_exact_age, has_age_interval]
- gender: ``(N, 2)`` = [is_female, has_gender]
- race: ``(N, 2)`` = [class index, has_race]

Each loss returns per-sample values scaled so that the batch mean equals the mean over the
samples that carry the label (masked samples contribute nothing).
"""
from __future__ import annotations

from dataclasses import dataclass

import keras
from keras import ops

EPS = 1e-7


@dataclass
class AgeLossConfig:
    age_max: int = 100
    sigma_base: float = 1.5      # Gaussian label width at age 0, years
    sigma_slope: float = 0.05    # extra width per year of age (older faces are less certain)
    sigma_knee: float = 0.0      # the width stays at sigma_base up to this age, then grows by sigma_slope
    threshold_weight: float = 0.0  # weight of the decision-threshold term (P(age < t) per threshold); 0: off
    thresholds: tuple = (18.0, 25.0)  # ages of that term: the legal age and a Challenge-25 policy
    l1_weight: float = 0.1       # weight of |E[age] - age| for exact ages, per year
    interval_soft_edge: float = 1.0  # years; 0 gives hard interval edges
    interval_prior_weight: float = 0.0  # weight of the within-bin prior for age intervals; 0: off
    interval_prior_top: float = 90.0    # the prior of an open-ended top bin (FairFace 70+) stops here
    kind: str = "ldl"            # ldl: the above | mean-variance: Pan et al. 2018's mean and variance terms
    mean_weight: float = 0.2     # mean-variance: weight of (E[age] - age)^2 / 2, replacing the L1 term
    variance_weight: float = 0.05  # mean-variance: weight of Var[age] under the predicted distribution

    def __post_init__(self) -> None:
        if self.kind not in AGE_LOSSES:
            raise ValueError(f"age loss {self.kind!r}: choose from {', '.join(AGE_LOSSES)}")


AGE_LOSSES = ("ldl", "mean-variance")


def _masked_scale(per_sample, mask):
    mask = ops.cast(mask, per_sample.dtype)
    n = ops.cast(ops.shape(mask)[0], per_sample.dtype)
    return per_sample * mask * n / ops.maximum(ops.sum(mask), 1.0)


def age_targets(age, cfg: AgeLossConfig):
    """Gaussian label distribution over 0..age_max for exact ages ``age`` (N,)."""
    ages = ops.arange(cfg.age_max + 1, dtype="float32")
    sigma = cfg.sigma_base + cfg.sigma_slope * ops.maximum(age - cfg.sigma_knee, 0.0)
    z = (ages[None, :] - age[:, None]) / sigma[:, None]
    w = ops.exp(-0.5 * z * z)
    return w / ops.sum(w, axis=1, keepdims=True)


def interval_weights(lo, hi, cfg: AgeLossConfig):
    """Membership of each age bin in [lo, hi] (N, age_max+1), hard or with soft edges."""
    ages = ops.arange(cfg.age_max + 1, dtype="float32")[None, :]
    lo, hi = lo[:, None] - 0.5, hi[:, None] + 0.5
    if cfg.interval_soft_edge <= 0:
        return ops.cast((ages >= lo) & (ages <= hi), "float32")
    t = cfg.interval_soft_edge / 4.0
    return ops.sigmoid((ages - lo) / t) * ops.sigmoid((hi - ages) / t)


def age_interval_nll(dist, lo, hi, cfg: AgeLossConfig):
    """-log of the probability mass inside the interval, per sample."""
    mass = ops.sum(dist * interval_weights(lo, hi, cfg), axis=1)
    return -ops.log(mass + EPS)


def interval_prior_kl(dist, lo, hi, cfg: AgeLossConfig):
    """KL divergence from a uniform prior over the interval to the predicted distribution renormalised
    inside it, per sample: *where* in its bin a face's mass lies, which the interval NLL leaves free.

    Without it a model trained on bins alone places the mass of an open-ended bin (FairFace's 70+) at its
    lower edge and reads the old too young. The prior of an open top bin stops at ``interval_prior_top``."""
    top = ops.maximum(ops.minimum(hi, cfg.interval_prior_top), lo)
    prior = interval_weights(lo, top, cfg)
    prior = prior / ops.sum(prior, axis=1, keepdims=True)
    inside = dist * interval_weights(lo, hi, cfg)
    inside = inside / (ops.sum(inside, axis=1, keepdims=True) + EPS)
    return ops.sum(prior * (ops.log(prior + EPS) - ops.log(inside + EPS)), axis=1)


def mass_below(dist, threshold: float):
    """P(age < threshold) under the predicted distribution over whole years 0..age_max, per sample."""
    ages = ops.arange(ops.shape(dist)[1], dtype="float32")[None, :]
    return ops.sum(dist * ops.cast(ages < threshold, "float32"), axis=1)


def threshold_targets(lo, hi, exact, interval, threshold: float):
    """(target, known) of "age < threshold" for each sample: exact ages always know it; an age bin knows it
    when it lies wholly on one side (FairFace's 10-19 bin is under 25 but says nothing about 18)."""
    below = ops.cast(hi < threshold, "float32")
    above = ops.cast(lo >= threshold, "float32")
    target = exact * ops.cast(lo < threshold, "float32") + (1.0 - exact) * below
    known = ops.maximum(exact, interval * ops.maximum(below, above))
    return target, known


def threshold_bce(dist, lo, hi, exact, interval, cfg: AgeLossConfig):
    """Sum over ``cfg.thresholds`` of the binary cross-entropy of P(age < t) against the label's side of t:
    the decision an age check takes, trained directly, so that a confidently wrong young face costs more than
    its L1 error alone says."""
    total = ops.zeros_like(lo)
    for t in cfg.thresholds:
        target, known = threshold_targets(lo, hi, exact, interval, float(t))
        p = ops.clip(mass_below(dist, float(t)), EPS, 1 - EPS)
        total = total + known * -(target * ops.log(p) + (1 - target) * ops.log(1 - p))
    return total


def expected_age(dist, age_max: int = 100):
    return ops.sum(dist * ops.arange(age_max + 1, dtype="float32")[None, :], axis=1)


def age_variance(dist, age_max: int = 100):
    ages = ops.arange(age_max + 1, dtype="float32")[None, :]
    mean = ops.sum(dist * ages, axis=1, keepdims=True)
    return ops.sum(dist * (ages - mean) ** 2, axis=1)


def make_age_loss(cfg: AgeLossConfig):
    """Exact ages: cross-entropy to a Gaussian label distribution plus, for ``ldl``, an L1 term on the
    expected age, or, for ``mean-variance``, the squared error of the expected age and the variance
    of the distribution. Age intervals: -log of the mass inside the interval (both kinds), plus, with
    ``interval_prior_weight``, the within-bin prior of :func:`interval_prior_kl`."""
    def age_loss(y_true, y_pred):
        y_true = ops.cast(y_true, "float32")
        lo, hi, exact, interval = y_true[:, 0], y_true[:, 1], y_true[:, 2], y_true[:, 3]
        dist = ops.clip(ops.cast(y_pred, "float32"), EPS, 1.0)
        ce = -ops.sum(age_targets(lo, cfg) * ops.log(dist), axis=1)
        error = expected_age(dist, cfg.age_max) - lo
        if cfg.kind == "mean-variance":
            exact_loss = ce + cfg.mean_weight * 0.5 * error * error + cfg.variance_weight * age_variance(dist, cfg.age_max)
        else:
            exact_loss = ce + cfg.l1_weight * ops.abs(error)
        interval_loss = age_interval_nll(dist, lo, hi, cfg)
        if cfg.interval_prior_weight > 0:
            interval_loss = interval_loss + cfg.interval_prior_weight * interval_prior_kl(dist, lo, hi, cfg)
        per_sample = exact * exact_loss + interval * interval_loss
        if cfg.threshold_weight > 0:
            per_sample = per_sample + cfg.threshold_weight * threshold_bce(dist, lo, hi, exact, interval, cfg)
        return _masked_scale(per_sample, ops.maximum(exact, interval))
    age_loss.__name__ = "age_loss"
    return age_loss


def gender_loss(y_true, y_pred):
    y_true = ops.cast(y_true, "float32")
    label, has = y_true[:, 0], y_true[:, 1]
    p = ops.clip(ops.cast(y_pred[:, 0], "float32"), EPS, 1 - EPS)
    bce = -(label * ops.log(p) + (1 - label) * ops.log(1 - p))
    return _masked_scale(bce, has)


def race_loss(y_true, y_pred):
    y_true = ops.cast(y_true, "float32")
    label, has = ops.cast(y_true[:, 0], "int32"), y_true[:, 1]
    probs = ops.clip(ops.cast(y_pred, "float32"), EPS, 1.0)
    onehot = ops.one_hot(label, ops.shape(probs)[1])
    ce = -ops.sum(onehot * ops.log(probs), axis=1)
    return _masked_scale(ce, has)


class MaskedMean(keras.metrics.Metric):
    """Mean of a per-sample value over the samples whose mask is set."""

    def __init__(self, name: str, **kwargs):
        super().__init__(name=name, **kwargs)
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def values(self, y_true, y_pred):  # pragma: no cover - overridden
        raise NotImplementedError

    def update_state(self, y_true, y_pred, sample_weight=None):
        v, m = self.values(ops.cast(y_true, "float32"), ops.cast(y_pred, "float32"))
        self.total.assign_add(ops.sum(v * m))
        self.count.assign_add(ops.sum(m))

    def result(self):
        return self.total / ops.maximum(self.count, 1.0)

    def reset_state(self):
        self.total.assign(0.0)
        self.count.assign(0.0)


class AgeMAE(MaskedMean):
    """MAE of the expected age, over samples with an exact age."""

    def __init__(self, name: str = "mae", age_max: int = 100, **kwargs):
        super().__init__(name=name, **kwargs)
        self.age_max = age_max

    def values(self, y_true, y_pred):
        return ops.abs(expected_age(y_pred, self.age_max) - y_true[:, 0]), y_true[:, 2]


class AgeIntervalAccuracy(MaskedMean):
    """Share of interval-labelled samples whose expected age falls inside the interval."""

    def __init__(self, name: str = "bin_acc", age_max: int = 100, **kwargs):
        super().__init__(name=name, **kwargs)
        self.age_max = age_max

    def values(self, y_true, y_pred):
        e = expected_age(y_pred, self.age_max)
        inside = ops.cast((e >= y_true[:, 0] - 0.5) & (e < y_true[:, 1] + 0.5), "float32")
        return inside, y_true[:, 3]


class MaskedBinaryAccuracy(MaskedMean):
    def __init__(self, name: str = "acc", **kwargs):
        super().__init__(name=name, **kwargs)

    def values(self, y_true, y_pred):
        hit = ops.cast(ops.cast(y_pred[:, 0] > 0.5, "float32") == y_true[:, 0], "float32")
        return hit, y_true[:, 1]


class MaskedCategoricalAccuracy(MaskedMean):
    def __init__(self, name: str = "acc", **kwargs):
        super().__init__(name=name, **kwargs)

    def values(self, y_true, y_pred):
        hit = ops.cast(ops.cast(ops.argmax(y_pred, axis=1), "float32") == y_true[:, 0], "float32")
        return hit, y_true[:, 1]


def mixable(loss_fn, width: int):
    """``loss_fn`` for mixup targets ``[y_a, y_b, lam]`` (2 * width + 1 columns): ``lam * L(y_a) +
    (1 - lam) * L(y_b)``, each with its own mask. Plain targets (validation) pass straight through."""
    def loss(y_true, y_pred):
        if y_true.shape[-1] != 2 * width + 1:
            return loss_fn(y_true, y_pred)
        y_true = ops.cast(y_true, "float32")
        lam = y_true[:, 2 * width]
        return lam * loss_fn(y_true[:, :width], y_pred) + (1 - lam) * loss_fn(y_true[:, width:2 * width], y_pred)
    loss.__name__ = getattr(loss_fn, "__name__", "loss")
    return loss


# p(female) change that counts as much as one year of age change in the consistency term: the ratio of the
# stability targets (age p95 <= 1.0 y, p(female) p95 <= 0.03)
GENDER_CONSISTENCY_SCALE = 0.03


def pair_partner(n):
    """Index of each row's pair partner in an interleaved batch (0<->1, 2<->3, ...); an odd last row is its
    own partner."""
    i = ops.arange(n)
    return ops.minimum(i + 1 - 2 * (i % 2), n - 1)


def with_consistency(fn, weight: float, output: str, age_max: int = 100):
    """``fn`` plus ``weight`` times how far a face's answer moves between the two rows of its pair
    (``augment.with_twins``): the expected age in years for ``age_dist``, p(female) / 0.03 for ``gender``.
    Batches of unpaired faces must not use it: each row would be compared with an unrelated neighbour."""
    if output not in ("age_dist", "gender"):
        raise ValueError(f"no consistency term for output {output!r}")

    def loss(y_true, y_pred):
        base = fn(y_true, y_pred)
        pred = ops.cast(y_pred, "float32")
        other = ops.take(pred, pair_partner(ops.shape(pred)[0]), axis=0)
        if output == "age_dist":
            change = ops.abs(expected_age(pred, age_max) - expected_age(other, age_max))
        else:
            change = ops.abs(pred[:, 0] - other[:, 0]) / GENDER_CONSISTENCY_SCALE
        return base + weight * change
    loss.__name__ = f"{getattr(fn, '__name__', 'loss')}_consistency"
    return loss
