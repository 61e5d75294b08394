"""The bias tables of `agegender evaluate`: signed age error per band x race, and the direction of
bin misses per bin x race."""
import numpy as np
import pytest

from train import metrics as M

RACES = ["White", "Black", "Asian", "Indian", "Others"]


def test_signed_error_per_band_and_race_and_the_worst_counted_cell():
    true = np.array([5.0] * 60 + [15.0] * 60 + [70.0] * 10)
    race = np.array([0] * 60 + [1] * 60 + [2] * 10)
    pred = true + np.array([2.0] * 60 + [-1.0] * 60 + [-9.0] * 10)   # children too old, teens too young
    table = M.signed_error_table(pred, true, race, np.ones(len(true), bool), RACES)
    assert table["cells"]["0-9"]["White"] == {"n": 60, "mean_signed": pytest.approx(2.0)}
    assert table["cells"]["10-19"]["Black"]["mean_signed"] == pytest.approx(-1.0)
    assert table["cells"]["60+"]["Asian"]["n"] == 10
    # the -9 cell has only 10 faces: shown, but the worst cell is the +2 one
    assert table["worst"] == {"band": "0-9", "race": "White", "n": 60, "mean_signed": pytest.approx(2.0)}
    assert table["cells"]["0-9"]["all"]["n"] == 60 and "20-39" in table["cells"]


def test_unlabelled_race_counts_only_in_the_all_column():
    true = np.full(4, 30.0)
    table = M.signed_error_table(true + 1, true, np.zeros(4, int), np.array([True, True, False, False]), RACES)
    assert table["cells"]["20-39"]["White"]["n"] == 2 and table["cells"]["20-39"]["all"]["n"] == 4


def test_bin_direction_shares_above_and_below():
    lo = np.array([10.0, 10, 10, 10, 70])
    hi = np.array([19.0, 19, 19, 19, 100])
    pred = np.array([25.0, 12, 9.4, 19.4, 65])   # above, inside, below, inside (edge), below
    groups = ["Black", "Black", "White", "White", "White"]
    table = M.bin_direction_table(pred, lo, hi, groups)
    assert table["cells"]["10-19"]["Black"] == {"n": 2, "above": 0.5, "below": 0.0}
    assert table["cells"]["10-19"]["White"] == {"n": 2, "above": 0.0, "below": 0.5}
    assert table["cells"]["70+"]["all"] == {"n": 1, "above": 0.0, "below": 1.0}
    assert table["columns"] == ["Black", "White", "all"]
