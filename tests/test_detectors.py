"""Detectors: anchor decoding, fallback, the verified download, and real detectors on real faces."""
import hashlib
import http.server
import logging
import threading

import numpy as np
import pytest

from edge.vision import model_store
from edge.vision.detectors import DetectorConfig, create_detector
from edge.vision.detectors.base import finalize, nms
from edge.vision.detectors.blazeface import FULL, SHORT, decode, ssd_anchors
from edge.errors import ModelLoadError
from edge.types import Detection


def test_blazeface_anchor_counts_and_order():
    a = ssd_anchors(SHORT)
    assert a.shape == (896, 2)
    np.testing.assert_allclose(a[0], [0.5 / 16, 0.5 / 16])
    np.testing.assert_allclose(a[1], a[0])                 # two anchors per cell on the stride-8 layer
    np.testing.assert_allclose(a[512], [0.5 / 8, 0.5 / 8])  # then six per cell at stride 16
    assert ssd_anchors(FULL).shape == (2304, 2)


def test_blazeface_decode():
    anchors = ssd_anchors(SHORT)
    raw = np.zeros((896, 16), np.float32)
    raw[100, :4] = [12.8, -6.4, 32, 64]           # offset (+0.1, -0.05), size (0.25, 0.5) of the input
    raw[100, 4:6] = [6.4, 0]                        # first keypoint +0.05 in x
    scores = np.full((896, 1), -10, np.float32); scores[100] = 3
    boxes, kps, s = decode(raw, scores, anchors, 128)
    cx, cy = anchors[100] + [0.1, -0.05]
    np.testing.assert_allclose(boxes[100], [cx - 0.125, cy - 0.25, cx + 0.125, cy + 0.25], atol=1e-6)
    np.testing.assert_allclose(kps[100, 0], anchors[100] + [0.05, 0], atol=1e-6)
    assert s[100] == pytest.approx(1 / (1 + np.exp(-3))) and s.argmax() == 100


def test_nms_and_finalize():
    boxes = np.array([[0, 0, 50, 50], [2, 2, 52, 52], [100, 100, 130, 130]], np.float32)
    keep = nms(boxes, np.array([0.9, 0.8, 0.7]), 0.3)
    assert keep == [0, 2]
    dets = [Detection(b, s) for b, s in zip(boxes, [0.9, 0.5, 0.95])]
    out = finalize(dets, DetectorConfig(score_threshold=0.6, min_face=40, max_faces=5), (200, 200))
    assert [d.score for d in out] == [0.9]          # weak one and small one dropped


def test_auto_falls_back_to_haar_with_a_clear_line(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv(model_store.MODELS_DIR_ENV, str(tmp_path))
    monkeypatch.setenv(model_store.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setattr(model_store, "package_models_dir", lambda: tmp_path / "none")
    monkeypatch.setattr(model_store, "ASSETS_DIR", tmp_path / "no-assets")   # a trimmed install without them
    with caplog.at_level(logging.INFO):
        det = create_detector("auto")
    assert det.name == "haar"
    assert any("haar" in r.message and "YuNet" in r.message for r in caplog.records)
    with pytest.raises(ModelLoadError, match="none of .* found"):
        create_detector("yunet")


class _Handler(http.server.BaseHTTPRequestHandler):
    payload = b""

    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.payload)))
        self.end_headers()
        self.wfile.write(self.payload)

    def log_message(self, *a):
        pass


@pytest.fixture
def local_server():
    server = http.server.HTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


def test_download_verifies_sha256(local_server, tmp_path):
    payload = b"pretend model bytes"
    _Handler.payload = payload
    url = f"http://127.0.0.1:{local_server.server_port}/m.onnx"
    good = model_store.RemoteFile("m.onnx", url, hashlib.sha256(payload).hexdigest(), len(payload))
    path = model_store.download(good, tmp_path)
    assert path.read_bytes() == payload
    assert model_store.download(good, tmp_path) == path          # cached and re-checked
    bad = model_store.RemoteFile("n.onnx", url, "0" * 64, len(payload))
    with pytest.raises(ModelLoadError, match="sha256"):
        model_store.download(bad, tmp_path)
    assert not (tmp_path / "n.onnx").exists() and not list(tmp_path.glob(".download-*"))


@pytest.mark.parametrize("name", ["yunet", "blazeface", "blazeface-full", "res10", "haar"])
def test_real_detectors_find_the_face_in_utkface_chips(name, utkface, detector_models):
    import cv2

    from edge.vision.align import central_detection, pad_chip
    from train.sources import read_utkface

    det = create_detector(name, DetectorConfig(score_threshold=0.5, min_face=10), models_dirs=(str(detector_models),))
    faces = read_utkface(utkface, "test")
    found = 0
    for p in faces.paths[:40]:
        chip = cv2.imread(p)
        padded, pad = pad_chip(chip)
        d = central_detection(det.detect(padded), padded.shape)
        if d is None:
            continue
        found += 1
        cx, cy = (d.box[0] + d.box[2]) / 2 - pad, (d.box[1] + d.box[3]) / 2 - pad
        assert 0.25 * 200 < cx < 0.75 * 200 and 0.15 * 200 < cy < 0.8 * 200
        if det.landmark_names:
            lm = d.named_landmarks()
            assert lm["right_eye"][0] < lm["left_eye"][0]     # subject's right eye on the image's left
    assert found >= (34 if name == "haar" else 38)
