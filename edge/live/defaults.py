"""Settings of the live pipeline (`agegender run`, `serve`, `kiosk`, `bench pipeline`) chosen by measurement
on the development machine (2 x86 cores); the tables behind each are in the pipeline report
(benchmarks/results/pipeline.md). Still photos (`agegender predict`, `ui`) detect on the full image: a face
can be small in a large photo."""

# The model file of single photos (`agegender predict`, `ui`) and of the age check (`--age-gate`, also in video):
# the FP16 file, whose single-face answers agree with float (INT8 moves one face's age by up to 12 y,
# models/EXPORTS.md), for a small extra cost per face beside detection on a whole photo. The live pipeline without
# an age check keeps the INT8 default ("default"), whose smoothed per-track ages agree with float within the
# smoothing noise (benchmarks/results/model_choice.md; README, "Which model file each command uses").
STEADY_MODEL = "default-fp16"

# Long side of the copy the detector sees ("Detection size" table): the smallest size that loses at most
# 0.5 pp of recall for faces of 40 px and more at 640x480 and keeps the age MAE within +0.05 y. 480 lost
# 2.2 pp of 40-63 px faces, so 640: the full frame at 640x480, a cap for larger frames (at 1280x720 it keeps
# 97% of 64-99 px faces and every face from 100 px, but 53% of 40-63 px ones). 0: full frame.
DETECT_SIZE = 640
# Detection every N frames while every track is settled ("Targets" and "FPS against faces" tables: capacity
# at 6 faces 69 -> 178 FPS at 640x480, with the same visitor count and no ID switches). 1: every frame.
DETECT_EVERY = 3
# Classifier threads inside the pipeline ("Classifier threads" table: at 12 faces on 2 cores, 2 threads gave
# 138 FPS against 134 for 1, within the run-to-run spread, at the same CPU; the capture, detection and drawing
# threads already share the cores). 4-core boards were not measured. 0: the runtime's default.
CLASSIFIER_THREADS = 1

# The smallest face width, as the detector sees it (after --detect-size scaling), above which YuNet found at least
# 95% of faces in every row of the pipeline report's detection-size study (rows of 30 px and up: 96.7-100%; at
# 24-25 px: 86-97%). `agegender tune` reads the report itself where it is there and falls back to this figure.
DETECTOR_MIN_FACE_PX = 30.0

# The age check in video (edge/age_gate.py, `--age-gate`): a person is decided once, from this many usable looks
# (classified frames: 8 looks take 8 frames where every frame is classified, about 24 at the live default of a
# detection every 3rd frame), and a look is usable only at this face width, turn and sharpness. Chosen on the
# quality study of `agegender evaluate --age-gate 25 --gate-quality` (UTKFace val, FP16 file; docs/age-check.md):
# under every degradation the gate stays safe (13-17s judged adult stay at 1.2%) and asks more adults for ID, so the
# thresholds keep the estimate itself reliable: at 48 px the MAE is within +0.2 y of full resolution (40 px: +0.36,
# 24 px: +1.1); a Laplacian variance under 10 is a blur of about 2 px, +0.6 y of MAE (clean chips: p10 41); the
# study's faces reach a yaw proxy of 0.45, beyond which nothing was measured.
GATE_LOOKS = 8
GATE_MIN_FACE = 48.0
GATE_MAX_YAW = 0.45
GATE_MIN_SHARPNESS = 10.0
