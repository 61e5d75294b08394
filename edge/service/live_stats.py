"""Live counts for the dashboard, the metrics endpoint and MQTT: who is in view now, unique
visitors (track ids) per age group and gender over rolling windows, appear/leave events, and the
current frame rate. Only labels and times are kept in memory; never images.

A track *appears* the first time it is seen with a prediction and *leaves* when it has not been
seen for ``leave_after_s``. A visitor counts in a window when it was seen during that window,
under its latest (smoothed) age group and gender.
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

DEFAULT_WINDOWS = (60, 900, 3600)


@dataclass
class TrackInfo:
    track_id: int
    first_seen: float        # wall clock (time.time())
    last_seen: float
    age: float
    age_group: str
    gender: str
    frames: int = 1
    gate: Optional[str] = None       # the age check's final decision ("adult" | "ask_id"), with --age-gate
    gate_reason: str = ""


@dataclass(frozen=True)
class TrackEvent:
    kind: str                # "appeared" | "left" | "age_check" (a person's final age-check decision)
    track: TrackInfo
    at: float                # wall clock

    def to_json(self) -> dict[str, Any]:
        t = self.track
        d: dict[str, Any] = {"type": self.kind, "track_id": t.track_id, "time": round(self.at, 3),
                             "age": round(t.age, 1), "age_group": t.age_group, "gender": t.gender}
        if self.kind == "left":
            d["dwell_s"] = round(max(t.last_seen - t.first_seen, 0.0), 2)
            d["frames"] = t.frames
        if t.gate is not None:
            d.update(gate=t.gate, gate_reason=t.gate_reason)
            if self.kind == "age_check":     # the decision, not a number: no age in an age-check event
                for key in ("age", "age_group"):
                    d.pop(key)
        return d


@dataclass(frozen=True)
class WindowCounts:
    seconds: float
    visitors: int
    by_age_group: dict[str, int]
    by_gender: dict[str, int]
    by_group_gender: dict[str, dict[str, int]]
    by_gate: dict[str, int] = field(default_factory=dict)   # people decided "adult" / "ask_id" (with --age-gate)

    def to_json(self) -> dict[str, Any]:
        return {"seconds": self.seconds, "visitors": self.visitors, "by_age_group": self.by_age_group,
                "by_gender": self.by_gender, "by_group_gender": self.by_group_gender, "by_gate": self.by_gate}


def count_tracks(tracks: Sequence[TrackInfo], seconds: float, age_groups: Sequence[str] = ()) -> WindowCounts:
    """Unique tracks by age group and gender. ``age_groups`` lists groups to report even at 0."""
    by_group = {g: 0 for g in age_groups}
    by_gender = {"female": 0, "male": 0, "undetermined": 0}
    both: dict[str, dict[str, int]] = {}
    gates = {"adult": 0, "ask_id": 0}
    for t in tracks:
        if t.gate is not None:
            gates[t.gate] = gates.get(t.gate, 0) + 1
        by_group[t.age_group] = by_group.get(t.age_group, 0) + 1
        by_gender[t.gender] = by_gender.get(t.gender, 0) + 1
        cell = both.setdefault(t.age_group, {})
        cell[t.gender] = cell.get(t.gender, 0) + 1
    return WindowCounts(seconds, len(tracks), by_group, by_gender, both, gates)


@dataclass
class TrackBook:
    """Thread-safe: the output thread calls :meth:`update`, servers and publishers read."""

    windows: Sequence[float] = DEFAULT_WINDOWS
    leave_after_s: float = 3.0
    max_tracks: int = 100_000             # memory bound: the oldest tracks are forgotten first
    age_groups: Sequence[str] = ()
    clock: Callable[[], float] = time.time
    _tracks: "OrderedDict[int, TrackInfo]" = field(default_factory=OrderedDict, repr=False)
    _present: dict[int, TrackInfo] = field(default_factory=dict, repr=False)
    _current: list[dict[str, Any]] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def update(self, faces: Sequence[Any], now: Optional[float] = None) -> list[TrackEvent]:
        """Record one frame's faces (``edge.types.Face``); returns the appear/leave events it caused."""
        now = self.clock() if now is None else now
        events: list[TrackEvent] = []
        current = []
        with self._lock:
            for f in faces:
                p = f.prediction
                gate = getattr(f, "gate", None)
                current.append({"track_id": f.track_id, "box": f.detection.xywh(),
                                **({} if p is None else {"age": round(float(p.age), 1), "age_group": p.age_group,
                                                         "gender": p.gender, "p_female": round(float(p.p_female), 3)}),
                                **({} if gate is None else gate.to_json())})
                if f.track_id is None or p is None:
                    continue
                tid = int(f.track_id)
                info = self._tracks.get(tid)
                if info is None:
                    info = TrackInfo(tid, now, now, float(p.age), p.age_group, p.gender)
                    self._tracks[tid] = info
                    self._present[tid] = info
                    events.append(TrackEvent("appeared", info, now))
                else:
                    info.last_seen, info.age, info.age_group, info.gender = now, float(p.age), p.age_group, p.gender
                    info.frames += 1
                    self._tracks.move_to_end(tid)
                    self._present.setdefault(tid, info)
                if gate is not None and gate.final and info.gate is None:
                    info.gate, info.gate_reason = gate.gate, gate.reason
                    events.append(TrackEvent("age_check", info, now))
            self._current = current
            events.extend(self._expire_locked(now))
        return events

    def expire(self, now: Optional[float] = None) -> list[TrackEvent]:
        """Leave events for tracks unseen for ``leave_after_s`` (call it also while no frames arrive)."""
        with self._lock:
            return self._expire_locked(self.clock() if now is None else now)

    def _expire_locked(self, now: float) -> list[TrackEvent]:
        gone = [t for t in self._present.values() if now - t.last_seen > self.leave_after_s]
        for t in gone:
            del self._present[t.track_id]
        horizon = now - max(self.windows, default=0)
        while self._tracks:
            oldest = next(iter(self._tracks.values()))
            if oldest.last_seen >= horizon and len(self._tracks) <= self.max_tracks:
                break
            self._tracks.popitem(last=False)
            self._present.pop(oldest.track_id, None)
        return [TrackEvent("left", t, now) for t in gone]

    def counts(self, seconds: float, now: Optional[float] = None, since: Optional[float] = None) -> WindowCounts:
        """Unique tracks seen in the last ``seconds`` (or since the wall-clock time ``since``)."""
        now = self.clock() if now is None else now
        start = now - seconds if since is None else since
        with self._lock:   # counting is a few dict increments per track: cheaper than copying them out first
            return count_tracks([t for t in self._tracks.values() if t.last_seen >= start], seconds, self.age_groups)

    def current_faces(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._current)

    def present(self) -> int:
        with self._lock:
            return len(self._present)


class RateMeter:
    """Events per second over the last ``span_s`` seconds (the live FPS, not the run's average)."""

    def __init__(self, span_s: float = 5.0, clock: Callable[[], float] = time.monotonic):
        self.span_s, self.clock = span_s, clock
        self._marks: deque = deque()
        self._lock = threading.Lock()

    def mark(self, total: int) -> None:
        """Record a running total (e.g. frames processed so far)."""
        now = self.clock()
        with self._lock:
            self._marks.append((now, total))
            while len(self._marks) > 2 and now - self._marks[1][0] >= self.span_s:
                self._marks.popleft()

    def rate(self) -> float:
        now = self.clock()
        with self._lock:
            if len(self._marks) < 2:
                return 0.0
            (t0, n0), (t1, n1) = self._marks[0], self._marks[-1]
        if now - t1 > self.span_s:       # nothing recent: the stream has stopped
            return 0.0
        return (n1 - n0) / (t1 - t0) if t1 > t0 else 0.0
