"""Batched, per-sample augmentation in TensorFlow, matched to what the runtime feeds the model.

Geometry mimics a detector's alignment error (small rotation, scale, shift) and a mirror;
photometry mimics cheap cameras and varied light (brightness, contrast, saturation, hue,
gamma, colour cast, blur, noise, JPEG, low resolution, grayscale, partial occlusion).
Strengths are deliberately mild: heavy "old photo" degradation made independent photos
worse here. All ops work on float32 batches in 0..255.
"""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class AugmentConfig:
    flip: bool = True
    rotate_deg: float = 10.0
    scale: float = 0.08
    shift: float = 0.04
    brightness: float = 0.15      # fraction of 255
    contrast: float = 0.25
    saturation: float = 0.3
    hue: float = 0.03
    gamma: float = 0.2
    color_cast: float = 0.06
    p_blur: float = 0.15
    p_noise: float = 0.15
    noise_std: float = 6.0
    p_jpeg: float = 0.25
    jpeg_quality: tuple[int, int] = (35, 95)
    p_lowres: float = 0.1
    p_gray: float = 0.05
    p_occlude: float = 0.05

    @classmethod
    def off(cls) -> "AugmentConfig":
        return cls(flip=False, rotate_deg=0, scale=0, shift=0, brightness=0, contrast=0, saturation=0, hue=0,
                   gamma=0, color_cast=0, p_blur=0, p_noise=0, p_jpeg=0, p_lowres=0, p_gray=0, p_occlude=0)


def _uniform(n, lo, hi):
    import tensorflow as tf
    return tf.random.uniform([n], lo, hi)


def _chance(n, p):
    import tensorflow as tf
    return tf.random.uniform([n]) < p


def _select(mask, a, b):
    import tensorflow as tf
    return tf.where(mask[:, None, None, None], a, b)


def _on_subset(x, mask, fn):
    """Apply ``fn`` only to the samples where ``mask`` is set (cheap when the chance is small)."""
    import tensorflow as tf

    idx = tf.where(mask)
    return tf.tensor_scatter_nd_update(x, idx, fn(tf.gather_nd(x, idx)))


def geometric(images, cfg: AugmentConfig):
    import tensorflow as tf

    n = tf.shape(images)[0]
    size = tf.cast(tf.shape(images)[1], tf.float32)
    if cfg.flip:
        images = _select(_chance(n, 0.5), tf.image.flip_left_right(images), images)
    if cfg.rotate_deg or cfg.scale or cfg.shift:
        theta = _uniform(n, -cfg.rotate_deg, cfg.rotate_deg) * (math.pi / 180)
        s = tf.exp(_uniform(n, -cfg.scale, cfg.scale))
        tx, ty = _uniform(n, -cfg.shift, cfg.shift) * size, _uniform(n, -cfg.shift, cfg.shift) * size
        c = (size - 1) / 2
        a00, a01 = tf.cos(theta) / s, tf.sin(theta) / s
        a10, a11 = -tf.sin(theta) / s, tf.cos(theta) / s
        a2 = c - tx - a00 * c - a01 * c
        b2 = c - ty - a10 * c - a11 * c
        zeros = tf.zeros_like(theta)
        transforms = tf.stack([a00, a01, a2, a10, a11, b2, zeros, zeros], axis=1)
        images = tf.raw_ops.ImageProjectiveTransformV3(
            images=images, transforms=transforms, output_shape=tf.shape(images)[1:3],
            fill_value=0.0, interpolation="BILINEAR", fill_mode="REFLECT")
    return images


def _blur(images, kernel_1d):
    import tensorflow as tf

    k = tf.cast(kernel_1d, tf.float32)
    k = k / tf.reduce_sum(k)
    kx = tf.tile(tf.reshape(k, [1, -1, 1, 1]), [1, 1, 3, 1])
    ky = tf.tile(tf.reshape(k, [-1, 1, 1, 1]), [1, 1, 3, 1])
    out = tf.nn.depthwise_conv2d(images, kx, [1, 1, 1, 1], "SAME")
    return tf.nn.depthwise_conv2d(out, ky, [1, 1, 1, 1], "SAME")


def photometric(images, cfg: AugmentConfig):
    import tensorflow as tf

    n = tf.shape(images)[0]
    x = images / 255.0
    if cfg.brightness:
        x = x + _uniform(n, -cfg.brightness, cfg.brightness)[:, None, None, None]
    if cfg.contrast:
        mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
        x = (x - mean) * _uniform(n, 1 - cfg.contrast, 1 + cfg.contrast)[:, None, None, None] + mean
    if cfg.saturation:
        gray = tf.reduce_mean(x, axis=3, keepdims=True)
        x = gray + (x - gray) * _uniform(n, 1 - cfg.saturation, 1 + cfg.saturation)[:, None, None, None]
    x = tf.clip_by_value(x, 0.0, 1.0)
    if cfg.hue or cfg.color_cast:
        # hue: a rotation of the chroma plane in YIQ space, one 3x3 matrix per sample; colour cast: channel gains
        theta = _uniform(n, -cfg.hue, cfg.hue) * (2 * math.pi)
        to_yiq = tf.constant([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])
        from_yiq = tf.linalg.inv(to_yiq)
        c, s_ = tf.cos(theta), tf.sin(theta)
        one, zero = tf.ones_like(c), tf.zeros_like(c)
        rot = tf.stack([tf.stack([one, zero, zero], 1), tf.stack([zero, c, -s_], 1), tf.stack([zero, s_, c], 1)], 1)
        m = tf.matmul(tf.matmul(from_yiq[None], rot), to_yiq[None])
        gains = tf.random.uniform([n, 3], 1 - cfg.color_cast, 1 + cfg.color_cast)
        m = m * gains[:, :, None]
        x = tf.einsum("nhwc,ndc->nhwd", x, m)
    if cfg.gamma:
        x = _on_subset(x, _chance(n, 0.5), lambda v: tf.pow(tf.clip_by_value(v, 1e-4, 1.0), tf.exp(
            tf.random.uniform([tf.shape(v)[0], 1, 1, 1], -cfg.gamma, cfg.gamma))))
    if cfg.p_gray:
        x = _on_subset(x, _chance(n, cfg.p_gray), lambda v: tf.tile(
            tf.image.rgb_to_grayscale(tf.clip_by_value(v, 0.0, 1.0)), [1, 1, 1, 3]))
    x = tf.clip_by_value(x, 0.0, 1.0) * 255.0
    if cfg.p_lowres:
        size = tf.shape(x)[1:3]
        factor = tf.random.uniform([], 0.35, 0.7)
        small = tf.cast(tf.cast(size, tf.float32) * factor, tf.int32)
        x = _on_subset(x, _chance(n, cfg.p_lowres), lambda v: tf.image.resize(
            tf.image.resize(v, small, method="area"), size, method="bilinear"))
    if cfg.p_blur:
        # defocus (Gaussian) or motion (a short line, horizontal or vertical), one kind per batch
        sigma = tf.random.uniform([], 0.6, 1.4)
        r = tf.range(-2, 3, dtype=tf.float32)
        gauss = tf.exp(-0.5 * (r / sigma) ** 2)
        x = _on_subset(x, _chance(n, cfg.p_blur), lambda v: tf.cond(
            tf.random.uniform([]) < 0.7, lambda: _blur(v, gauss), lambda: _blur_motion(v)))
    if cfg.p_occlude:
        x = _occlude(x, _chance(n, cfg.p_occlude))
    if cfg.p_noise:
        x = _on_subset(x, _chance(n, cfg.p_noise), lambda v: v + tf.random.normal(tf.shape(v)) * tf.random.uniform(
            [tf.shape(v)[0], 1, 1, 1], 0.0, cfg.noise_std))
    x = tf.clip_by_value(x, 0.0, 255.0)
    if cfg.p_jpeg:
        x = _on_subset(x, _chance(n, cfg.p_jpeg), lambda v: _jpeg(v, cfg.jpeg_quality))
    return x


def _blur_motion(x):
    import tensorflow as tf

    k = tf.ones([5, 1, 3, 1]) / 5.0
    k = tf.cond(tf.random.uniform([]) < 0.5, lambda: k, lambda: tf.transpose(k, [1, 0, 2, 3]))
    return tf.nn.depthwise_conv2d(x, k, [1, 1, 1, 1], "SAME")


def _occlude(x, mask):
    """A grey rectangle over 10-30% of the side, like a hand, a cup or a scarf."""
    import tensorflow as tf

    n = tf.shape(x)[0]
    size = tf.cast(tf.shape(x)[1], tf.float32)
    w = _uniform(n, 0.15, 0.35) * size
    h = _uniform(n, 0.15, 0.35) * size
    cx, cy = _uniform(n, 0, 1) * size, _uniform(n, 0, 1) * size
    grid = tf.range(size)
    in_x = tf.abs(grid[None, :] - cx[:, None]) < w[:, None] / 2
    in_y = tf.abs(grid[None, :] - cy[:, None]) < h[:, None] / 2
    box = tf.logical_and(in_y[:, :, None], in_x[:, None, :]) & mask[:, None, None]
    fill = tf.random.uniform([n, 1, 1, 3], 40, 200)
    return tf.where(box[..., None], fill, x)


def _jpeg(x, quality):
    import tensorflow as tf

    lo, hi = quality

    def one(img):
        q = tf.random.uniform([], lo, hi + 1, dtype=tf.int32)
        return tf.cast(tf.image.adjust_jpeg_quality(tf.cast(img, tf.uint8), q), tf.float32)

    return tf.map_fn(one, x, fn_output_signature=tf.float32)


def augment_batch(images, cfg: AugmentConfig):
    """uint8 or float (N, H, W, 3) in 0..255 -> float32 augmented batch in 0..255."""
    import tensorflow as tf

    x = tf.cast(images, tf.float32)
    x = geometric(x, cfg)
    x = photometric(x, cfg)
    return x


def camera_twin(images, noise_levels: int = 1, shift_px: float = 0.25):
    """The same faces as a camera would deliver them a frame later: the sampling grid moved by up to
    ``shift_px`` pixels in x and y (bilinear, as the runtime's aligner warps) and integer noise of up to
    ``noise_levels`` grey levels. ``images``: float (N, H, W, 3) in 0..255, whole grey levels expected;
    the result is rounded and clipped like a uint8 crop."""
    import tensorflow as tf

    x = tf.cast(images, tf.float32)
    n = tf.shape(x)[0]
    if shift_px > 0:
        dx, dy = _uniform(n, -shift_px, shift_px), _uniform(n, -shift_px, shift_px)
        ones, zeros = tf.ones_like(dx), tf.zeros_like(dx)
        transforms = tf.stack([ones, zeros, dx, zeros, ones, dy, zeros, zeros], axis=1)
        x = tf.raw_ops.ImageProjectiveTransformV3(
            images=x, transforms=transforms, output_shape=tf.shape(x)[1:3],
            fill_value=0.0, interpolation="BILINEAR", fill_mode="NEAREST")
    if noise_levels > 0:
        x = x + tf.cast(tf.random.uniform(tf.shape(x), -noise_levels, noise_levels + 1, dtype=tf.int32), tf.float32)
    return tf.clip_by_value(tf.round(x), 0.0, 255.0)


def with_twins(images, targets: dict, noise_levels: int = 1, shift_px: float = 0.25):
    """Interleave each (rounded) face with its :func:`camera_twin`: rows 2i and 2i+1 are one face, and the
    targets repeat, so a loss can compare a pair's outputs (``losses.with_consistency``)."""
    import tensorflow as tf

    x = tf.clip_by_value(tf.round(tf.cast(images, tf.float32)), 0.0, 255.0)
    pairs = tf.stack([x, camera_twin(x, noise_levels, shift_px)], axis=1)
    shape = tf.shape(x)
    return (tf.reshape(pairs, tf.concat([[2 * shape[0]], shape[1:]], 0)),
            {k: tf.repeat(v, 2, axis=0) for k, v in targets.items()})
