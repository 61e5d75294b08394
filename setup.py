"""agegender: real-time face age & gender estimation for Jetson and Raspberry Pi."""
from pathlib import Path

from setuptools import find_namespace_packages, setup

HERE = Path(__file__).parent
VERSION = "0.1.0"

# OpenCV below 5: OpenCV 5 wheels drop CascadeClassifier and its Haar files (our fallback
# detector) and can no longer import Caffe models. FaceDetectorYN needs 4.5.4 or newer.
# On Jetson, use JetPack's system OpenCV (GStreamer + CUDA): see README, "Jetson".
OPENCV = "opencv-python-headless>=4.8,<5"

EXTRAS = {
    "tflite": ["ai-edge-litert>=1.2"],
    "onnx": ["onnxruntime>=1.17"],
    "openvino": ["openvino>=2024.0"],
    "demo": [],  # kept so that older install lines work: the demo's portrait now ships in edge/assets
    "train": ["tensorflow>=2.16", "keras>=3.3", "tensorboard", "matplotlib>=3.7"],
    "export": ["tensorflow>=2.16", "keras>=3.3", "tf2onnx>=1.16", "onnx>=1.15", "onnxruntime>=1.17", "sympy",
               "matplotlib>=3.7"],
    "test": ["pytest>=7", "matplotlib>=3.7", "prometheus_client"],  # its parser checks /metrics
    "ui": ["gradio>=6,<7"],  # `agegender ui`, a local browser demo; never in a device install (pulls ~230 MB)
    "mqtt": ["paho-mqtt>=1.6"],  # the MQTT sink ([mqtt] in the config); 1.6 is Debian bookworm's python3-paho-mqtt
}

setup(
    name="agegender",
    version=VERSION,
    description="Real-time face age and gender estimation for edge devices (Jetson, Raspberry Pi)",
    long_description=(HERE / "README.md").read_text(encoding="utf-8") if (HERE / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    license="Apache-2.0 (code); see models/MODEL_CARD*.md for the model weights",
    python_requires=">=3.9",
    # namespace discovery: the asset folders under edge/ are data, and setuptools warns about folders it
    # could import but was not told to ship
    packages=find_namespace_packages(include=["agegender", "agegender.*", "edge", "edge.*", "train", "train.*",
                                    "export", "export.*", "benchmarks", "benchmarks.*"]),
    include_package_data=True,
    # Inside the package, found on every install: YuNet and BlazeFace with their licences, and the demo's
    # public-domain portrait (edge/assets/README.md lists sources and sha256).
    package_data={"edge": ["assets/README.md", "assets/demo/*.jpg", "assets/face_detection/*/*"]},
    # The shipped INT8 models, the default model's FP16 TFLite file and their contracts, found at run time
    # under <prefix>/share/agegender/models.
    # (and the model cards, which `agegender ui` shows).
    data_files=[("share/agegender/models", sorted(str(p.relative_to(HERE)) for pattern in ("*_int8.tflite*", "*_fp16.tflite*", "MODEL_CARD*.md")
                                                  for p in (HERE / "models").glob(pattern))),
                # BlazeFace full range (1.1 MB) with its licences; the smaller detectors are package data
                ("share/agegender/models/face_detection/blazeface",
                 sorted(str(p.relative_to(HERE)) for p in (HERE / "models" / "face_detection" / "blazeface").glob("*"))),
                ("share/agegender/deploy", sorted(str(p.relative_to(HERE)) for p in (HERE / "deploy").glob("*")
                                                  if p.is_file()))],
    install_requires=["numpy>=1.22", OPENCV, "tqdm>=4.60", "tomli; python_version<'3.11'"],
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["agegender=agegender.cli:main"]},
    classifiers=["Programming Language :: Python :: 3", "Operating System :: POSIX :: Linux"],
)
