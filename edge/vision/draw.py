"""Drawing boxes and labels on a BGR frame, in place."""
from __future__ import annotations

from typing import Iterable, Optional

import numpy as np

from edge.types import Face

COLORS = {"female": (180, 105, 255), "male": (255, 160, 60), "undetermined": (200, 200, 200)}
# the age check's colours (BGR): green "OK", amber "Please show ID", grey while a person is being decided
GATE_COLORS = {"adult": (52, 123, 30), "ask_id": (23, 163, 232), "pending": (58, 58, 58)}
GATE_TEXT = {"adult": "OK", "ask_id": "Please show ID", "pending": "Checking..."}


def gate_kind(face: Face) -> str:
    """"adult", "ask_id" or "pending" (not yet final) for a face with an age-check decision."""
    return face.gate.gate if face.gate.final else "pending"


def face_labels(face: Face, with_race: bool = False) -> list[str]:
    p = face.prediction
    if p is None:
        return []
    # with the age check on, the box shows the decision, not an age (the JSON still has both)
    lines = [f"{p.age:.0f} y ({p.age_group})"] if face.gate is None else [GATE_TEXT[gate_kind(face)]]
    lines.append("undetermined" if p.gender == "undetermined" else f"{p.gender.capitalize()} {100 * p.gender_confidence:.0f}%")
    if with_race and p.race:
        best = max(p.race, key=p.race.get)
        lines.append(f"{best} {100 * p.race[best]:.0f}%")
    return lines


def draw_faces(image: np.ndarray, faces: Iterable[Face], with_race: bool = False,
               status: Optional[str] = None) -> np.ndarray:
    import cv2

    h = image.shape[0]
    scale = max(0.4, min(1.0, h / 720))
    for face in faces:
        x1, y1, x2, y2 = (int(round(v)) for v in face.detection.box)
        gender = face.prediction.gender if face.prediction else "undetermined"
        color = COLORS.get(gender, COLORS["undetermined"]) if face.gate is None else GATE_COLORS[gate_kind(face)]
        cv2.rectangle(image, (x1, y1), (x2, y2), color, 2)
        lines = face_labels(face, with_race)
        if face.track_id is not None:
            lines.insert(0, f"#{face.track_id}")
        y = y1 - 6
        for text in reversed(lines):
            (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale, 1)
            top = max(y - th - 4, 0)
            cv2.rectangle(image, (x1, top), (x1 + tw + 6, top + th + 6), color, -1)
            cv2.putText(image, text, (x1 + 3, top + th + 2), cv2.FONT_HERSHEY_SIMPLEX, 0.5 * scale, (0, 0, 0), 1,
                        cv2.LINE_AA)
            y = top - 2
    if status:
        cv2.putText(image, status, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(image, status, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 1, cv2.LINE_AA)
    return image
