"""`agegender ui`: the Gradio page served on a free local port and called through gradio_client, plus a
headless-Chromium screenshot of the page with a result. Skips where the `ui` extra (gradio) is missing.

The model is the shipped models/agegender_int8.tflite when it is there, else the tiny test export."""
from __future__ import annotations

import ast
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from agegender.ui.card import FALLBACK_LIMITATIONS, limitations_from_card, limitations_markdown
from agegender.ui.engine import Engine, Settings, face_rows
from agegender.ui.uploads import load_upload
from edge.errors import AgeGenderError, ImageReadError
from edge.types import Detection, Face, Prediction

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "models" / "agegender_int8.tflite"
ARTIFACTS = ROOT / "tests" / "artifacts"
AGE = re.compile(r"^\d+ years, \d+–\d+$")
GENDER = re.compile(r"^(Female|Male): \d{1,3}\.\d%$|^undetermined$")


# ---------------------------------------------------------------------------- without Gradio
def _face(p_female: float, gender: str) -> Face:
    pred = Prediction(age=28.4, age_range=(24.6, 33.2), age_group="25-32", p_female=p_female, gender=gender,
                      race={"White": 0.1, "Asian": 0.7, "Black": 0.2})
    return Face(Detection(np.array([0, 0, 10, 10], np.float32), 0.9), pred)


def test_table_rows_format_age_gender_and_race_only_when_asked():
    faces = [_face(0.942, "female"), _face(0.5, "undetermined"), _face(0.1, "male")]
    rows = face_rows(faces, with_race=False)
    assert rows[0] == ["#1", "28 years, 25–33", "25-32", "Female: 94.2%"]
    assert rows[1][3] == "undetermined" and rows[2][3] == "Male: 90.0%"
    assert all(len(r) == 4 for r in rows)
    assert face_rows(faces, with_race=True)[0][4] == "Asian: 70.0%"


def test_the_age_check_adds_a_column_with_the_decision_and_p_minor():
    from edge.age_gate import ADULT, ASK_ID, GateDecision

    faces = [_face(0.942, "female"), _face(0.1, "male")]
    faces[0].gate = GateDecision(ADULT, 0.001, "looks 25+")
    faces[1].gate = GateDecision(ASK_ID, 0.12, "P(minor) 0.12")
    rows = face_rows(faces, with_race=False, with_gate=True)
    assert rows[0][1] == "OK (adult): P(minor) 0.1%" and rows[1][1] == "Please show ID: P(minor) 12.0%"
    assert Settings.from_controls("", "auto", "haar", 0.3, 0.7, False, 25).age_gate == 25
    with pytest.raises(AgeGenderError):
        Settings.from_controls("", "auto", "haar", 0.3, 0.7, False, 70)


def test_settings_reject_an_inverted_gender_band():
    assert Settings.from_controls("", "auto", "haar", 0.3, 0.7, 1).gender_band == (0.3, 0.7)
    with pytest.raises(AgeGenderError):
        Settings.from_controls("", "auto", "haar", 0.8, 0.2, False)


def test_limitations_come_from_the_model_card_else_a_builtin_text(tmp_path, monkeypatch):
    card = ("# Model card\n\n## Training data\nUTKFace.\n\n## Intended use\nTry it out.\n\n### Out-of-scope\n"
            "Decisions about people.\n\n## Limitations\nLarger errors for children.\n\n## Metrics\nMAE 5.\n")
    text = limitations_from_card(card)
    assert "Try it out." in text and "Decisions about people." in text and "Larger errors for children." in text
    assert "UTKFace." not in text and "MAE" not in text
    assert text.count("Decisions about people.") == 1          # a subsection is not repeated
    assert limitations_from_card("# Card\n\n## Metrics\nnone\n") is None
    model = tmp_path / "m.tflite"
    monkeypatch.setattr("agegender.ui.card.model_store.find_file", lambda *a, **k: None)    # no card anywhere
    assert FALLBACK_LIMITATIONS in limitations_markdown(model)
    (tmp_path / "MODEL_CARD.md").write_text(card)
    shown = limitations_markdown(model)
    assert "Larger errors for children." in shown and FALLBACK_LIMITATIONS not in shown
    (tmp_path / "MODEL_CARD_OPEN.md").write_text(card.replace("Larger errors for children.", "Trained on FairFace only."))
    assert "Trained on FairFace only." in limitations_markdown(tmp_path / "agegender_open_int8.tflite")
    assert "Larger errors for children." in limitations_markdown(model)    # other models keep the default card


def test_builtin_statement_says_what_the_brief_requires():
    text = FALLBACK_LIMITATIONS.lower()
    for needle in ("apparent", "not who they are", "utkface", "non-commercial", "fairface", "children", "elderly",
                   "decisions about individuals"):
        assert needle in text, needle


def test_upload_reading_deletes_the_temporary_file_and_stays_in_the_upload_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "uploads"))
    up = tmp_path / "uploads" / "abc"
    up.mkdir(parents=True)
    good = up / "photo.png"
    cv2.imwrite(str(good), np.full((20, 30, 3), 90, np.uint8))
    img = load_upload({"path": str(good), "orig_name": "photo.png"})
    assert img.shape == (20, 30, 3) and not good.exists()
    bad = up / "notes.jpg"
    bad.write_bytes(b"this is not an image")
    with pytest.raises(ImageReadError, match="notes.jpg: not a readable image") as e:
        load_upload({"path": str(bad), "orig_name": "notes.jpg"})
    assert str(up) not in str(e.value) and not bad.exists()
    outside = tmp_path / "secret.png"
    cv2.imwrite(str(outside), np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ImageReadError, match="outside the upload folder"):
        load_upload({"path": str(outside)})
    assert outside.exists()
    assert load_upload(None) is None
    rgb = np.zeros((2, 2, 3), np.uint8); rgb[..., 0] = 255
    assert load_upload(rgb)[0, 0].tolist() == [0, 0, 255]


def _extras() -> dict[str, list[str]]:
    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "EXTRAS" for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError("no EXTRAS in setup.py")


def test_gradio_is_an_optional_extra_that_device_installs_do_not_pull():
    extras = _extras()
    assert any(r.startswith("gradio") for r in extras["ui"])
    for name in ("tflite", "onnx", "openvino", "demo"):
        assert not any("gradio" in r for r in extras[name]), name
    code = ("import sys, agegender.cli, edge.vision.predict, edge.vision.analyzer; agegender.cli.make_parser(); "
            "import agegender.ui.app, agegender.ui.engine; assert 'gradio' not in sys.modules, 'gradio imported'")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def test_cli_binds_localhost_and_shares_only_when_asked():
    from agegender.cli import make_parser

    args = make_parser().parse_args(["ui"])
    assert (args.host, args.port, args.share) == ("127.0.0.1", 7860, False)
    args = make_parser().parse_args(["ui", "--share", "--port", "8123"])
    assert args.share and args.port == 8123


def test_without_gradio_the_command_says_which_extra_to_install():
    code = ("import sys; sys.modules['gradio'] = None; from agegender.cli import main; "
            "sys.exit(main(['ui', '--model', 'missing.tflite']))")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().endswith('needs Gradio, which the device extras leave out: pip install ".[ui]"')


class _FakeModel:
    def __init__(self, path):
        from edge.contract import ModelContract

        self.path, self.contract = Path(path), ModelContract()


def test_a_shared_page_cannot_switch_the_model_file(tmp_path):
    from agegender.cli import make_parser

    built: list[tuple[str, str]] = []

    def build_model(args):
        built.append((args.model, args.backend))
        return _FakeModel(args.model or "default.tflite")

    args = make_parser().parse_args(["ui", "--model", "a.tflite", "--share"])
    for fixed, expected in ((True, ("a.tflite", "auto")), (False, ("/etc/passwd", "onnx"))):
        built.clear()
        engine = Engine(args, build_model, lambda a: None, fixed_model=fixed)
        engine._analyzer(Settings(model="/etc/passwd", backend="onnx", detector="haar"))
        assert built == [expected]
    built.clear()
    engine = Engine(make_parser().parse_args(["ui"]), build_model, lambda a: None)
    engine.warm_up()
    engine._analyzer(Settings(model="default-fp16", detector="auto"))  # what the page shows for no --model
    assert built == [("default-fp16", "auto")]                         # loaded once, not again


# ---------------------------------------------------------------------------- the served app
@pytest.fixture(scope="module")
def ui_model(request) -> Path:
    if SHIPPED.is_file():
        return SHIPPED
    return request.getfixturevalue("runtime_model")


@pytest.fixture(scope="module")
def images(tmp_path_factory, face_image) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("ui_images")
    cv2.imwrite(str(d / "faces.jpg"), face_image)
    blank = np.full_like(face_image, 127)
    cv2.imwrite(str(d / "blank.png"), blank)
    (d / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 definitely not a JPEG")
    return {p.stem: p for p in d.iterdir()}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(request):
    pytest.importorskip("gradio")          # before the model, which may take a while to build
    ui_model = request.getfixturevalue("ui_model")
    from agegender.cli import build_detector, build_model, make_parser
    from agegender.ui.app import ServeOptions, build_app, launch
    from agegender.ui.uploads import private_temp_dir

    args = make_parser().parse_args(["ui", "--model", str(ui_model), "--detector", "haar"])
    with private_temp_dir() as temp:
        engine = Engine(args, build_model, build_detector)
        engine.warm_up()
        options = ServeOptions(port=_free_port())
        app = build_app(engine, options)
        launch(app, options, block=False)
        try:
            yield {"url": f"http://127.0.0.1:{options.port}/", "temp": temp, "app": app, "model": str(ui_model)}
        finally:
            app.close()
    assert not temp.exists()          # Gradio's private temporary folder is gone


@pytest.fixture
def client(server):
    gradio_client = pytest.importorskip("gradio_client")
    c = gradio_client.Client(server["url"], verbose=False)
    c.model = server["model"]
    return c


def _analyze(client, path: Path, race: bool = False, detector: str = "haar"):
    from gradio_client import handle_file

    return client.predict(handle_file(str(path)), client.model, "auto", detector, 0.35, 0.65, race,
                          api_name="/analyze")


def test_server_binds_localhost_only(server):
    assert server["app"].server_name == "127.0.0.1"


def test_image_with_faces_returns_faces(client, images, server):
    image, table, status = _analyze(client, images["faces"], race=True)
    rows = table["data"]
    assert len(rows) >= 1, status
    assert table["headers"] == ["Face", "Age (80% interval)", "Age group", "Gender", "Race"]
    for row in rows:
        assert AGE.match(row[1]), row
        assert GENDER.match(row[3]), row
        assert re.match(r"^\w+: \d{1,3}\.\d%$", row[4]), row
    assert re.match(r"^\d+ faces? found", status), status
    annotated = cv2.imread(image)
    assert annotated is not None and annotated.shape[:2] == cv2.imread(str(images["faces"])).shape[:2]
    # the upload's temporary copy is gone
    assert not list(server["temp"].rglob("faces.jpg"))


def test_image_without_faces_returns_none(client, images):
    image, table, status = _analyze(client, images["blank"])
    assert table["data"] == [] and "Race" not in table["headers"]
    assert status.startswith("No face found"), status
    assert image is not None           # the (unmarked) image is still shown


def test_corrupt_upload_returns_a_clear_message(client, images, server):
    image, table, status = _analyze(client, images["corrupt"])
    assert image is None and table["data"] == []
    assert status == ("Could not read the image: corrupt.jpg: not a readable image (corrupt or unsupported "
                      "format); try a JPEG or PNG photo")
    assert not list(server["temp"].rglob("corrupt.jpg"))


def test_changing_a_control_reanalyses_the_kept_photo(client, images):
    _analyze(client, images["faces"], race=False)
    image, table, status = client.predict(client.model, "auto", "haar", 0.0, 1.0, True, api_name="/reanalyze")
    assert table["headers"][-1] == "Race" and len(table["data"]) >= 1
    assert all(row[3] == "undetermined" for row in table["data"])     # the band covers every p(female)
    _, _, status = client.predict(client.model, "auto", "haar", 0.9, 0.1, False, api_name="/reanalyze")
    assert status.startswith("Error: gender band")


def test_a_missing_model_file_is_a_message_not_a_crash(client, images, tmp_path):
    _analyze(client, images["faces"])
    _, table, status = client.predict(str(tmp_path / "nope.tflite"), "auto", "haar", 0.35, 0.65, False,
                                      api_name="/reanalyze")
    assert status.startswith("Error: ") and "nope.tflite" in status and table["data"] == []


# ---------------------------------------------------------------------------- screenshot
def test_screenshot_of_the_page_with_a_result(server, images, tmp_path):
    from headless_chromium import HeadlessChromium, find_chromium

    binary = find_chromium()
    if binary is None:
        pytest.skip("no chromium binary (Debian: apt-get install chromium)")
    profile = tmp_path / "profile"
    profile.mkdir()
    browser = HeadlessChromium(binary, profile, width=1280, height=1000)
    try:
        browser.call("Network.enable")
        browser.navigate(server["url"], ready="!!document.querySelector('#photo-input input[type=file]')")
        # the model card's limitations: below the result, in a collapsed section that renders with the page
        browser.wait_for("document.body.innerText.includes('Limitations and intended use')", timeout=30)
        browser.set_file_input("#photo-input input[type=file]", images["faces"])
        browser.wait_for("(document.querySelector('#faces-table') || {innerText: ''}).innerText.includes('years')"
                         " && !!document.querySelector('#result-image img')", timeout=90)
        browser.wait_for("document.querySelector('#result-image img').complete")
        # the result comes first: the upload box and the result sit above the fold, the model card's limitations
        # below them, collapsed
        top = "(s => document.querySelector(s).getBoundingClientRect().top)"
        assert browser.evaluate(f"{top}('#photo-input')") < 400
        assert browser.evaluate(f"{top}('#result-image')") < browser.evaluate(f"{top}('#limitations-box')")
        png = browser.screenshot()
        urls = browser.requested_urls()
    finally:
        browser.close()
    assert len(urls) > 5
    remote = [u for u in urls if not u.startswith((server["url"], "data:", "blob:", "about:"))]
    assert remote == [], "the page fetched from outside this machine"
    out = tmp_path / "agegender-ui.png"
    out.write_bytes(png)
    shot = cv2.imread(str(out))
    assert shot is not None and shot.shape[1] >= 1200 and shot.shape[0] >= 900
    assert len(png) > 30_000 and float(shot.std()) > 10      # a rendered page, not a blank one
    if (ROOT / ".gitignore").is_file() and "tests/artifacts/" in (ROOT / ".gitignore").read_text():
        ARTIFACTS.mkdir(exist_ok=True)
        shutil.copy(out, ARTIFACTS / out.name)


def _write_y4m(path: Path, image_bgr: np.ndarray, frames: int = 5) -> Path:
    """A short Y4M clip of one image: what Chromium's fake webcam plays."""
    h, w = (image_bgr.shape[0] // 2) * 2, (image_bgr.shape[1] // 2) * 2
    yuv = cv2.cvtColor(np.ascontiguousarray(image_bgr[:h, :w]), cv2.COLOR_BGR2YUV_I420)
    with path.open("wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            f.write(b"FRAME\n" + yuv.tobytes())
    return path


@pytest.mark.parametrize("tab, elem", [("Live webcam", "live-input"), ("Webcam photo", "webcam-input")])
def test_webcam_tabs_in_a_browser_with_a_fake_camera(tab, elem, server, face_image, tmp_path):
    """Chromium's fake camera plays the two-face frame; the live stream and the snapshot both report faces."""
    from headless_chromium import HeadlessChromium, find_chromium

    binary = find_chromium()
    if binary is None:
        pytest.skip("no chromium binary (Debian: apt-get install chromium)")
    clip = _write_y4m(tmp_path / "faces.y4m", face_image)
    profile = tmp_path / "profile"
    profile.mkdir()
    browser = HeadlessChromium(binary, profile, extra_args=[
        "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={clip}"])
    try:
        browser.navigate(server["url"], ready="!!document.querySelector('#photo-input input[type=file]')")
        browser.evaluate("Array.from(document.querySelectorAll('button[role=tab]'))"
                         f".find(b => b.innerText.trim() === {tab!r}).click()")
        browser.wait_for(f"!!document.querySelector(\"#{elem} [title='grant webcam access'] button\")")
        browser.click(f"#{elem} [title='grant webcam access'] button")
        browser.wait_for(f"(v => v && v.readyState >= 2)(document.querySelector('#{elem} video'))")
        browser.click(f"#{elem} button.capture-button")
        status = browser.wait_for("(t => t && /faces? found|No face|Error|Could not/.test(t.value) && t.value)"
                                  "(document.querySelector('#status textarea'))", timeout=60)
        rows = browser.evaluate("document.querySelector('#faces-table').innerText")
    finally:
        browser.close()
    assert re.match(r"^\d+ faces? found", status), status
    assert "years" in rows
