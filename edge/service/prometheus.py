"""Prometheus text exposition (format 0.0.4), written by hand: no client library on the device.

Every metric is prefixed ``agegender_``. Counters are totals since the start of the run; stage
latencies are cumulative histograms in seconds (``_bucket{le=...}``, ``_sum``, ``_count``).
"""
from __future__ import annotations

import math
from typing import Iterable, Optional

from edge.service.live_stats import TrackBook
from edge.live.metrics import HISTOGRAM_BUCKETS, RunMetrics

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

COUNTERS = (
    ("frames_captured", "Frames read from the source."),
    ("frames_processed", "Frames run through detection, classification and tracking."),
    ("frames_dropped", "Live frames replaced by a newer one before they were processed."),
    ("outputs_dropped", "Processed frames the outputs skipped because they were behind."),
    ("faces_total", "Faces found, summed over processed frames."),
    ("classifications", "Faces run through the age/gender model."),
    ("frame_errors", "Frames or outputs that failed and were skipped."),
    ("reconnects", "Times the camera was reopened after a failure."),
    ("stalls", "Times the camera delivered no frame for too long."),
    ("age_checks_adult", "People the age check decided 'adult' (--age-gate)."),
    ("age_checks_ask_id", "People the age check decided 'ask_id': refer to an ID check (--age-gate)."),
)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels: str) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(str(v))}"' for k, v in labels.items()) + "}"


def _num(v: float) -> str:
    if isinstance(v, float) and math.isnan(v):
        return "NaN"
    if isinstance(v, float) and math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(float(v)) if isinstance(v, float) else str(int(v))


def _family(name: str, kind: str, help_text: str, samples: Iterable[tuple[str, dict, float]]) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    lines += [f"{name}{suffix}{_labels(**labels)} {_num(value)}" for suffix, labels, value in samples]
    return lines


def render(metrics: RunMetrics, fps: float, book: Optional[TrackBook] = None,
           camera_alive: Optional[bool] = None, last_frame_age_s: Optional[float] = None,
           reconnects: Optional[int] = None, stalls: Optional[int] = None) -> str:
    """The whole ``/metrics`` page."""
    p = "agegender_"
    snap = metrics.snapshot()
    live = {"reconnects": reconnects, "stalls": stalls}
    out: list[str] = []
    out += _family(p + "fps", "gauge", "Processed frames per second over the last few seconds.", [("", {}, fps)])
    out += _family(p + "uptime_seconds", "gauge", "Seconds since the pipeline started.", [("", {}, snap["elapsed_s"])])
    for key, help_text in COUNTERS:
        value = live.get(key)
        value = snap.get(key, 0) if value is None else value
        name = p + (key if key.endswith("_total") else key + "_total")
        out += _family(name, "counter", help_text, [("", {}, int(value))])
    if camera_alive is not None:
        out += _family(p + "camera_up", "gauge", "1 while frames arrive, 0 when they have stopped.",
                       [("", {}, int(camera_alive))])
    if last_frame_age_s is not None:
        out += _family(p + "last_frame_age_seconds", "gauge", "Seconds since the last processed frame.",
                       [("", {}, float(last_frame_age_s))])
    faces_now = len(book.current_faces()) if book is not None else 0
    out += _family(p + "faces", "gauge", "Faces in the latest processed frame.", [("", {}, faces_now)])
    hist = metrics.histograms()
    if hist:
        samples = []
        for stage in sorted(hist):
            h = hist[stage]
            for le, c in zip(HISTOGRAM_BUCKETS, h.counts):
                samples.append(("_bucket", {"stage": stage, "le": repr(le)}, c))
            samples.append(("_bucket", {"stage": stage, "le": "+Inf"}, h.total))
            samples.append(("_sum", {"stage": stage}, float(h.sum_s)))
            samples.append(("_count", {"stage": stage}, h.total))
        out += _family(p + "stage_latency_seconds", "histogram",
                       "Time per pipeline stage (end_to_end: capture to output).", samples)
    if book is not None:
        samples = []
        for seconds in book.windows:
            c = book.counts(seconds)
            window = f"{int(seconds)}s"
            samples.append(("", {"window": window, "age_group": "all", "gender": "all"}, c.visitors))
            for group, n in c.by_age_group.items():
                samples.append(("", {"window": window, "age_group": group, "gender": "all"}, n))
            for gender, n in c.by_gender.items():
                samples.append(("", {"window": window, "age_group": "all", "gender": gender}, n))
            for group, cell in c.by_group_gender.items():
                for gender, n in cell.items():
                    samples.append(("", {"window": window, "age_group": group, "gender": gender}, n))
        out += _family(p + "visitors", "gauge",
                       "Unique tracked people seen in the rolling window, by age group and gender.", samples)
        gate_samples = [("", {"window": f"{int(seconds)}s", "decision": decision}, n)
                        for seconds in book.windows for decision, n in book.counts(seconds).by_gate.items()]
        if snap.get("age_checks_adult", 0) or snap.get("age_checks_ask_id", 0):
            out += _family(p + "age_checks", "gauge",
                           "People decided by the age check in the rolling window, by decision.", gate_samples)
        out += _family(p + "people_present", "gauge", "Tracks in view now (seen within the leave timeout).",
                       [("", {}, book.present())])
    return "\n".join(out) + "\n"
