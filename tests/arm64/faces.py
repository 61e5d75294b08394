"""About 100 face crops for the aarch64 lane's agreement check, written to a folder as JPEG files
(``python tests/arm64/faces.py OUT [N]``).

UTKFace test chips, evenly spaced, where the shared data set is beside the checkout ($AGEGENDER_SHARED or
../shared); else chips of the demo clip, detected and aligned as the runtime does, so that a fresh clone checks
the same thing on its own."""
from __future__ import annotations

import csv
import os
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np

N = 100


def utkface_chips(n: int = N) -> list[Path]:
    for root in (os.environ.get("AGEGENDER_SHARED"), str(Path(__file__).resolve().parents[3] / "shared")):
        labels = Path(root or "") / "datasets" / "utkface" / "labels.csv"
        if root and labels.is_file():
            with labels.open(newline="") as f:
                rows = [r for r in csv.DictReader(f) if r.get("split") == "test"]
            picked = rows[:: max(1, len(rows) // n)][:n]
            folder = labels.parent
            found = [next((p for p in (folder / r["filename"], folder / "UTKFace" / r["filename"]) if p.is_file()), None)
                     for r in picked]
            return [p for p in found if p is not None]
    return []


def demo_clip_chips(n: int = N) -> list[np.ndarray]:
    """Face chips as the runtime makes them: the demo clip's frames, YuNet (shipped in the package) and the
    contract's alignment, every third frame until ``n`` chips. (Freely rotated or rescaled crops of the portrait
    are out of the training framing, where INT8 files drift from float by up to 10-20 y: not a fair check.)"""
    from edge.contract import ModelContract
    from edge.live.demo import astronaut_face, render_demo_frame
    from edge.vision.align import Aligner
    from edge.vision.detectors import DetectorConfig, create_detector

    face = astronaut_face()
    detector = create_detector("yunet", DetectorConfig(), None, ())
    aligner = Aligner(ModelContract(input_size=112), detector.name)
    chips: list[np.ndarray] = []
    for i in range(0, 30 * n, 3):
        frame = render_demo_frame(i, 640, 480, 2, 30, face)
        found = detector.detect(frame)
        if found:
            chips += [c[..., ::-1] for c in aligner.align(frame, found[:2])]   # RGB crops -> BGR files
        if len(chips) >= n:
            break
    return chips[:n]


def main(out: str, n: int = N) -> int:
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    chips = utkface_chips(n)
    if chips:
        for i, p in enumerate(chips):
            shutil.copy(p, folder / f"{i:03d}.jpg")
    else:
        for i, img in enumerate(demo_clip_chips(n)):
            cv2.imwrite(str(folder / f"{i:03d}.png"), np.ascontiguousarray(img))
    print(f"{len(list(folder.iterdir()))} faces in {folder} ({'UTKFace test' if chips else 'the demo clip'})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else N))
