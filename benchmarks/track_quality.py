"""How well tracks follow faces on a clip whose faces are known: ID switches per 1,000 face-frames
and visitors counted per distinct face (what a footfall count over-reports)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Sequence

import numpy as np



def match_to_truth(truth: np.ndarray, outputs: np.ndarray) -> list[tuple[int, int]]:
    """(truth row, output row) pairs: an output matches a true face when its box centre lies inside the
    true chip box (a chip is larger than the face a detector boxes); nearest centres first."""
    if len(truth) == 0 or len(outputs) == 0:
        return []
    oc = (outputs[:, :2] + outputs[:, 2:]) / 2
    tc = (truth[:, :2] + truth[:, 2:]) / 2
    inside = ((oc[None, :, 0] >= truth[:, None, 0]) & (oc[None, :, 0] <= truth[:, None, 2])
              & (oc[None, :, 1] >= truth[:, None, 1]) & (oc[None, :, 1] <= truth[:, None, 3]))
    dist = np.where(inside, np.linalg.norm(tc[:, None, :] - oc[None, :, :], axis=2), np.inf)
    pairs, used_t, used_o = [], set(), set()
    for flat in np.argsort(dist, axis=None):
        r, c = divmod(int(flat), dist.shape[1])
        if not np.isfinite(dist[r, c]):
            break
        if r not in used_t and c not in used_o:
            pairs.append((r, c))
            used_t.add(r)
            used_o.add(c)
    return pairs


@dataclass
class TrackQuality:
    face_frames: int = 0            # (frame, true face) pairs matched to an output face
    missed_face_frames: int = 0     # true faces without an output face
    id_switches: int = 0            # a true face's track id changed from its previous matched frame
    distinct_faces: int = 0         # true faces seen at least once
    visitors_counted: int = 0       # distinct track ids the pipeline reported
    per_face_ids: dict = field(default_factory=dict)

    @property
    def switches_per_1000(self) -> float:
        return 1000.0 * self.id_switches / self.face_frames if self.face_frames else float("nan")

    @property
    def visitors_per_face(self) -> float:
        return self.visitors_counted / self.distinct_faces if self.distinct_faces else float("nan")

    def as_dict(self) -> dict:
        d = asdict(self)
        d.pop("per_face_ids")
        d["switches_per_1000_face_frames"] = round(self.switches_per_1000, 2)
        d["visitors_per_distinct_face"] = round(self.visitors_per_face, 3)
        return d


def score_tracks(frames: Sequence[tuple[dict[int, np.ndarray], list[tuple[int, np.ndarray]]]]) -> TrackQuality:
    """``frames``: per processed frame, the true boxes by face and the output (track id, box) pairs."""
    q = TrackQuality()
    last_id: dict[int, int] = {}
    seen_faces: set[int] = set()
    all_ids: set[int] = set()
    for truth, outputs in frames:
        all_ids.update(tid for tid, _ in outputs)
        keys = sorted(truth)
        gt = np.stack([truth[k] for k in keys]) if keys else np.zeros((0, 4), np.float32)
        out = np.stack([b for _, b in outputs]) if outputs else np.zeros((0, 4), np.float32)
        pairs = match_to_truth(gt, out)
        matched = set()
        for r, c in pairs:
            face, tid = keys[r], outputs[c][0]
            matched.add(face)
            seen_faces.add(face)
            q.face_frames += 1
            q.per_face_ids.setdefault(face, []).append(tid)
            if face in last_id and last_id[face] != tid:
                q.id_switches += 1
            last_id[face] = tid
        q.missed_face_frames += len(set(keys) - matched)
    q.distinct_faces = len(seen_faces)
    q.visitors_counted = len(all_ids)
    return q
