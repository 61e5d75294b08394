"""About 100 face crops for the aarch64 lane's agreement check, written to a folder as JPEG files
(``python tests/arm64/faces.py OUT [N]``).

UTKFace test chips, evenly spaced, where the shared data set is beside the checkout ($AGEGENDER_SHARED or
../shared); else the demo portrait's face under 100 seeded changes a camera makes (shift, scale, brightness,
mirror), so that a fresh clone checks the same thing on its own."""
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


def portrait_variants() -> list[np.ndarray]:
    from edge.live.demo import astronaut_face

    face = astronaut_face()
    h, w = face.shape[:2]
    rng = np.random.default_rng(2026)
    out = []
    for i in range(N):
        scale = rng.uniform(0.85, 1.15)
        dx, dy = rng.uniform(-0.08, 0.08, 2) * (w, h)
        m = cv2.getRotationMatrix2D((w / 2, h / 2), rng.uniform(-6, 6), scale)
        m[:, 2] += (dx, dy)
        img = cv2.warpAffine(face, m, (w, h), borderMode=cv2.BORDER_REFLECT)
        img = np.clip(img.astype(np.float32) * rng.uniform(0.8, 1.2) + rng.uniform(-20, 20), 0, 255).astype(np.uint8)
        out.append(img[:, ::-1] if i % 2 else img)
    return out


def main(out: str, n: int = N) -> int:
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    chips = utkface_chips(n)
    if chips:
        for i, p in enumerate(chips):
            shutil.copy(p, folder / f"{i:03d}.jpg")
    else:
        for i, img in enumerate(portrait_variants()):
            cv2.imwrite(str(folder / f"{i:03d}.jpg"), img)
    print(f"{len(list(folder.iterdir()))} faces in {folder} ({'UTKFace test' if chips else 'demo portrait'})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else N))
