import numpy as np
import pytest

from edge.contract import ModelContract
from edge.vision.decode import DecodeConfig, age_interval, decode, gender_label
from edge.live.tracking import Tracker, TrackerConfig, age_jitter, greedy_match, iou_matrix
from edge.types import Detection, Prediction


def test_age_interval_of_a_peaked_distribution():
    d = np.zeros(101); d[30] = 1.0
    lo, hi = age_interval(d, 0.8)
    assert 29 <= lo <= 30 <= hi <= 31
    d = np.zeros(101); d[20:41] = 1.0 / 21
    lo, hi = age_interval(d, 0.8)
    assert lo == pytest.approx(22, abs=1) and hi == pytest.approx(38, abs=1)


def test_gender_band():
    labels = ("male", "female")
    assert gender_label(0.9, (0.35, 0.65), labels) == "female"
    assert gender_label(0.1, (0.35, 0.65), labels) == "male"
    assert gender_label(0.5, (0.35, 0.65), labels) == "undetermined"
    assert gender_label(0.5, (0.5, 0.5), labels) == "undetermined"


def test_decode_outputs():
    c = ModelContract()
    dist = np.zeros((2, 101), np.float32); dist[0, 28] = 1; dist[1, 70] = 1
    out = {"age": np.array([[28.0], [70.0]]), "age_dist": dist, "gender": np.array([[0.95], [0.2]]),
           "race": np.eye(5)[[0, 2]]}
    p = decode(out, c, DecodeConfig(with_race=True))
    assert [x.age_group for x in p] == ["25-32", "60+"]
    assert [x.gender for x in p] == ["female", "male"]
    assert p[1].race["Asian"] == 1.0
    assert decode(out, c)[0].race is None


def _det(x, y, s=50):
    return Detection(np.array([x, y, x + s, y + s], np.float32), 0.9)


def _pred(age, p):
    return Prediction(age=age, age_range=(age - 5, age + 5), age_group="", p_female=p, gender="")


def test_iou_and_matching():
    a = np.array([[0, 0, 10, 10]], np.float32)
    b = np.array([[5, 0, 15, 10], [100, 100, 110, 110]], np.float32)
    iou = iou_matrix(a, b)
    assert iou[0, 0] == pytest.approx(1 / 3) and iou[0, 1] == 0
    assert greedy_match(iou, 0.3) == [(0, 0)]


def test_track_ids_are_stable_and_tracks_expire():
    tr = Tracker(TrackerConfig(max_missed=2, reacquire_missed=0))
    ids = []
    for i in range(10):
        pairs = tr.update([_det(100 + 3 * i, 100), _det(300 - 3 * i, 200)])
        ids.append(tuple(t.track_id for _, t in pairs))
    assert len(set(ids)) == 1
    for _ in range(3):
        tr.update([])
    assert tr.tracks == [] and len(tr.ended) == 2


def test_smoothing_reduces_age_jitter():
    rng = np.random.default_rng(0)
    noisy = 30 + rng.normal(0, 4, 60)
    reported = {}
    for smoothing in (1.0, 0.3):
        tr = Tracker(TrackerConfig(smoothing=smoothing))
        ages = []
        for a in noisy:
            (_, t), = tr.update([_det(100, 100)])
            ages.append(tr.observe(t, _pred(float(a), 0.8)).age)
        reported[smoothing] = age_jitter({1: ages}).age_std_mean
    assert reported[0.3] < 0.6 * reported[1.0]


def test_skip_frames_reuses_stable_tracks():
    tr = Tracker(TrackerConfig(skip_frames=2, min_hits_to_skip=2))
    decisions = []
    for i in range(8):
        (_, t), = tr.update([_det(100, 100)])
        need = tr.needs_classification(t)
        decisions.append(need)
        if need:
            tr.observe(t, _pred(30, 0.8))
        else:
            assert tr.reuse(t).age == pytest.approx(30)
    assert decisions[0] and decisions.count(False) >= 4 and decisions.count(True) >= 3


def _box_det(cx, cy, side):
    return Detection(np.array([cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2], np.float32), 0.9)


def test_a_face_hidden_behind_another_keeps_its_id_when_it_comes_back():
    """Face A walks left behind face B: it shrinks while being covered, is missed for 30 frames, and comes
    back half hidden further along its path; it must get its old id back, and a newcomer far away must not."""
    tr = Tracker(TrackerConfig())
    a_x = 400.0
    for i in range(40):                                  # both walk; A at 3 px per frame
        pairs = tr.update([_box_det(a_x, 240, 60), _box_det(200 + i, 200, 100)])
        a_x -= 3
    a_id = pairs[0][1].track_id
    for side in (50, 40, 30):                            # being covered: smaller and slower
        pairs = tr.update([_box_det(a_x, 240, side), _box_det(240, 200, 100)])
        a_x -= 1
    for _ in range(30):                                  # hidden
        tr.update([_box_det(240, 200, 100)])
    back_x = a_x - 3 * 30
    pairs = tr.update([_box_det(240, 200, 100), _box_det(back_x, 240, 28), _box_det(600, 50, 60)])
    ids = [t.track_id for _, t in pairs]
    assert ids[1] == a_id and ids[2] not in (a_id, ids[0])
    assert len({t.track_id for t in tr.tracks}) == 3


def test_a_lost_track_ends_after_the_reacquire_window():
    tr = Tracker(TrackerConfig(max_missed=2, reacquire_missed=5))
    tr.update([_box_det(100, 100, 50)])
    for _ in range(5):
        tr.update([])
    assert len(tr.tracks) == 1
    tr.update([])
    assert tr.tracks == [] and len(tr.ended) == 1
