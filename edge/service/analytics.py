"""Privacy-preserving visitor analytics: unique visitors per time window, by age group and gender.

What is stored: per window (e.g. one minute) and per (age group, gender), the number of visitors
and their total dwell time, in a SQLite file. What is never stored: images, face crops, boxes,
embeddings, track IDs or per-person rows.

A *visitor* is one track (see edge.live.tracking) that was classified on at least ``min_frames`` frames.
It is counted once, when it leaves (unseen for ``leave_after_s``) or when the service stops, with
its smoothed age group and gender at that moment, in the window in which it arrived.
Counts are kept in memory for the current window and written in one SQLite transaction when the
window closes, so a crash or power cut loses at most the current window. A failing write (full
disk, read-only file) is logged once (then at most every ``warn_every_s``), the counts stay in
memory and are retried at the next window, and the pipeline keeps running.
"""
from __future__ import annotations

import logging
import sqlite3
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Iterable, Optional, Sequence

from edge.service.config import ConfigSection, in_range
from edge.errors import AgeGenderError

log = logging.getLogger(__name__)

DEFAULT_DB = "/var/lib/agegender/analytics.sqlite"
SCHEMA = """
CREATE TABLE IF NOT EXISTS visitors (
    window_start INTEGER NOT NULL,      -- unix seconds (UTC) at the start of the window
    window_s     INTEGER NOT NULL,      -- window length in seconds
    age_group    TEXT NOT NULL,
    gender       TEXT NOT NULL,         -- male | female | undetermined
    visitors     INTEGER NOT NULL,
    dwell_s      REAL NOT NULL,         -- total seconds these visitors were tracked
    PRIMARY KEY (window_start, window_s, age_group, gender)
);
"""


@dataclass
class AnalyticsConfig(ConfigSection):
    """Visitor analytics (enabled by run.analytics_db / --analytics-db): counts only, no images."""

    SECTION: ClassVar[str] = "analytics"

    window_s: int = field(default=60, metadata={"check": in_range(1), "help": "aggregation window, seconds"})
    retention_days: int = field(default=90, metadata={
        "check": in_range(0), "help": "windows older than this are deleted (0: keep forever)"})
    min_frames: int = field(default=3, metadata={
        "check": in_range(1), "help": "frames a track must be classified on to count as a visitor"})
    leave_after_s: float = field(default=3.0, metadata={
        "check": in_range(0), "help": "a track unseen this long has left"})
    warn_every_s: float = field(default=300.0, metadata={
        "check": in_range(0), "help": "at most one warning per this many seconds while the database cannot be written"})
    max_pending_windows: int = field(default=1440, metadata={
        "check": in_range(1), "help": "windows kept in memory while writes fail (oldest dropped first)"})


@dataclass(frozen=True)
class Visit:
    """One finished visitor (kept in memory only until it is added to its window's counts)."""

    arrived: float          # wall clock, seconds
    left: float
    age_group: str
    gender: str

    @property
    def dwell_s(self) -> float:
        return max(self.left - self.arrived, 0.0)


@dataclass(frozen=True)
class WindowRow:
    window_start: int
    window_s: int
    age_group: str
    gender: str
    visitors: int
    dwell_s: float


@dataclass
class _TrackState:
    first_seen: float
    last_seen: float
    frames: int = 0
    age_group: str = ""
    gender: str = ""


class VisitorCounter:
    """Turns per-frame faces with track IDs into finished visits. Pure logic, no I/O."""

    def __init__(self, min_frames: int = 3, leave_after_s: float = 3.0, remember: int = 10000):
        self.min_frames, self.leave_after_s = min_frames, leave_after_s
        self._active: dict[int, _TrackState] = {}
        self._done: OrderedDict[int, None] = OrderedDict()   # finished IDs, never counted twice
        self._remember = remember

    def observe(self, faces: Iterable[Any], now: float) -> list[Visit]:
        """Fold one frame's faces in; returns the visits that ended by ``now``."""
        for f in faces:
            tid, pred = getattr(f, "track_id", None), getattr(f, "prediction", None)
            if tid is None or tid in self._done:
                continue
            st = self._active.get(tid)
            if st is None:
                st = self._active[tid] = _TrackState(now, now)
            st.last_seen = now
            if pred is not None:
                st.frames += 1
                st.age_group, st.gender = pred.age_group, pred.gender
        gone = [tid for tid, st in self._active.items() if now - st.last_seen > self.leave_after_s]
        return [v for v in (self._finish(tid) for tid in gone) if v is not None]

    def finish_all(self) -> list[Visit]:
        return [v for v in (self._finish(tid) for tid in list(self._active)) if v is not None]

    def _finish(self, tid: int) -> Optional[Visit]:
        st = self._active.pop(tid)
        self._done[tid] = None
        while len(self._done) > self._remember:
            self._done.popitem(last=False)
        if st.frames < self.min_frames:
            return None
        return Visit(st.first_seen, st.last_seen, st.age_group, st.gender)

    @property
    def active(self) -> int:
        return len(self._active)


def add_visits(counts: dict[tuple[int, str, str], list], visits: Iterable[Visit], window_s: int) -> None:
    """Add visits to in-memory counts keyed by (window_start, age_group, gender) -> [visitors, dwell_s]."""
    for v in visits:
        start = int(v.arrived // window_s * window_s)
        c = counts.setdefault((start, v.age_group, v.gender), [0, 0.0])
        c[0] += 1
        c[1] += v.dwell_s


class AnalyticsStore:
    """The SQLite file. Each ``add`` is one transaction (all rows or none)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._conn: Optional[sqlite3.Connection] = None

    def open(self) -> None:
        self._connect()

    def _connect(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(self.path), timeout=5.0, isolation_level=None, check_same_thread=False)
            try:
                conn.execute("PRAGMA synchronous=FULL")   # a committed window survives a power cut
                conn.executescript(SCHEMA)
            except sqlite3.Error:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def add(self, rows: Sequence[WindowRow]) -> None:
        conn = self._connect()
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                "INSERT INTO visitors (window_start, window_s, age_group, gender, visitors, dwell_s) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (window_start, window_s, age_group, gender) DO UPDATE SET "
                "visitors = visitors + excluded.visitors, dwell_s = dwell_s + excluded.dwell_s",
                [(r.window_start, r.window_s, r.age_group, r.gender, r.visitors, r.dwell_s) for r in rows])
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def prune(self, before: float) -> int:
        conn = self._connect()
        cur = conn.execute("DELETE FROM visitors WHERE window_start + window_s <= ?", (int(before),))
        return cur.rowcount

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def read_windows(path: str | Path, since: Optional[float] = None, until: Optional[float] = None) -> list[WindowRow]:
    """Rows of an analytics database (opened read-only), oldest first."""
    p = Path(path)
    if not p.is_file():
        raise AgeGenderError(f"{p}: no analytics database (enable it with --analytics-db or run.analytics_db)")
    try:
        conn = sqlite3.connect(f"file:{p}?mode=ro", uri=True, timeout=5.0)
        try:
            rows = conn.execute(
                "SELECT window_start, window_s, age_group, gender, visitors, dwell_s FROM visitors "
                "WHERE window_start >= ? AND window_start < ? ORDER BY window_start, age_group, gender",
                (int(since) if since is not None else -2**62, int(until) if until is not None else 2**62)).fetchall()
        finally:
            conn.close()
    except sqlite3.Error as e:
        raise AgeGenderError(f"{p}: cannot read the analytics database ({e})") from e
    return [WindowRow(int(a), int(b), c, d, int(e), float(f)) for a, b, c, d, e, f in rows]


class AnalyticsSink:
    """Pipeline sink: counts visitors and persists one window at a time. Never raises on I/O."""

    needs_image = False

    def __init__(self, db_path: str | Path, config: Optional[AnalyticsConfig] = None,
                 store: Optional[AnalyticsStore] = None, clock: Callable[[], float] = time.monotonic):
        self.config = config or AnalyticsConfig()
        self.store = store or AnalyticsStore(db_path)
        self.counter = VisitorCounter(self.config.min_frames, self.config.leave_after_s)
        self.clock = clock
        self._counts: dict[tuple[int, str, str], list] = {}    # not yet written
        self._window_end: Optional[float] = None
        self._failing_since: Optional[float] = None
        self._warned_at: Optional[float] = None
        self._pruned_at = -1e18
        self.write_errors = 0
        self.windows_written = 0
        self.visitors = 0
        try:
            self.store.open()                  # create the file now, so a wrong path shows at start
        except (sqlite3.Error, OSError) as e:
            self._write_failed(e)

    def write(self, result: Any) -> None:
        now = float(result.frame.timestamp) or time.time()
        visits = self.counter.observe(result.faces, now)
        self._add(visits)
        w = self.config.window_s
        if self._window_end is None:
            self._window_end = (now // w + 1) * w
        elif now >= self._window_end:
            self.flush(now)
            self._window_end = (now // w + 1) * w

    def _add(self, visits: list[Visit]) -> None:
        self.visitors += len(visits)
        add_visits(self._counts, visits, self.config.window_s)

    def flush(self, now: Optional[float] = None) -> bool:
        """Write the pending counts in one transaction (on failure keep them for the next try),
        then apply the retention setting (at most once an hour)."""
        now = time.time() if now is None else now
        if self._counts:
            rows = [WindowRow(k[0], self.config.window_s, k[1], k[2], v[0], round(v[1], 3))
                    for k, v in sorted(self._counts.items())]
            try:
                self.store.add(rows)
            except (sqlite3.Error, OSError) as e:
                self._write_failed(e)
                return False
            self._counts.clear()
            self.windows_written += len({r.window_start for r in rows})
            if self._failing_since is not None:
                log.warning("analytics: writing %s works again", self.store.path)
                self._failing_since = self._warned_at = None
        self._apply_retention(now)
        return True

    def _apply_retention(self, now: float) -> None:
        if not self.config.retention_days or now - self._pruned_at <= 3600:
            return
        self._pruned_at = now
        try:
            removed = self.store.prune(now - self.config.retention_days * 86400)
        except (sqlite3.Error, OSError) as e:
            self._write_failed(e)
            return
        if removed:
            log.info("analytics: removed %d row(s) older than %d days", removed, self.config.retention_days)

    def _write_failed(self, e: BaseException) -> None:
        self.write_errors += 1
        self.store.close()                     # reopen next time (the file may have been fixed)
        t = self.clock()
        starts = sorted({k[0] for k in self._counts})
        if len(starts) > self.config.max_pending_windows:    # bounded memory: drop the oldest windows
            drop = set(starts[:len(starts) - self.config.max_pending_windows])
            self._counts = {k: v for k, v in self._counts.items() if k[0] not in drop}
        if self._failing_since is None:
            self._failing_since = t
        if self._warned_at is None or t - self._warned_at >= self.config.warn_every_s:
            self._warned_at = t
            log.warning("analytics: cannot write %s (%s); counts kept in memory (%d window(s)) and retried; "
                        "the pipeline keeps running", self.store.path, e, len({k[0] for k in self._counts}))

    def close(self) -> None:
        self._add(self.counter.finish_all())
        self.flush()
        self.store.close()


def parse_time(text: str, now: Optional[float] = None) -> float:
    """``7d``, ``24h``, ``30m``, ``90s`` ago, or an ISO date/time (UTC unless it has an offset)."""
    from datetime import datetime, timezone

    now = time.time() if now is None else now
    t = text.strip()
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    if t and t[-1] in units and t[:-1].replace(".", "", 1).isdigit():
        return now - float(t[:-1]) * units[t[-1]]
    try:
        dt = datetime.fromisoformat(t)
    except ValueError as e:
        raise AgeGenderError(f"--since/--until {text!r}: use e.g. 7d, 24h, 30m or 2026-11-23T10:00 (UTC)") from e
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def write_csv(rows: Sequence[WindowRow], stream: Any) -> int:
    import csv
    from datetime import datetime, timezone

    def iso(ts: int) -> str:
        return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    w = csv.writer(stream, lineterminator="\n")
    w.writerow(["window_start", "window_end", "age_group", "gender", "visitors", "dwell_s"])
    for r in rows:
        w.writerow([iso(r.window_start), iso(r.window_start + r.window_s), r.age_group, r.gender, r.visitors,
                    f"{r.dwell_s:.1f}"])
    return len(rows)


__all__ = ["AnalyticsConfig", "AnalyticsSink", "AnalyticsStore", "VisitorCounter", "Visit", "WindowRow",
           "read_windows", "parse_time", "write_csv", "DEFAULT_DB"]
