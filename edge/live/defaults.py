"""Settings of the live pipeline (`agegender run`, `serve`, `kiosk`, `bench pipeline`) chosen by measurement
on the development machine (2 x86 cores); the tables behind each are in the pipeline report
(benchmarks/results/pipeline.md). Still photos (`agegender predict`, `ui`) detect on the full image: a face
can be small in a large photo."""

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
