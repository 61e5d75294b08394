"""Face data sets behind one interface.

Every source yields :class:`LabeledFaces`: image paths plus the labels each sample has
(exact age, an age interval, gender, race) and masks for the labels it lacks. UTKFace
(exact ages) and FairFace (age bins) are read here; both ship as face chips in the same
framing. Pure numpy/stdlib: no TensorFlow, so tests and evaluation can use it freely.
"""
from __future__ import annotations

import csv
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

import numpy as np

from edge.errors import DatasetError

log = logging.getLogger(__name__)

AGE_MAX = 100  # the model's last age bin: 100 and older
UTK_NAME = re.compile(r"^(\d+)_([01])_([0-4])_[^/]*\.(jpg|jpeg|png)(\.chip\.jpg)?$", re.IGNORECASE)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


@dataclass
class LabeledFaces:
    """Parallel arrays, one row per face. Missing labels are masked, never guessed."""

    paths: list[str]
    age_lo: np.ndarray          # float32, years (== age_hi for an exact age)
    age_hi: np.ndarray          # float32, years, clipped to AGE_MAX
    has_exact_age: np.ndarray   # bool
    has_age_interval: np.ndarray  # bool (an interval that is not a single year)
    gender: np.ndarray          # int8, 0 male, 1 female
    has_gender: np.ndarray      # bool
    race: np.ndarray            # int8, UTKFace's 5 classes
    has_race: np.ndarray        # bool
    race7: list[str] = field(default_factory=list)  # FairFace's 7 names, "" where unknown
    source: str = ""
    true_age: Optional[np.ndarray] = None  # unclipped exact age (UTKFace goes to 116)

    def __len__(self) -> int:
        return len(self.paths)

    def subset(self, index: np.ndarray | Iterable[int]) -> "LabeledFaces":
        idx = np.asarray(list(index) if not isinstance(index, np.ndarray) else index)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        take = lambda a: a[idx]  # noqa: E731
        return LabeledFaces(
            paths=[self.paths[i] for i in idx], age_lo=take(self.age_lo), age_hi=take(self.age_hi),
            has_exact_age=take(self.has_exact_age), has_age_interval=take(self.has_age_interval),
            gender=take(self.gender), has_gender=take(self.has_gender), race=take(self.race),
            has_race=take(self.has_race), race7=[self.race7[i] for i in idx] if self.race7 else [],
            source=self.source, true_age=None if self.true_age is None else take(self.true_age))

    @staticmethod
    def concat(parts: list["LabeledFaces"]) -> "LabeledFaces":
        parts = [p for p in parts if len(p)]
        if not parts:
            raise DatasetError("no faces to concatenate")
        cat = lambda name: np.concatenate([getattr(p, name) for p in parts])  # noqa: E731
        race7 = []
        for p in parts:
            race7.extend(p.race7 if p.race7 else [""] * len(p))
        true_age = np.concatenate([p.true_age if p.true_age is not None else np.full(len(p), np.nan, np.float32)
                                   for p in parts])
        return LabeledFaces(
            paths=[x for p in parts for x in p.paths], age_lo=cat("age_lo"), age_hi=cat("age_hi"),
            has_exact_age=cat("has_exact_age"), has_age_interval=cat("has_age_interval"),
            gender=cat("gender"), has_gender=cat("has_gender"), race=cat("race"), has_race=cat("has_race"),
            race7=race7, source="+".join(p.source for p in parts), true_age=true_age)


def _build(paths, age_lo, age_hi, gender, race, race7, source, true_age=None) -> LabeledFaces:
    lo = np.asarray(age_lo, np.float32)
    hi = np.asarray(age_hi, np.float32)
    has_age = ~np.isnan(lo)
    lo = np.where(has_age, np.clip(lo, 0, AGE_MAX), 0).astype(np.float32)
    hi = np.where(has_age, np.clip(hi, 0, AGE_MAX), 0).astype(np.float32)
    g = np.asarray(gender, np.float32)
    r = np.asarray(race, np.float32)
    return LabeledFaces(
        paths=list(paths), age_lo=lo, age_hi=hi,
        has_exact_age=has_age & (lo == hi), has_age_interval=has_age & (lo != hi),
        gender=np.nan_to_num(g, nan=0).astype(np.int8), has_gender=~np.isnan(g),
        race=np.nan_to_num(r, nan=0).astype(np.int8), has_race=~np.isnan(r),
        race7=list(race7), source=source,
        true_age=None if true_age is None else np.asarray(true_age, np.float32))


def _int_or_nan(value: str, lo: int, hi: int) -> float:
    try:
        v = int(value)
    except (TypeError, ValueError):
        return float("nan")
    return float(v) if lo <= v <= hi else float("nan")


def _read_csv(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))
    except OSError as e:
        raise DatasetError(f"{path}: cannot read labels ({e.strerror})") from e


def _image_dir(root: Path, candidates: tuple[str, ...]) -> Path:
    for name in candidates:
        if (root / name).is_dir():
            return root / name
    return root


def read_utkface(root: str | Path, split: Optional[str] = None) -> LabeledFaces:
    """UTKFace: ``labels.csv`` (filename, age, gender, race, split) or, without it, plain
    ``age_gender_race_datetime.jpg.chip.jpg`` filenames. Malformed rows are skipped with a warning."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: UTKFace folder not found (pass --data DIR pointing at it)")
    images = _image_dir(root, ("UTKFace", "images", "crop_part1"))
    csv_path = root / "labels.csv"
    paths, ages, genders, races = [], [], [], []
    bad = 0
    if csv_path.is_file():
        for i, row in enumerate(_read_csv(csv_path), start=2):
            if split is not None and row.get("split") != split:
                continue
            age = _int_or_nan(row.get("age", ""), 0, 130)
            gender = _int_or_nan(row.get("gender", ""), 0, 1)
            race = _int_or_nan(row.get("race", ""), 0, 4)
            name = (row.get("filename") or "").strip()
            if not name or np.isnan(age):
                bad += 1
                if bad <= 5:
                    log.warning("%s line %d: malformed row skipped (%s)", csv_path, i, dict(row))
                continue
            paths.append(str(images / name)); ages.append(age); genders.append(gender); races.append(race)
    else:
        if split is not None:
            log.warning("%s has no labels.csv, so there is no split column: using every image", root)
        for p in sorted(images.iterdir()):
            if not p.name.lower().endswith(IMAGE_SUFFIXES + (".chip.jpg",)):
                continue
            m = UTK_NAME.match(p.name)
            if not m:
                bad += 1
                if bad <= 5:
                    log.warning("%s: filename is not age_gender_race_datetime.jpg; skipped", p)
                continue
            paths.append(str(p)); ages.append(float(m.group(1)))
            genders.append(float(m.group(2))); races.append(float(m.group(3)))
    if bad:
        log.warning("UTKFace at %s: %d malformed entr%s skipped", root, bad, "y" if bad == 1 else "ies")
    if not paths:
        raise DatasetError(f"{root}: no UTKFace images found" + (f" for split {split!r}" if split else ""))
    return _build(paths, ages, ages, genders, races, [""] * len(paths), "utkface", true_age=ages)


def read_fairface(root: str | Path, split: Optional[str] = None) -> LabeledFaces:
    """FairFace chips: ``labels.csv`` with age_min/age_max bins, gender, race (5 classes), race7."""
    root = Path(root)
    csv_path = root / "labels.csv"
    if not csv_path.is_file():
        raise DatasetError(f"{root}: FairFace labels.csv not found (pass --data DIR pointing at the folder)")
    images = _image_dir(root, ("images",))
    paths, lo, hi, genders, races, race7 = [], [], [], [], [], []
    bad = 0
    for i, row in enumerate(_read_csv(csv_path), start=2):
        if split is not None and row.get("split") != split:
            continue
        a_lo = _int_or_nan(row.get("age_min", ""), 0, 130)
        a_hi = _int_or_nan(row.get("age_max", ""), 0, 130)
        name = (row.get("filename") or "").strip()
        if not name or np.isnan(a_lo) or np.isnan(a_hi) or a_hi < a_lo:
            bad += 1
            if bad <= 5:
                log.warning("%s line %d: malformed row skipped (%s)", csv_path, i, dict(row))
            continue
        paths.append(str(images / name)); lo.append(a_lo); hi.append(a_hi)
        genders.append(_int_or_nan(row.get("gender", ""), 0, 1))
        races.append(_int_or_nan(row.get("race", ""), 0, 4))
        race7.append(row.get("race7", "") or "")
    if bad:
        log.warning("FairFace at %s: %d malformed row%s skipped", root, bad, "" if bad == 1 else "s")
    if not paths:
        raise DatasetError(f"{root}: no FairFace rows found" + (f" for split {split!r}" if split else ""))
    return _build(paths, lo, hi, genders, races, race7, "fairface")


def detect_format(root: str | Path) -> str:
    """'fairface' when labels.csv has age bins, else 'utkface'."""
    csv_path = Path(root) / "labels.csv"
    if csv_path.is_file():
        with csv_path.open(newline="", encoding="utf-8") as f:
            header = next(csv.reader(f), [])
        if "age_min" in header:
            return "fairface"
    return "utkface"


def read_source(root: str | Path, split: Optional[str] = None, kind: str = "auto") -> LabeledFaces:
    root = Path(root)
    if not root.exists():
        raise DatasetError(f"{root}: data folder not found")
    kind = detect_format(root) if kind == "auto" else kind
    if kind == "fairface":
        return read_fairface(root, split)
    if kind == "utkface":
        return read_utkface(root, split)
    raise DatasetError(f"unknown data set kind {kind!r} (use utkface or fairface)")
