"""Real-time headroom: detection on a downscaled copy (--detect-size) and detection every N frames with
tracks carried forward at constant velocity (--detect-every)."""
from __future__ import annotations

import numpy as np
import pytest

from edge.contract import ModelContract
from edge.live.pipeline import Pipeline, PipelineConfig
from edge.live.tracking import Tracker, TrackerConfig
from edge.types import Detection, Frame, Prediction
from edge.vision.analyzer import FaceAnalyzer, detection_scale
from edge.vision.decode import DecodeConfig
from edge.vision.detectors import DetectorConfig


def test_detection_scale_only_shrinks():
    assert detection_scale((480, 640), 320) == 0.5
    assert detection_scale((720, 1280), 320) == 0.25
    assert detection_scale((480, 640), 0) == 1.0 and detection_scale((240, 320), 480) == 1.0


class _RecordingDetector:
    """Finds one face at fixed fractions of whatever image it gets; records sizes and min_face."""

    name = "yunet"
    landmark_names = ("right_eye", "left_eye", "nose", "mouth_right", "mouth_left")

    def __init__(self):
        self.config = DetectorConfig(min_face=24)
        self.calls: list[tuple[tuple[int, int], int]] = []

    def detect(self, image):
        h, w = image.shape[:2]
        self.calls.append(((w, h), self.config.min_face))
        box = np.array([0.25 * w, 0.25 * h, 0.5 * w, 0.5 * h], np.float32)
        lm = np.array([[0.3 * w, 0.3 * h]] * 5, np.float32)
        return [Detection(box, 0.9, lm, self.landmark_names)]


class _NoModel:
    contract = ModelContract()


def test_detect_size_maps_boxes_back_and_scales_min_face():
    det = _RecordingDetector()
    analyzer = FaceAnalyzer(det, _NoModel(), DecodeConfig(), detect_size=320)
    faces = analyzer.detect(np.zeros((480, 640, 3), np.uint8))
    assert det.calls == [((320, 240), 12)]                       # half size, min_face halved for the call
    assert det.config.min_face == 24                             # and restored after it
    np.testing.assert_allclose(faces[0].box, [160, 120, 320, 240], atol=0.5)
    np.testing.assert_allclose(faces[0].landmarks[0], [192, 144], atol=0.5)
    FaceAnalyzer(det, _NoModel(), DecodeConfig(), detect_size=0).detect(np.zeros((480, 640, 3), np.uint8))
    assert det.calls[-1] == ((640, 480), 24)


def test_detect_size_on_the_demo_frame_with_the_packaged_yunet():
    from edge.live.demo import render_demo_frame
    from edge.live.tracking import iou_matrix
    from edge.vision.detectors import create_detector

    frame = render_demo_frame(60)
    full = FaceAnalyzer(create_detector("yunet"), _NoModel(), detect_size=0).detect(frame)
    small = FaceAnalyzer(create_detector("yunet"), _NoModel(), detect_size=320).detect(frame)
    assert len(full) == len(small) == 2
    iou = iou_matrix(np.stack([d.box for d in full]), np.stack([d.box for d in small]))
    assert iou.max(axis=1).min() > 0.85


def _det(x: float, y: float = 100.0) -> Detection:
    return Detection(np.array([x, y, x + 50, y + 50], np.float32), 0.9, np.array([[x + 10, y + 10]], np.float32))


def test_carry_moves_tracks_at_their_velocity_until_the_next_detection():
    tr = Tracker(TrackerConfig(min_hits_to_skip=3))
    for x in (100, 105, 110):
        tr.update([_det(x)])
    assert tr.settled()
    (det, track), = tr.carry()
    np.testing.assert_allclose(det.box[:2], [115, 100], atol=1e-4)
    np.testing.assert_allclose(det.landmarks[0], [125, 110], atol=1e-4)
    (det, _), = tr.carry()
    np.testing.assert_allclose(det.box[0], 120, atol=1e-4)
    (_, again), = tr.update([_det(125)])                         # the next real detection, 3 frames on
    assert again.track_id == track.track_id and again.carried == 0
    np.testing.assert_allclose(again.velocity, [5.0, 0.0], atol=0.6)


def test_new_or_lost_tracks_are_not_settled():
    tr = Tracker(TrackerConfig(min_hits_to_skip=3))
    assert not tr.settled()                                        # no tracks: keep detecting
    tr.update([_det(100)])
    assert not tr.settled()                                        # new
    tr.update([_det(100)]); tr.update([_det(100)])
    assert tr.settled()
    tr.update([])
    assert not tr.settled()                                        # missed once: lost


class _CountingAnalyzer:
    """One face drifting right by 2 px a frame."""

    def __init__(self):
        self.model, self.decode, self.detects = type("M", (), {"contract": ModelContract()})(), DecodeConfig(), 0

    def detect(self, image, times=None):
        self.detects += 1
        return [_det(100 + 2 * self.frame_index)]

    def classify(self, image, dets, times=None):
        return [Prediction(30.0, (25.0, 35.0), "25-32", 0.9, "female") for _ in dets]


@pytest.mark.parametrize("every, max_detects", [(1, 30), (3, 13)])
def test_detect_every_skips_detection_on_settled_tracks_and_keeps_the_id(every, max_detects):
    analyzer = _CountingAnalyzer()
    pipe = Pipeline.__new__(Pipeline)
    Pipeline.__init__(pipe, _NoSource(), analyzer, [], PipelineConfig(detect_every=every))
    ids, boxes = set(), []
    for i in range(30):
        analyzer.frame_index = i
        result = pipe.process(Frame(np.zeros((480, 640, 3), np.uint8), i, 0.0, float(i), "test"))
        ids |= {f.track_id for f in result.faces}
        boxes.append(result.faces[0].detection.box[0])
    assert analyzer.detects <= max_detects and len(ids) == 1
    assert pipe.metrics.detections_skipped == 30 - analyzer.detects
    np.testing.assert_allclose(boxes, [100 + 2 * i for i in range(30)], atol=1.5)   # carried boxes follow the face


class _NoSource:
    name, live, retry_at_start = "none", False, False


def test_track_quality_counts_switches_and_visitors():
    from benchmarks.track_quality import score_tracks

    a = np.array([0, 0, 50, 50], np.float32)
    b = np.array([200, 0, 250, 50], np.float32)
    frames = [({0: a, 1: b}, [(1, a), (2, b)]),
              ({0: a, 1: b}, [(1, a), (3, b)]),          # face 1 switched from track 2 to 3
              ({0: a, 1: b}, [(1, a)]),                  # face 1 missed
              ({0: a}, [(1, a + 5), (9, b + 500)])]      # a false track far from any face; face 0 moved a bit
    q = score_tracks(frames)
    assert (q.face_frames, q.missed_face_frames, q.id_switches) == (6, 1, 1)
    assert (q.distinct_faces, q.visitors_counted) == (2, 4)
    assert q.switches_per_1000 == pytest.approx(1000 / 6) and q.visitors_per_face == 2.0
    assert q.as_dict()["visitors_per_distinct_face"] == 2.0


def test_clip_truth_matches_where_faces_are_drawn():
    from benchmarks.clips import ClipSpec, FaceTrack, render, truth_boxes

    spec = ClipSpec(320, 240, faces=2, frames=10)
    chip = np.full((100, 100, 3), 255, np.uint8)
    tracks = [FaceTrack("a", 30, chip, 0.0, 1.0), FaceTrack("b", 40, chip, 1.0, 1.0)]
    frame = render(spec, tracks, 3, np.zeros((240, 320, 3), np.uint8))
    for box in truth_boxes(spec, tracks, 3).values():
        x1, y1, x2, y2 = (int(v) for v in box)
        assert frame[(y1 + y2) // 2, (x1 + x2) // 2].min() > 200    # the chip's white centre is there


@pytest.mark.parametrize("width,height,faces", [(640, 480, 6), (640, 480, 12), (1280, 720, 12)])
def test_clip_faces_stay_in_frame_and_never_cover_each_other(width, height, faces):
    from benchmarks.clips import ClipSpec, FaceTrack, placements

    spec = ClipSpec(width, height, faces=faces, frames=300)
    chip = np.zeros((8, 8, 3), np.uint8)
    tracks = [FaceTrack(str(k), 30, chip, float(k), 0.6 + 0.07 * k) for k in range(faces)]
    for i in range(0, 300, 5):
        boxes = [(x0, y0, x0 + side, y0 + side) for _, x0, y0, side in placements(spec, tracks, i)]
        assert len(boxes) == faces
        assert all(0 <= b[0] and 0 <= b[1] and b[2] <= width and b[3] <= height and b[2] - b[0] >= 100 for b in boxes)
        for j, a in enumerate(boxes):
            for b in boxes[j + 1:]:
                assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]


def test_detect_size_rows_on_composited_faces_and_the_default_rule():
    import cv2

    from benchmarks.detect_size import choose_default, composite_frames, detect_size_rows
    from edge.live.demo import astronaut_face
    from edge.vision.detectors import create_detector

    face = astronaut_face()
    chip = cv2.resize(face[:210, :210], (200, 200))
    frames = composite_frames([chip] * 12, [35.0] * 12, 640, 480, seed=1)

    class _Ages:
        contract = ModelContract()

    analyzer = FaceAnalyzer(create_detector("yunet"), _Ages())
    analyzer.classify = lambda image, dets: [Prediction(30.0, (25.0, 35.0), "25-32", 0.5, "female") for _ in dets]
    rows = detect_size_rows(analyzer, frames, "640x480", sizes=(320, 0))
    full = [r for r in rows if r["detect_size"] == "full"]
    assert full and all(r["recall"] == 1.0 and r["landmark_error_px"] == 0.0 for r in full)
    assert sum(r["faces"] for r in full) >= 10 and analyzer.detect_size == 0
    assert {r["detect_size"] for r in rows} == {320, "full"}

    def row(size, width, recall, mae):
        return {"resolution": "640x480", "detect_size": size, "face_width": width, "faces": 100, "recall": recall,
                "age_mae": mae, "age_mae_full": 5.0}
    table = [row(160, "40-63", 0.98, 5.0), row(240, "40-63", 0.999, 5.2), row(320, "40-63", 1.0, 5.03),
             row(320, "24-39", 0.5, 9.0)]          # small faces do not count for the rule
    assert choose_default(table) == 320
    assert choose_default([row(320, "40-63", 0.9, 5.0)]) is None


def test_live_commands_take_the_measured_defaults_and_photos_the_full_image():
    from agegender.cli import make_parser
    from edge.live import defaults
    from edge.service.settings import RunSettings

    parser = make_parser()
    for command in ("run", "serve", "kiosk"):
        args = parser.parse_args([command, "demo"])
        assert (args.detect_size, args.detect_every, args.threads) == (
            defaults.DETECT_SIZE, defaults.DETECT_EVERY, defaults.CLASSIFIER_THREADS)
    assert defaults.DETECT_SIZE == 640 and defaults.DETECT_EVERY == 3 and defaults.CLASSIFIER_THREADS == 1
    assert parser.parse_args(["run", "demo", "--detect-size", "0"]).detect_size == 0
    assert (parser.parse_args(["predict", "x.jpg"]).detect_size, parser.parse_args(["predict", "x.jpg"]).threads) == (0, 0)
    assert RunSettings().detect_every == PipelineConfig().detect_every == defaults.DETECT_EVERY


def test_picamera2_lores_stream_keeps_the_aspect_at_the_detection_size():
    from edge.live.sources import Picamera2Source, lores_size

    assert lores_size(1280, 720, 640) == (640, 360)
    assert lores_size(1920, 1080, 640) == (640, 360)
    assert lores_size(640, 480, 640) == (640, 480)         # never larger than the main stream
    assert lores_size(1280, 720, 0) == (1280, 720)
    assert lores_size(1296, 972, 500) == (500, 374)          # even sides for YUV420
    assert Picamera2Source(1280, 720).lores_size == (640, 360)
    assert Picamera2Source(1280, 720, lores=(320, 240)).lores_size == (320, 240)
