"""Visitor analytics: unique visitors via track IDs, per-window aggregates in SQLite, retention,
CSV export, and a full disk / read-only database that never stops the pipeline."""
from __future__ import annotations

import csv
import io
import logging
import os
import sqlite3
import time
from dataclasses import dataclass

import numpy as np
import pytest

from agegender.cli import main
from edge.service.analytics import (AnalyticsConfig, AnalyticsSink, AnalyticsStore, VisitorCounter, parse_time,
                            read_windows)
from edge.errors import AgeGenderError
from edge.types import Detection, Face, Frame, Prediction

T0 = 1_800_000_000.0           # a round window boundary (divisible by 60)


@dataclass
class R:                         # a FrameResult stand-in: what a sink reads
    frame: Frame
    faces: list


def face(tid, group="25-32", gender="female", classified=True):
    pred = Prediction(30.0, (25.0, 35.0), group, 0.9 if gender == "female" else 0.1, gender) if classified else None
    return Face(Detection(np.array([0, 0, 10, 10], np.float32), 0.9), pred, tid)


def frame(ts, faces):
    return R(Frame(np.zeros((2, 2, 3), np.uint8), 0, ts, 0.0, "test"), faces)


def rows_of(db):
    return [(r.window_start - int(T0), r.age_group, r.gender, r.visitors, round(r.dwell_s, 1)) for r in read_windows(db)]


def test_each_track_counted_once_with_its_latest_smoothed_label():
    c = VisitorCounter(min_frames=3, leave_after_s=2.0)
    for i in range(10):                        # track 1 drifts from 15-20 to 25-32 while smoothing settles
        assert c.observe([face(1, "15-20" if i < 5 else "25-32"), face(2, classified=(i < 2))], T0 + i) == []
    visits = c.observe([], T0 + 12.5)
    assert [(v.age_group, v.gender, v.dwell_s) for v in visits] == [("25-32", "female", 9.0)]   # track 2: 2 frames
    assert c.observe([face(1)], T0 + 13) == [] and c.active == 0          # a finished ID is never counted again
    assert c.finish_all() == []


def test_windows_persisted_per_age_group_and_gender(tmp_path):
    db = tmp_path / "a.sqlite"
    sink = AnalyticsSink(db, AnalyticsConfig(window_s=60, min_frames=2, leave_after_s=1.0))
    t = T0
    for i in range(5):                         # 2 people arrive in window 0, leave at ~4 s
        sink.write(frame(t + i, [face(1, "25-32", "female"), face(2, "38-43", "male")]))
    sink.write(frame(t + 10, []))
    assert not db.exists() or rows_of(db) == []        # window 0 still open: nothing written yet
    for i in range(3):                         # a third arrives in window 1 (60..)
        sink.write(frame(t + 61 + i, [face(3, "25-32", "female")]))
    assert rows_of(db) == [(0, "25-32", "female", 1, 4.0), (0, "38-43", "male", 1, 4.0)]
    sink.close()                               # the service stops: open tracks are counted and written
    assert rows_of(db)[-1] == (60, "25-32", "female", 1, 2.0)
    with sqlite3.connect(db) as conn:          # counts only: no images, boxes or track IDs anywhere
        cols = [r[1] for r in conn.execute("PRAGMA table_info(visitors)")]
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    assert tables == ["visitors"]
    assert cols == ["window_start", "window_s", "age_group", "gender", "visitors", "dwell_s"]


def test_a_crash_loses_at_most_the_current_window(tmp_path):
    db = tmp_path / "a.sqlite"
    sink = AnalyticsSink(db, AnalyticsConfig(window_s=60, min_frames=1, leave_after_s=1.0))
    for w in range(3):                         # one visitor per window, each leaving within its window
        for i in range(3):
            sink.write(frame(T0 + 60 * w + i, [face(10 + w)]))
        sink.write(frame(T0 + 60 * w + 5, []))
    # no close(): the process dies here. Windows 0 and 1 are on disk; window 2 (current) is lost.
    assert [r[0] for r in rows_of(db)] == [0, 60]


def test_retention_deletes_old_windows(tmp_path):
    db = tmp_path / "a.sqlite"
    store = AnalyticsStore(db)
    from edge.service.analytics import WindowRow

    now = time.time()
    old, new = int(now - 10 * 86400) // 60 * 60, int(now - 3600) // 60 * 60
    store.add([WindowRow(old, 60, "25-32", "male", 2, 10.0), WindowRow(new, 60, "25-32", "male", 1, 5.0)])
    store.close()
    sink = AnalyticsSink(db, AnalyticsConfig(window_s=60, retention_days=7, min_frames=1, leave_after_s=0.5))
    sink.write(frame(now, [face(1)]))
    sink.close()
    starts = [r.window_start for r in read_windows(db)]
    assert old not in starts and new in starts


def test_full_disk_logs_one_warning_keeps_counts_and_recovers(tmp_path, monkeypatch, caplog):
    db = tmp_path / "a.sqlite"
    sink = AnalyticsSink(db, AnalyticsConfig(window_s=60, min_frames=1, leave_after_s=1.0, warn_every_s=300))
    real_add = AnalyticsStore.add
    full = {"on": True}

    def add(self, rows):
        if full["on"]:
            raise sqlite3.OperationalError("database or disk is full")
        return real_add(self, rows)

    monkeypatch.setattr(AnalyticsStore, "add", add)
    caplog.set_level(logging.WARNING, logger="edge.service.analytics")
    for w in range(5):                         # five windows while the disk is full
        for i in range(3):
            sink.write(frame(T0 + 60 * w + i, [face(100 + w)]))
        sink.write(frame(T0 + 60 * w + 5, []))
    warnings = [r for r in caplog.records if "cannot write" in r.getMessage()]
    assert len(warnings) == 1 and "database or disk is full" in warnings[0].getMessage()
    assert sink.write_errors == 4
    full["on"] = False                         # space freed: the kept windows are written at the next flush
    sink.write(frame(T0 + 60 * 5 + 1, []))
    assert [r[0] for r in rows_of(db)] == [0, 60, 120, 180, 240]   # every closed window
    assert any("works again" in r.getMessage() for r in caplog.records)


def test_unwritable_location_never_raises(tmp_path, caplog):
    """A database in a read-only place (a 0500 folder; /proc for root, whom permissions do not stop)."""
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    path = ro / "a.sqlite" if os.geteuid() != 0 else "/proc/self/agegender-analytics.sqlite"
    caplog.set_level(logging.WARNING, logger="edge.service.analytics")
    try:
        sink = AnalyticsSink(path, AnalyticsConfig(window_s=1, min_frames=1, leave_after_s=0.1))
        for i in range(20):
            sink.write(frame(T0 + i * 0.5, [face(i // 4)]))
        sink.close()
        assert sink.write_errors >= 5
        assert sum("cannot write" in r.getMessage() for r in caplog.records) == 1
    finally:
        ro.chmod(0o700)


class ReadOnlyStore(AnalyticsStore):
    """The database file opened read-only by SQLite (as when the file or its mount is read-only)."""

    def _connect(self):
        if self._conn is None:
            self._conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, isolation_level=None,
                                         check_same_thread=False)
        return self._conn


def test_read_only_database_in_a_running_pipeline(tmp_path, caplog):
    """A real pipeline with the analytics sink on a database SQLite cannot write: frames keep flowing."""
    from edge.live.pipeline import Pipeline, PipelineConfig
    from test_pipeline import FakeAnalyzer, SyntheticLive

    db = tmp_path / "a.sqlite"
    AnalyticsStore(db).add([])                 # an existing, valid database
    sink = AnalyticsSink(db, AnalyticsConfig(window_s=1, min_frames=1, leave_after_s=0.2), store=ReadOnlyStore(db))
    caplog.set_level(logging.WARNING)
    summary = Pipeline(SyntheticLive(fps=100), FakeAnalyzer(), [sink], PipelineConfig(duration=2.5)).run()
    assert summary["frames_processed"] > 50 and summary["frame_errors"] == 0
    assert sink.write_errors >= 1
    msgs = [r.getMessage() for r in caplog.records if "cannot write" in r.getMessage()]
    assert len(msgs) == 1 and "readonly database" in msgs[0]


def test_stats_export_csv(tmp_path, capsys):
    db = tmp_path / "a.sqlite"
    sink = AnalyticsSink(db, AnalyticsConfig(window_s=60, min_frames=1, leave_after_s=1.0))
    for i in range(3):
        sink.write(frame(T0 + i, [face(1, "25-32", "female"), face(2, "60+", "undetermined")]))
    sink.write(frame(T0 + 3600 + 1, [face(3, "8-13", "male")]))
    sink.close()
    assert main(["stats", "export", "--csv", "--db", str(db)]) == 0
    out = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["window_start"], r["age_group"], r["gender"], r["visitors"]) for r in out] == [
        ("2027-01-15T08:00:00Z", "25-32", "female", "1"), ("2027-01-15T08:00:00Z", "60+", "undetermined", "1"),
        ("2027-01-15T09:00:00Z", "8-13", "male", "1")]
    assert out[0]["window_end"] == "2027-01-15T08:01:00Z" and out[0]["dwell_s"] == "2.0"
    assert main(["stats", "export", "--csv", "--db", str(db), "--since", "2027-01-15T08:30"]) == 0
    assert len(list(csv.DictReader(io.StringIO(capsys.readouterr().out)))) == 1
    assert main(["stats", "export", "--db", str(tmp_path / "none.sqlite")]) == 2
    assert "no analytics database" in capsys.readouterr().err


def test_parse_time():
    assert parse_time("7d", now=1_000_000.0) == 1_000_000.0 - 7 * 86400
    assert parse_time("30m", now=1000.0) == -800.0
    assert parse_time("2027-01-15T08:00") == T0
    assert parse_time("2027-01-15T08:00:00+01:00") == parse_time("2027-01-15T07:00")
    with pytest.raises(AgeGenderError, match="--since/--until 'yesterday'"):
        parse_time("yesterday")


def test_run_flag_wires_the_sink(tmp_path):
    """`agegender run --analytics-db`: the demo clip's two faces become two visitors in the database."""
    from deploy_helpers import make_tiny_onnx

    model = make_tiny_onnx(tmp_path / "tiny.onnx")
    db = tmp_path / "visitors.sqlite"
    cfg = tmp_path / "config.toml"
    cfg.write_text("[analytics]\nwindow_s = 3600\nmin_frames = 2\n")
    rc = main(["run", "demo", "--config", str(cfg), "--model", str(model), "--detector", "haar",
               "--max-frames", "8", "--analytics-db", str(db)])
    assert rc == 0
    rows = read_windows(db)
    assert sum(r.visitors for r in rows) >= 1 and {r.window_s for r in rows} == {3600}
