"""`agegender cross-report`: the cross-dataset table in models/report.md, from evaluate summaries."""
from __future__ import annotations

import json

import pytest

from agegender.cli import main
from edge.errors import AgeGenderError
from train.cross_report import CrossRow, cross_dataset_table, load_summary

UTK_SUMMARY = {"n": 10, "age_mae": 4.781, "cs5": 0.6536, "gender_acc": 0.9284, "race_acc": 0.8173}
FF_METRICS = {"n": 12, "age_bins": {"bin_accuracy": 0.5266, "bin_one_off": 0.9325},
              "gender": {"accuracy": 0.8855, "roc_auc": 0.96, "ece": 0.01, "gap_over_race7": 0.1152},
              "race": {"accuracy": 0.6619}}


@pytest.fixture()
def summaries(tmp_path):
    utk = tmp_path / "utk.json"
    utk.write_text(json.dumps(UTK_SUMMARY))
    ff = tmp_path / "ff_report"          # an evaluate --out folder: metrics.json, summarised on reading
    ff.mkdir()
    (ff / "metrics.json").write_text(json.dumps(FF_METRICS))
    return utk, ff


def test_rows_from_a_summary_and_a_report_folder(summaries):
    utk, ff = summaries
    assert load_summary(ff)["age_bin_acc"] == 0.5266
    table = cross_dataset_table([CrossRow("joint", load_summary(utk), load_summary(ff)),
                                 CrossRow("utk only", load_summary(utk), {})])
    lines = table.splitlines()
    assert lines[0].startswith("| model | UTK MAE | UTK CS@5 |") and len(lines) == 4
    assert lines[2] == "| joint | 4.78 | 65.4% | 92.8% | 81.7% | 52.7% | 93.2% | 88.5% | 66.2% | 11.5 pp | – |"
    assert lines[3].endswith("| 81.7% | – | – | – | – | – | – |")


def test_cli_writes_the_table_and_rejects_missing_summaries(summaries, tmp_path, capsys):
    utk, ff = summaries
    out = tmp_path / "table.md"
    assert main(["cross-report", "--row", "joint", str(utk), str(ff), "--out", str(out)]) == 0
    assert "| joint | 4.78 |" in out.read_text() and "| joint | 4.78 |" in capsys.readouterr().out
    with pytest.raises(AgeGenderError, match=r"nowhere.json: no evaluate summary"):
        load_summary(tmp_path / "nowhere.json")
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(AgeGenderError, match="expected a JSON object"):
        load_summary(tmp_path / "bad.json")
    assert main(["cross-report", "--row", "joint", str(tmp_path / "nowhere.json"), str(ff)]) == 2
    assert "no evaluate summary" in capsys.readouterr().err
