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
