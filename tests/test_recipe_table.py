"""`agegender recipe-table`: scored recipe folders -> the Markdown table of models/RECIPES.md."""
import json

import pytest

from conftest import run_cli
from edge.errors import AgeGenderError
from train.recipe_table import MARK_BEGIN, MARK_END, collect, markdown_table, replace_between_marks


def _scored(root, name, mae, ff_gender, rate=200.0, latency_ms=None):
    d = root / name
    for split, metrics in (("utkface_val", {"age": {"mae": mae, "cs5": 0.6, "bias_by_band_race": {"cells": {
            "10-19": {"all": {"n": 100, "mean_signed": 3.0}}}}}, "gender": {"accuracy": 0.9}, "race": {"accuracy": 0.8}}),
                           ("fairface_val", {"age_bins": {"bin_accuracy": 0.5, "bin_one_off": 0.9},
                                             "gender": {"accuracy": ff_gender, "gap_over_race7": 0.1},
                                             "race": {"accuracy": 0.6}})):
        (d / split).mkdir(parents=True)
        (d / split / "metrics.json").write_text(json.dumps(metrics))
    (d / "config.json").write_text(json.dumps({"steps_per_epoch": 10, "batch_size": 64}))
    (d / "history.csv").write_text(f"epoch,samples_per_s\n0,500\n0,{rate}\n1,{rate}\n")
    if latency_ms:
        (d / "latency.json").write_text(json.dumps({"rows": [{"threads": 2, "batch": 1, "p50_ms": latency_ms}]}))


def test_rows_in_recipe_order_with_deltas_against_the_baseline(tmp_path):
    _scored(tmp_path, "ema", 4.5, 0.92)
    _scored(tmp_path, "baseline", 5.0, 0.90, latency_ms=1.23)
    (tmp_path / "mixup").mkdir()                    # started, not scored: not a row
    runs = collect(tmp_path)
    assert [r.name for r in runs] == ["baseline", "ema"]
    assert runs[0].samples == 3 * 10 * 64 and runs[0].samples_per_s == 200.0 and runs[0].ms_per_face == 1.23
    table = markdown_table(runs)
    ema_row = next(line for line in table.splitlines() if line.startswith("| `ema`"))
    assert "4.50 (**-0.50**)" in ema_row           # lower MAE: better, in bold
    assert "92.0% (**+2.0 pp**)" in ema_row
    assert "+3.00" in ema_row                        # signed error, no direction judged
    assert "Not run yet:" in table and "`mixup`" in table


def test_the_page_block_is_replaced_and_a_page_without_one_is_refused(tmp_path):
    page = f"# Recipes\n\nintro\n\n{MARK_BEGIN}\nold\n{MARK_END}\n\nnotes\n"
    out = replace_between_marks(page, "| new |")
    assert "old" not in out and "| new |" in out and out.endswith("notes\n")
    with pytest.raises(AgeGenderError, match="no <!-- recipe-table -->"):
        replace_between_marks("# nothing", "x")


def test_cli_writes_the_table_into_the_page(tmp_path):
    _scored(tmp_path / "runs", "baseline", 5.0, 0.9)
    page = tmp_path / "RECIPES.md"
    page.write_text(f"# R\n{MARK_BEGIN}\n{MARK_END}\n")
    r = run_cli("recipe-table", "--runs", str(tmp_path / "runs"), "--out", str(page))
    assert r.returncode == 0, r.stderr
    assert "| `baseline` |" in page.read_text()
    r = run_cli("recipe-table", "--runs", str(tmp_path / "nowhere"))
    assert r.returncode == 2 and "no recipe folder" in r.stderr


def test_a_flip_row_costs_one_batch_of_two(tmp_path):
    _scored(tmp_path, "baseline_flip", 4.8, 0.9)
    (tmp_path / "baseline_flip" / "latency.json").write_text(json.dumps({"rows": [
        {"threads": 2, "batch": 1, "p50_ms": 1.0}, {"threads": 2, "batch": 2, "p50_ms": 1.7}]}))
    assert collect(tmp_path)[0].ms_per_face == 1.7
