"""`agegender predict`: images or folders in, annotated images and JSON out."""
from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, TextIO

from edge.vision.analyzer import FaceAnalyzer
from edge.vision.draw import draw_faces
from edge.errors import AgeGenderError
from edge.imageio import expand_inputs, read_image
from edge.progress import progress

log = logging.getLogger(__name__)


@dataclass
class PredictResult:
    processed: int = 0
    failed: int = 0
    faces: int = 0


def run_predict(analyzer: FaceAnalyzer, inputs: list[str], out_dir: Optional[str] = None, as_json: bool = False,
                crops: bool = False, with_race: bool = False, gate_settings=None,
                stdout: TextIO = sys.stdout) -> PredictResult:
    """Each image's faces to JSON lines or text (and annotated copies); with ``gate_settings``
    (``edge.age_gate.GateSettings``) every face also gets the age check's decision."""
    result = PredictResult()
    gate = None
    if gate_settings is not None:
        from edge.age_gate import AgeGate

        gate = AgeGate(gate_settings, analyzer.model.contract, str(analyzer.model.path))
    files = expand_inputs(inputs)
    if not files:
        log.error("no input images found in %s", ", ".join(inputs))
    out = Path(out_dir) if out_dir else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    for path in progress(files, total=len(files), desc="predict", unit="img"):
        try:
            image = read_image(path)
            faces = [analyzer.analyze_crop(image)] if crops else analyzer.analyze(image)
        except AgeGenderError as e:
            result.failed += 1
            log.error("%s", e)
            continue
        result.processed += 1
        result.faces += len(faces)
        if gate is not None:
            for f in faces:
                f.gate = gate.judge(f.prediction.age, f.prediction.age_dist)
        if as_json:
            record = {"path": str(path), "faces": [f.to_json(with_race) for f in faces]}
            stdout.write(json.dumps(record) + "\n")
        else:
            for f in faces:
                p = f.prediction
                check = f" | {f.gate.gate} ({f.gate.reason})" if f.gate is not None else ""
                stdout.write(f"{path}: {p.age:.1f} y ({p.age_range[0]:.0f}-{p.age_range[1]:.0f}, group {p.age_group}), "
                             f"{p.gender} p_female={p.p_female:.2f}{check}\n")
            if not faces:
                stdout.write(f"{path}: no face found\n")
        if out is not None:
            import cv2

            annotated = draw_faces(image.copy(), faces, with_race)
            target = out / (path.stem + "_annotated.jpg")
            if not cv2.imwrite(str(target), annotated):
                result.failed += 1
                log.error("%s: cannot write annotated image", target)
    stdout.flush()
    return result
