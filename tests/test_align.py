import math

import numpy as np
import pytest

from edge.vision.align import Aligner, box_matrix, check_alignment, resize_crop, umeyama
from edge.contract import ModelContract
from edge.types import Detection


def test_umeyama_recovers_a_similarity():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, (5, 2))
    s, th, t = 1.7, math.radians(20), np.array([5.0, -3.0])
    r = np.array([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]])
    dst = s * src @ r.T + t
    m = umeyama(src, dst)
    np.testing.assert_allclose(m[:, :2], s * r, atol=1e-4)
    np.testing.assert_allclose(m[:, 2], t, atol=1e-3)


def test_box_matrix_maps_box_centre_to_crop_centre():
    m = box_matrix([100, 100, 200, 220], [0.0, 0.1, 1.2], 96)
    centre = np.array([150, 160 + 12, 1.0])
    np.testing.assert_allclose(m @ centre, [48, 48], atol=1e-4)


def test_aligner_uses_landmarks_and_falls_back_to_box():
    c = ModelContract(input_size=96)
    aligner = Aligner(c, "yunet")
    tpl = c.alignment_templates["yunet"]
    names = ("right_eye", "left_eye", "nose", "mouth_right", "mouth_left")
    # landmarks of a face twice the model size, shifted by (40, 30): expect scale 0.5
    pts = np.array([tpl[n] for n in names], np.float32) * 192 + [40, 30]
    det = Detection(np.array([40, 30, 232, 222], np.float32), 0.9, pts, names)
    m = aligner.matrix(det)
    assert m[0, 0] == pytest.approx(0.5, abs=1e-3) and abs(m[0, 1]) < 1e-3
    img = np.zeros((300, 300, 3), np.uint8)
    img[:, :, 2] = 255  # red in BGR
    crops = aligner.align(img, [det, Detection(np.array([10, 10, 100, 100], np.float32), 0.5)])
    assert crops.shape == (2, 96, 96, 3) and crops.dtype == np.uint8
    assert crops[0, 48, 48, 0] == 255 and crops[0, 48, 48, 2] == 0   # RGB order in the crop


def test_resize_crop_shape_and_order():
    img = np.zeros((200, 200, 3), np.uint8)
    img[..., 0] = 255  # blue in BGR
    x = resize_crop(img, ModelContract(input_size=64))
    assert x.shape == (1, 64, 64, 3) and x[0, 0, 0, 2] == 255


def test_detect_and_align_reproduces_utkface_chips(utkface, detector_models):
    """The alignment figure: YuNet + template warp on chips padded into a scene, against the chip itself."""
    import cv2

    from edge.vision.detectors import create_detector
    from train.sources import read_utkface

    faces = read_utkface(utkface, "test")
    chips = [cv2.imread(p) for p in faces.paths[:120]]
    det = create_detector("yunet", models_dirs=(str(detector_models),))
    res = check_alignment(chips, det, ModelContract(input_size=96))
    assert res.n_found >= 115
    # measured here on 120 test chips: 2.1 px mean displacement at 96 px, correlation 0.91
    assert res.landmark_error_px < 3.0
    assert res.pixel_correlation > 0.85
