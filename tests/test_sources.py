"""The multi-source reader: UTKFace (exact ages) and FairFace (bins) behind one interface."""
import logging

import numpy as np
import pytest

from edge.errors import DatasetError
from train.sources import LabeledFaces, read_fairface, read_source, read_utkface


def test_utkface_csv_and_masks(synthetic_utk):
    f = read_utkface(synthetic_utk, "train")
    assert len(f) == 336
    assert f.has_exact_age.all() and not f.has_age_interval.any()
    assert f.has_gender.all() and f.has_race.all()
    assert (f.age_lo == f.age_hi).all()


def test_utkface_filenames_without_csv(tmp_path, caplog):
    from conftest import write_synthetic_utkface

    root = write_synthetic_utkface(tmp_path / "u", n=6, with_csv=False)
    (root / "UTKFace" / "bad_name.jpg.chip.jpg").write_bytes(b"x")
    with caplog.at_level(logging.WARNING):
        f = read_utkface(root)
    assert len(f) == 6
    assert any("bad_name" in r.message for r in caplog.records)


def test_malformed_row_warns_and_is_skipped(tmp_path, caplog):
    root = tmp_path / "ff"
    (root / "images").mkdir(parents=True)
    (root / "labels.csv").write_text(
        "filename,age_bin,age_min,age_max,gender,race,race7,split,service_test\n"
        "1.webp,30-39,30,39,1,2,East Asian,train,True\n"
        "2.webp,70+,70,116,0,4,Middle Eastern,train,False\n"
        "3.webp,??,x,y,0,0,White,train,False\n"
        "4.webp,20-29,20,29,,,,train,False\n")
    with caplog.at_level(logging.WARNING):
        f = read_fairface(root, "train")
    assert len(f) == 3
    assert any("line 4" in r.message for r in caplog.records)
    assert f.has_age_interval.all() and not f.has_exact_age.any()
    assert f.age_hi[1] == 100                                  # 70+ clipped to the model's last bin
    assert list(f.has_gender) == [True, True, False] and list(f.has_race) == [True, True, False]
    assert f.race7[:2] == ["East Asian", "Middle Eastern"]


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        read_source(tmp_path / "nope")
    with pytest.raises(DatasetError, match="labels.csv"):
        read_fairface(tmp_path)


def test_concat_keeps_masks(synthetic_utk, tmp_path):
    u = read_utkface(synthetic_utk, "val")
    both = LabeledFaces.concat([u, u.subset(np.arange(3))])
    assert len(both) == len(u) + 3 and both.has_exact_age.all()


def test_real_sources(utkface, fairface):
    u = read_source(utkface, "test")
    f = read_source(fairface, "val")
    assert len(u) == 2304 and len(f) == 3999
    assert f.has_age_interval.mean() > 0.95


def test_sampling_mix_and_balance(synthetic_utk):
    from conftest import has_tensorflow
    if not has_tensorflow():
        pytest.skip("trainer needs TensorFlow")
    from train.trainer import sampling_weights

    a = read_utkface(synthetic_utk, "train")
    b = read_utkface(synthetic_utk, "val")
    w = sampling_weights([a, b], [1.0, 1.0], "none")
    assert w.sum() == pytest.approx(1.0)
    assert w[:len(a)].sum() == pytest.approx(0.5)
    wb = sampling_weights([a], None, "age")
    assert wb.sum() == pytest.approx(1.0) and wb.std() > 0


def test_slow_epochs_are_flagged():
    from conftest import has_tensorflow
    if not has_tensorflow():
        pytest.skip("trainer needs TensorFlow")
    from train.trainer import slow_epoch

    assert slow_epoch(70.0, 150.0) and not slow_epoch(80.0, 150.0) and not slow_epoch(10.0, 0.0)


def test_race7_balance_evens_fairface_groups_and_keeps_utkface_classes(synthetic_utk):
    from conftest import has_tensorflow
    if not has_tensorflow():
        pytest.skip("trainer needs TensorFlow")
    from train.trainer import RACE7, race_groups, sampling_weights

    n = 90
    names = ["White"] * 60 + ["Black"] * 20 + ["Latino_Hispanic"] * 10
    ff = LabeledFaces(paths=[f"{i}.webp" for i in range(n)], age_lo=np.full(n, 20, np.float32),
                      age_hi=np.full(n, 29, np.float32), has_exact_age=np.zeros(n, bool),
                      has_age_interval=np.ones(n, bool), gender=np.zeros(n, np.int8), has_gender=np.ones(n, bool),
                      race=np.zeros(n, np.int8), has_race=np.ones(n, bool), race7=names, source="fairface")
    groups = race_groups(ff)
    assert list(groups[[0, 60, 80]]) == [RACE7.index("White"), RACE7.index("Black"), RACE7.index("Latino_Hispanic")]
    w = sampling_weights([ff], None, "age+race7")
    # 1/sqrt(count) per (age band, race7): a group's share grows as sqrt(count), not count
    share = {name: w[[i for i in range(n) if names[i] == name]].sum() for name in ("White", "Black", "Latino_Hispanic")}
    assert share["White"] / share["Latino_Hispanic"] == pytest.approx(np.sqrt(6), rel=1e-6)
    assert race_groups(read_utkface(synthetic_utk, "train")).min() > len(RACE7)     # UTKFace's 5 classes are groups of their own



def test_age_weights_raise_the_sampling_share_of_the_chosen_ages():
    from train.trainer import age_band_factor, sampling_weights

    faces = _faces_with_ages([4, 12, 14.5, 30, 60])
    factor = age_band_factor(faces, [[5, 25, 2.0]])
    assert factor.tolist() == [1, 2, 2, 1, 1]
    w = sampling_weights([faces], None, "none", [[5, 25, 2.0]])
    assert w.sum() == pytest.approx(1.0) and w[1] == pytest.approx(2 * w[0])


def test_age_weight_option_parses_and_rejects_nonsense():
    from edge.errors import AgeGenderError
    from train.cli import parse_age_sigma, parse_age_weights

    assert parse_age_weights("5-25:2, 60-100:1.5") == [[5, 25, 2], [60, 100, 1.5]]
    assert parse_age_sigma("1.0,0.08,18") == {"sigma_base": 1.0, "sigma_slope": 0.08, "sigma_knee": 18}
    for bad in ("5-25", "25-5:2", "5-25:0", "a-b:c"):
        with pytest.raises(AgeGenderError):
            parse_age_weights(bad)
    with pytest.raises(AgeGenderError):
        parse_age_sigma("0,0.1")


def _faces_with_ages(ages):
    n = len(ages)
    a = np.asarray(ages, np.float32)
    return LabeledFaces(paths=[f"{i}.jpg" for i in range(n)], age_lo=a, age_hi=a, has_exact_age=np.ones(n, bool),
                        has_age_interval=np.zeros(n, bool), gender=np.zeros(n, np.int8), has_gender=np.ones(n, bool),
                        race=np.zeros(n, np.int8), has_race=np.ones(n, bool))
