"""The joint loss: masks, label distributions and the interval loss for age bins."""
import numpy as np
import pytest

from conftest import needs_tf

pytestmark = needs_tf


def test_gaussian_targets_are_distributions_centred_on_the_age():
    from keras import ops

    from train.losses import AgeLossConfig, age_targets

    t = ops.convert_to_numpy(age_targets(ops.convert_to_tensor(np.array([5.0, 60.0], np.float32)), AgeLossConfig()))
    np.testing.assert_allclose(t.sum(1), 1.0, atol=1e-5)
    assert t[0].argmax() == 5 and t[1].argmax() == 60
    assert (t[1] > 0.01).sum() > (t[0] > 0.01).sum()   # older: wider


def test_interval_loss_moves_mass_into_the_interval():
    """Gradient descent on free logits with only the interval loss for 30-39."""
    import tensorflow as tf

    from train.losses import AgeLossConfig, age_interval_nll, expected_age

    cfg = AgeLossConfig()
    logits = tf.Variable(np.zeros((1, 101), np.float32))
    lo, hi = tf.constant([30.0]), tf.constant([39.0])
    opt = tf.keras.optimizers.SGD(learning_rate=1.0)

    def mass():
        p = tf.nn.softmax(logits)
        return float(tf.reduce_sum(p[0, 30:40]))

    before = mass()
    for _ in range(200):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(age_interval_nll(tf.nn.softmax(logits), lo, hi, cfg))
        opt.apply_gradients([(tape.gradient(loss, logits), logits)])
    after = mass()
    e = float(expected_age(tf.nn.softmax(logits))[0])
    assert before == pytest.approx(10 / 101, abs=1e-3)
    assert after > 0.9
    assert 30 <= e <= 39


def test_interval_prior_moves_mass_of_the_open_top_bin_off_its_lower_edge():
    """A 70+ face whose mass sits at 70-72: the interval NLL alone leaves it there (it only asks for mass
    inside the bin); with the within-bin prior the expected age moves to the middle of 70-90."""
    import tensorflow as tf

    from train.losses import AgeLossConfig, expected_age, make_age_loss

    start = np.full((1, 101), -5.0, np.float32)
    start[0, 70:73] = 5.0
    y = tf.constant([[70.0, 116.0, 0.0, 1.0]])

    def fit(weight: float) -> float:
        logits = tf.Variable(start)
        loss_fn = make_age_loss(AgeLossConfig(interval_prior_weight=weight))
        opt = tf.keras.optimizers.SGD(learning_rate=1.0)
        for _ in range(300):
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(loss_fn(y, tf.nn.softmax(logits)))
            opt.apply_gradients([(tape.gradient(loss, logits), logits)])
        return float(expected_age(tf.nn.softmax(logits))[0])

    assert fit(0.0) < 73.0
    assert 76.0 <= fit(0.5) <= 82.0   # on its way to 80, the middle of 70-90


def test_interval_prior_is_zero_for_a_uniform_bin_and_positive_for_a_peaked_one():
    from keras import ops

    from train.losses import AgeLossConfig, interval_prior_kl

    cfg = AgeLossConfig(interval_soft_edge=0.0)
    uniform = np.zeros((1, 101), np.float32)
    uniform[0, 20:30] = 0.1
    peaked = np.zeros((1, 101), np.float32) + 1e-6
    peaked[0, 20] = 1.0
    lo, hi = ops.convert_to_tensor([20.0]), ops.convert_to_tensor([29.0])
    kl = [float(ops.convert_to_numpy(interval_prior_kl(ops.convert_to_tensor(d), lo, hi, cfg))[0]) for d in (uniform, peaked)]
    assert kl[0] == pytest.approx(0.0, abs=1e-4)
    assert kl[1] > 1.0


def test_masked_losses_ignore_missing_labels():
    from keras import ops

    from train.losses import AgeLossConfig, gender_loss, make_age_loss, race_loss

    probs = np.full((2, 101), 1 / 101, np.float32)
    age_true = np.array([[30, 30, 1, 0], [0, 0, 0, 0]], np.float32)   # second sample has no age
    per = ops.convert_to_numpy(make_age_loss(AgeLossConfig())(age_true, probs))
    assert per[1] == 0 and per[0] > 0
    g = ops.convert_to_numpy(gender_loss(np.array([[1, 1], [0, 0]], np.float32), np.array([[0.9], [0.9]], np.float32)))
    assert g[1] == 0 and g[0] == pytest.approx(2 * -np.log(0.9), rel=1e-4)   # mean over labelled samples
    r = ops.convert_to_numpy(race_loss(np.array([[2, 0], [1, 0]], np.float32), np.full((2, 5), 0.2, np.float32)))
    assert np.all(r == 0)


def test_interval_metric_and_mae():
    from keras import ops

    from train.losses import AgeIntervalAccuracy, AgeMAE

    dist = np.zeros((2, 101), np.float32); dist[0, 35] = 1; dist[1, 50] = 1
    y = np.array([[30, 39, 0, 1], [40, 40, 1, 0]], np.float32)
    acc, mae = AgeIntervalAccuracy(), AgeMAE()
    acc.update_state(y, dist); mae.update_state(y, dist)
    assert float(ops.convert_to_numpy(acc.result())) == 1.0
    assert float(ops.convert_to_numpy(mae.result())) == pytest.approx(10.0)


def test_mean_variance_loss_penalises_spread_and_distance():
    from keras import ops

    from train.losses import AgeLossConfig, make_age_loss

    y = np.array([[30, 30, 1, 0]], np.float32)
    narrow = np.full((1, 101), 1e-6, np.float32); narrow[0, 29:32] = 1 / 3
    wide = np.full((1, 101), 1e-6, np.float32); wide[0, 20:41] = 1 / 21
    off = np.full((1, 101), 1e-6, np.float32); off[0, 39:42] = 1 / 3
    mv = make_age_loss(AgeLossConfig(kind="mean-variance"))
    ldl = make_age_loss(AgeLossConfig())
    loss = lambda fn, p: float(ops.convert_to_numpy(fn(y, p))[0])  # noqa: E731
    # same cross-entropy in both: the difference is 0.05 * Var (centred: no mean or L1 term)
    assert loss(mv, wide) - loss(ldl, wide) == pytest.approx(0.05 * (21 ** 2 - 1) / 12, rel=1e-2)
    assert loss(mv, narrow) - loss(ldl, narrow) == pytest.approx(0.05 * 2 / 3, abs=0.01)
    # 10 years off: 0.2 * 10^2 / 2 + 0.05 * Var instead of 0.1 * 10
    assert loss(mv, off) - loss(ldl, off) == pytest.approx(10 + 0.05 * 2 / 3 - 1, abs=0.05)
    with pytest.raises(ValueError, match="age loss 'l2'"):
        AgeLossConfig(kind="l2")


def test_mixup_loss_weighs_both_labels_with_their_own_masks():
    from keras import ops

    from train.losses import gender_loss, mixable

    p = np.array([[0.8], [0.8]], np.float32)
    a = np.array([[1, 1], [1, 1]], np.float32)          # female, labelled
    b = np.array([[0, 1], [0, 0]], np.float32)          # male labelled; second has no gender
    lam = np.array([[0.25], [0.25]], np.float32)
    mixed = ops.convert_to_numpy(mixable(gender_loss, 2)(np.concatenate([a, b, lam], 1), p))
    la = ops.convert_to_numpy(gender_loss(a, p))
    lb = ops.convert_to_numpy(gender_loss(b, p))
    np.testing.assert_allclose(mixed, 0.25 * la + 0.75 * lb, rtol=1e-5)
    assert lb[1] == 0
    np.testing.assert_allclose(ops.convert_to_numpy(mixable(gender_loss, 2)(a, p)), la)   # validation targets


def test_mixup_batch_mixes_images_and_packs_both_targets():
    from train.trainer import mixup_batch

    images = np.stack([np.zeros((4, 4, 3), np.uint8), np.full((4, 4, 3), 200, np.uint8)])
    targets = {"gender": np.array([[0, 1], [1, 1]], np.float32)}
    x, y = mixup_batch(images, targets, np.array([0]), np.array([1]), np.array([0.75], np.float32))
    assert x.dtype == np.uint8 and int(x[0, 0, 0, 0]) == 50
    np.testing.assert_allclose(y["gender"], [[0, 1, 1, 1, 0.75]])


class _Weights:
    def __init__(self, value: float):
        self.w = [np.full(3, value, np.float32)]

    def get_weights(self):
        return [a.copy() for a in self.w]

    def set_weights(self, ws):
        self.w = [np.array(a) for a in ws]


def test_weight_average_warms_up_applies_and_resumes(tmp_path):
    from train.ema import WeightAverage, effective_decay

    assert effective_decay(0.999, 0) == pytest.approx(0.1) and effective_decay(0.999, 10 ** 6) == 0.999
    model = _Weights(0.0)
    avg = WeightAverage(model, 0.999, every=1)
    model.w = [np.full(3, 10.0, np.float32)]
    avg.update()                                   # first update: decay 0.1, so mostly the new weights
    assert avg.shadow[0][0] == pytest.approx(9.0)
    with avg.applied():
        assert model.get_weights()[0][0] == pytest.approx(9.0)
    assert model.get_weights()[0][0] == 10.0         # raw weights back after the block
    avg.save(tmp_path / "ema.npz")
    again = WeightAverage(_Weights(5.0), 0.999, every=1)
    assert again.load(tmp_path / "ema.npz") and again.updates == 1 and again.shadow[0][0] == pytest.approx(9.0)
    assert not WeightAverage(_Weights(0.0), 0.9).load(tmp_path / "missing.npz")


def test_consistency_term_is_zero_for_identical_twins_and_counts_years_and_p_female():
    from train.losses import gender_loss, make_age_loss, pair_partner, with_consistency, AgeLossConfig

    assert list(np.asarray(pair_partner(5))) == [1, 0, 3, 2, 4]     # odd last row: its own partner
    cfg = AgeLossConfig()
    dist = np.zeros((4, cfg.age_max + 1), np.float32)
    dist[[0, 1, 2], [30, 30, 30]] = 1.0
    dist[3, 33] = 1.0                                   # row 3 is row 2's twin, read 3 years older
    y_age = np.tile(np.array([[30, 30, 1, 0]], np.float32), (4, 1))
    base = np.asarray(make_age_loss(cfg)(y_age, dist))
    paired = np.asarray(with_consistency(make_age_loss(cfg), 0.5, "age_dist", cfg.age_max)(y_age, dist))
    assert paired[:2] == pytest.approx(base[:2])         # identical twins: no change, no term
    assert paired[2:] - base[2:] == pytest.approx([1.5, 1.5], abs=1e-4)   # 0.5 x 3 years, on both rows
    p = np.array([[0.9], [0.9], [0.5], [0.56]], np.float32)
    y_g = np.tile(np.array([[1, 1]], np.float32), (4, 1))
    extra = np.asarray(with_consistency(gender_loss, 1.0, "gender")(y_g, p)) - np.asarray(gender_loss(y_g, p))
    assert extra == pytest.approx([0, 0, 2, 2], abs=1e-4)  # 0.06 / 0.03
    with pytest.raises(ValueError):
        with_consistency(gender_loss, 1.0, "race")


def test_camera_twins_interleave_each_face_with_a_slightly_moved_noisy_copy():
    import tensorflow as tf

    from train.augment import camera_twin, with_twins

    rng = np.random.default_rng(0)
    faces = rng.integers(0, 256, (3, 16, 16, 3)).astype(np.float32) + 0.4   # augmented: not whole grey levels
    x, y = with_twins(tf.constant(faces), {"gender": tf.constant([[1, 1], [0, 1], [1, 0]], tf.float32)},
                      noise_levels=1, shift_px=0.0)
    x, y = np.asarray(x), np.asarray(y["gender"])
    assert x.shape == (6, 16, 16, 3) and list(y[:, 0]) == [1, 1, 0, 0, 1, 1]
    assert np.array_equal(x[0::2], np.round(faces))                       # the faces, rounded
    diff = x[1::2] - x[0::2]
    assert np.abs(diff).max() <= 1 and np.abs(diff).mean() > 0.3           # twins: +-1 grey level of noise
    assert np.array_equal(x, np.round(x))
    smooth = np.tile(np.arange(16, dtype=np.float32)[None, None, :, None] * 10, (1, 16, 1, 3))
    moved = np.asarray(camera_twin(tf.constant(smooth), noise_levels=0, shift_px=0.5))
    step = (moved - smooth)[0, :, 2:-2, 0]                                 # a ramp of 10 per pixel, moved < 0.5 px
    assert np.abs(step).max() <= 5 and np.allclose(step, step[0, 0], atol=1)


def test_label_width_stays_narrow_up_to_the_knee_then_grows():
    from keras import ops

    from train.losses import AgeLossConfig, age_targets

    cfg = AgeLossConfig(sigma_base=1.0, sigma_slope=0.1, sigma_knee=20)
    t = ops.convert_to_numpy(age_targets(ops.convert_to_tensor(np.array([10.0, 20.0, 60.0], np.float32)), cfg))
    ages = np.arange(101)
    width = [np.sqrt((row * (ages - (row * ages).sum()) ** 2).sum()) for row in t]
    assert width[0] == pytest.approx(width[1], abs=0.01) and width[0] == pytest.approx(1.0, abs=0.05)
    assert width[2] == pytest.approx(5.0, abs=0.1)   # 1.0 + 0.1 * (60 - 20)


def test_threshold_targets_from_exact_ages_and_from_bins_wholly_on_one_side():
    from keras import ops

    from train.losses import threshold_targets

    # exact 16, exact 30, bin 10-19, bin 20-29, bin 3-9, no age label
    lo = np.array([16, 30, 10, 20, 3, 0], np.float32)
    hi = np.array([16, 30, 19, 29, 9, 0], np.float32)
    exact = np.array([1, 1, 0, 0, 0, 0], np.float32)
    interval = np.array([0, 0, 1, 1, 1, 0], np.float32)
    t18, k18 = (ops.convert_to_numpy(v) for v in threshold_targets(lo, hi, exact, interval, 18.0))
    t25, k25 = (ops.convert_to_numpy(v) for v in threshold_targets(lo, hi, exact, interval, 25.0))
    assert k18.tolist() == [1, 1, 0, 1, 1, 0]      # 10-19 straddles 18; the unlabelled face is unknown
    assert (t18 * k18).tolist() == [1, 0, 0, 0, 1, 0]
    assert k25.tolist() == [1, 1, 1, 0, 1, 0]      # 10-19 lies under 25, 20-29 straddles it
    assert (t25 * k25).tolist() == [1, 0, 1, 0, 1, 0]


def test_threshold_term_punishes_a_minor_read_as_an_adult_more_than_an_unsure_one():
    from keras import ops

    from train.losses import AgeLossConfig, make_age_loss

    def dist_at(age, width):
        d = np.exp(-0.5 * ((np.arange(101) - age) / width) ** 2)
        return d / d.sum()

    y = np.array([[16, 16, 1, 0]] * 2, np.float32)
    # same expected age, one confidently adult-looking (narrow at 23), one spread over 16..30
    pred = np.stack([dist_at(23, 1.0), dist_at(23, 6.0)]).astype(np.float32)
    plain = ops.convert_to_numpy(make_age_loss(AgeLossConfig())(y, pred))
    with_term = ops.convert_to_numpy(make_age_loss(AgeLossConfig(threshold_weight=1.0))(y, pred))
    extra = with_term - plain
    assert extra[0] > extra[1] > 0
