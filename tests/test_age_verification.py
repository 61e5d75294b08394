"""Challenge-T metrics, the gate's calibration fit, the training-prior correction, and the CLI's age check."""
import json

import numpy as np
import pytest
from conftest import ROOT, run_cli

from train.age_verification import (
    age_bin_table,
    exact_age_table,
    grouped_minors_passed,
    share,
)
from train.gate_calibration import (
    choose_risk,
    fit_gate,
    fit_temperature,
    known_minor,
    passed,
    tradeoff_curve,
    training_age_prior,
)


def test_share_has_a_bootstrap_interval_around_the_rate():
    r = share(np.array([True] * 10 + [False] * 90))
    assert r.rate == pytest.approx(0.10) and r.n == 100
    assert 0.03 < r.lo < 0.10 < r.hi < 0.18
    assert share(np.array([], bool)).rate is None


def test_exact_age_table_counts_each_error_on_its_own_group():
    true = np.array([14, 15, 16, 17, 30, 40, 8, 19])
    pred = np.array([26, 22, 15, 16, 24, 41, 19, 27])
    t = exact_age_table(pred, true)
    assert t["minors_passed"]["25"]["rate"] == pytest.approx(0.25) and t["minors_passed"]["25"]["n"] == 4
    assert t["minors_passed"]["21"]["rate"] == pytest.approx(0.5)
    assert t["adults_referred"]["25"]["rate"] == pytest.approx(0.5)     # 30 read 24, 40 read 41
    assert t["children_read_adult"]["rate"] == pytest.approx(1.0)       # the one child, read 19
    assert t["young_adults_passed"]["25"]["rate"] == pytest.approx(1.0)
    assert t["signed_error"]["10-19"]["mean"] == pytest.approx(np.mean([12, 7, -1, -1, 8]))
    groups = grouped_minors_passed(pred, true, {"female": np.array([1, 1, 0, 0, 1, 1, 1, 1], bool)})
    assert groups["female"]["n"] == 2 and groups["female"]["small"] and groups["female"]["25"]["rate"] == 0.5


def test_age_bin_table_reads_fairface_bins():
    lo = np.array([10, 10, 10, 3, 3, 20])
    hi = np.array([19, 19, 19, 9, 9, 29])
    pred = np.array([26, 22, 14, 19, 5, 30])
    t = age_bin_table(pred, lo, hi)
    assert t["bin_10_19_passed"]["25"]["rate"] == pytest.approx(1 / 3)
    assert t["bin_10_19_passed"]["21"]["rate"] == pytest.approx(2 / 3)
    assert t["bin_3_9_read_adult"]["rate"] == pytest.approx(0.5)


def _synthetic_val(n=3000, true_temperature=2.0, seed=0):
    """Ages drawn 5..70; each face's predicted distribution is a too-sharp Gaussian at a noisy estimate, so a
    temperature above 1 calibrates it."""
    from edge.age_gate import tempered

    rng = np.random.default_rng(seed)
    true = rng.uniform(5, 70, n)
    est = true + rng.normal(0, 4, n)
    ages = np.arange(101)
    sharp = np.exp(-0.5 * ((ages[None, :] - est[:, None]) / (4 / np.sqrt(true_temperature))) ** 2)
    dist = tempered(sharp / sharp.sum(1, keepdims=True), 1.0)
    return dist, est, true


def test_temperature_fit_flattens_an_overconfident_model():
    dist, _, true = _synthetic_val()
    t = fit_temperature(dist, true < 18, 18)
    assert 1.4 < t < 3.0
    with pytest.raises(Exception):
        fit_temperature(dist[true > 30], (true < 18)[true > 30], 18)


def test_risk_is_the_largest_that_passes_at_most_the_allowed_share_of_minors():
    rng = np.random.default_rng(1)
    p = rng.uniform(0, 0.3, 500)
    age = np.full(500, 30.0)
    a = choose_risk(p, age, 25, max_pass=0.02)
    assert passed(p, age, 25, a).mean() <= 0.02
    assert passed(p, age, 25, a * 1.2).mean() > 0.02 - 1e-9


def test_fit_gate_pools_exact_minors_and_the_10_19_bin():
    dist, est, true = _synthetic_val()
    lo, hi, exact = true.round(), true.round(), np.ones(len(true), bool)
    fit = fit_gate(dist, est, lo, hi, exact)
    assert set(fit.risk) == {"18", "21", "25"} and all(0 < a <= 0.2 for a in fit.risk.values())
    assert fit.val["pooled_minors_passed"]["25"] <= 0.02
    assert fit.val["ece"] <= fit.val["ece_untempered"] + 1e-9
    block = fit.as_contract_block("synthetic val")
    assert block["fitted_on"] == "synthetic val" and block["temperature"] == pytest.approx(fit.temperature, abs=1e-4)
    minor, known = known_minor(np.array([16, 10, 3, 20]), np.array([16, 19, 9, 29]), np.array([1, 0, 0, 0], bool), 18)
    assert known.tolist() == [True, False, True, True] and minor.tolist()[:1] == [True]
    curve = tradeoff_curve(np.clip(dist[:, :18].sum(1), 0, 1), est, true, 25)
    assert curve[0]["minors_passed"] <= curve[-1]["minors_passed"]
    assert curve[0]["adults_referred"] >= curve[-1]["adults_referred"]


def test_training_prior_mixes_sources_and_spreads_bins():
    prior = training_age_prior([np.array([20.0, 20.0]), np.array([70.0])], [np.array([20.0, 20.0]), np.array([100.0])],
                               [np.array([True, True]), np.array([False])], shares=[1, 1])
    assert prior.sum() == pytest.approx(1.0) and prior[20] == pytest.approx(0.5)
    assert prior[70] == pytest.approx(0.5 / 21) and prior[95] == 0      # 70+ spread over 70..90


def test_prior_correction_reads_the_old_less_young():
    from edge.contract import ModelContract
    from edge.vision.decode import correct_age_prior

    ages = np.arange(101)
    prior = np.exp(-0.5 * ((ages - 30) / 12) ** 2)
    prior /= prior.sum()
    d = np.exp(-0.5 * ((ages - 70) / 6) ** 2)
    out = {"age_dist": (d / d.sum())[None, :].astype(np.float32), "age": np.array([[70.0]], np.float32)}
    c = ModelContract()
    assert correct_age_prior(out, c) is out
    c.age_prior = {"tau": 0.5, "prior": prior.tolist()}
    fixed = correct_age_prior(out, c)
    assert fixed["age"][0, 0] > 71 and fixed["age_dist"].sum() == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("model", ["default-fp16", "default"])
def test_predict_crops_json_carries_the_gate_on_every_face(model, tmp_path):
    import shutil

    shipped = ROOT / "models" / "agegender_int8.tflite"
    if not shipped.is_file():
        pytest.skip("no shipped model")
    chips = tmp_path / "chips"
    chips.mkdir()
    for i, name in enumerate(["astronaut.jpg"] * 3):
        shutil.copy(ROOT / "edge" / "assets" / "demo" / name, chips / f"{i}.jpg")
    r = run_cli("predict", str(chips), "--crops", "--json", "--age-gate", "25", "--model", model)
    assert r.returncode == 0, r.stderr
    recs = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(recs) == 3
    for rec in recs:
        (face,) = rec["faces"]
        assert face["gate"] in ("adult", "ask_id") and 0 <= face["p_minor"] <= 1 and face["gate_reason"]


def test_run_demo_json_carries_the_gate_on_every_face():
    if not (ROOT / "models" / "agegender_int8.tflite").is_file():
        pytest.skip("no shipped model")
    r = run_cli("run", "demo", "--json", "--age-gate", "25", "--max-frames", "45", "--detect-every", "1")
    assert r.returncode == 0, r.stderr
    frames = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    faces = [f for fr in frames for f in fr["faces"]]
    assert faces and all(f["gate"] in ("adult", "ask_id") and "gate_final" in f for f in faces)
    finals = {}
    for f in faces:
        if f["gate_final"]:
            finals.setdefault(f["track_id"], set()).add(f["gate"])
    assert finals and all(len(v) == 1 for v in finals.values())    # one decision per person


def test_gate_options_are_refused_in_one_line():
    r = run_cli("predict", str(ROOT / "edge" / "assets" / "demo" / "astronaut.jpg"), "--age-gate", "25",
                "--legal-age", "30")
    assert r.returncode != 0 and "legal age 30" in r.stderr and "Traceback" not in r.stderr


def test_calibrate_writes_the_gate_and_the_prior_into_the_files_contract(tiny_exports, synthetic_utk, tmp_path):
    import shutil

    from edge.contract import load_contract_beside

    src = tiny_exports["tflite-fp16"].path
    model = tmp_path / src.name
    shutil.copy(src, model)
    shutil.copy(src.with_name(src.name + ".json"), model.with_name(model.name + ".json"))
    r = run_cli("calibrate", str(model), "--data", str(synthetic_utk), "--prior-tau", "0.25")
    assert r.returncode == 0, r.stderr
    contract = load_contract_beside(model)
    check = contract.age_check
    assert check["legal_age"] == 18 and check["temperature"] > 0 and set(check["risk"]) == {"18", "21", "25"}
    assert check["fitted_on"].endswith("val") and contract.age_prior["tau"] == 0.25
    assert len(contract.age_prior["prior"]) == contract.age_max + 1
    gated = run_cli("predict", str(synthetic_utk / "UTKFace"), "--crops", "--json", "--model", str(model),
                    "--age-gate", "21")
    assert gated.returncode == 0 and "no age-check calibration" not in gated.stderr
    assert all('"gate"' in line for line in gated.stdout.splitlines())


def test_calibrate_chooses_the_prior_tau_on_val_and_writes_its_table(tiny_exports, synthetic_utk, tmp_path):
    import shutil

    from edge.contract import load_contract_beside
    from train.prior_choice import TAUS

    src = tiny_exports["tflite-fp16"].path
    model = tmp_path / src.name
    shutil.copy(src, model)
    shutil.copy(src.with_name(src.name + ".json"), model.with_name(model.name + ".json"))
    report = tmp_path / "tau.md"
    r = run_cli("calibrate", str(model), "--data", str(synthetic_utk), "--prior-tau", "auto",
                "--prior-report", str(report))
    assert r.returncode == 0, r.stderr
    contract = load_contract_beside(model)
    tau = json.loads(r.stdout)["age_prior_tau"]
    assert tau in TAUS and contract.age_prior.get("tau", 0.0) == tau
    if tau > 0:
        assert contract.age_prior["chosen_on"].endswith("val")
    text = report.read_text()
    assert all(f"`tau_{t:.2f}`" in text for t in TAUS) and f"Chosen: **tau {tau:.2f}**" in text
    bad = run_cli("calibrate", str(model), "--data", str(synthetic_utk), "--prior-tau", "strong")
    assert bad.returncode != 0 and "--prior-tau strong" in bad.stderr and "Traceback" not in bad.stderr


def _tau_row(tau, mae, old_end):
    from train.prior_choice import TauRow

    return TauRow(tau, {"age": {"mae": mae},
                        "age_verification": {"exact": {"signed_error": {"60+": {"mean": old_end, "n": 200}}}}})


def test_choose_tau_takes_the_old_end_closest_to_zero_within_the_mae_budget():
    from train.prior_choice import choose_tau, tau_table

    rows = [_tau_row(0.0, 4.40, -4.0), _tau_row(0.1, 4.42, -2.5), _tau_row(0.2, 4.44, -1.0),
            _tau_row(0.25, 4.50, -0.2)]
    assert choose_tau(rows, 0.05).tau == 0.2          # 0.25 is closer to zero but costs 0.10 y of MAE
    assert choose_tau(rows, 0.2).tau == 0.25
    assert choose_tau(rows, 0.0).tau == 0.0
    overshoot = [_tau_row(0.0, 4.40, -1.0), _tau_row(0.1, 4.41, +1.0)]
    assert choose_tau(overshoot, 0.05).tau == 0.0     # a tie goes to the smaller tau
    assert choose_tau([_tau_row(0.0, None, None), _tau_row(0.1, None, None)]).tau == 0.0
    table = tau_table(rows, rows[2], 0.05)
    assert "| `tau_0.20` | tau 0.20 (**chosen**) |" in table and "samples/s" not in table
    assert "-1.00 (+3.00)" in table and "Chosen: **tau 0.20**" in table


def _bin_row(tau, bin_acc, old_below, old_above=0.0):
    from train.prior_choice import TauRow

    cells = {"60-69": {"all": {"n": 120, "above": old_above, "below": old_below}},
             "70+": {"all": {"n": 40, "above": 0.0, "below": old_below}}}
    return TauRow(tau, ff={"age_bins": {"bin_accuracy": bin_acc, "direction_by_bin_race": {"cells": cells}}})


def test_choose_tau_on_age_bins_alone_balances_the_old_bins_within_the_accuracy_budget():
    """The FairFace-only model is never scored on UTKFace: tau is chosen on FairFace's 60-69 and 70+ bins."""
    from train.prior_choice import choose_tau, old_bins_balance, tau_table

    rows = [_bin_row(0.0, 0.560, 0.55), _bin_row(0.1, 0.559, 0.40), _bin_row(0.2, 0.557, 0.20),
            _bin_row(0.3, 0.548, 0.02)]
    assert old_bins_balance(rows[1].ff) == pytest.approx(-40.0)
    assert old_bins_balance(_bin_row(0.0, 0.5, 0.10, 0.30).ff) == pytest.approx((120 * 20 - 40 * 10) / 160)
    assert choose_tau(rows, max_bin_cost=0.005).tau == 0.2   # 0.3 balances best but costs 1.2 pp of bin accuracy
    assert choose_tau(rows, max_bin_cost=0.02).tau == 0.3
    assert choose_tau(rows, max_bin_cost=0.0).tau == 0.0
    table = tau_table(rows, rows[2], max_bin_cost=0.005)
    assert "FF 60+ bins: % above − % below" in table and "UTK MAE" not in table
    assert "-20.00 (+35.00)" in table and "at most 0.5 pp below tau 0" in table and "Chosen: **tau 0.20**" in table
    no_old = _bin_row(0.0, 0.56, 0.5)
    no_old.ff["age_bins"]["direction_by_bin_race"]["cells"] = {}
    assert no_old.old_bins() is None and old_bins_balance({}) is None
    assert choose_tau([no_old, _bin_row(0.1, 0.56, 0.1)]).tau == 0.0   # nothing aged 60+: tau stays 0


def test_recipe_table_ends_series_and_age_check_cross_report(tmp_path):
    from train.cross_report import CrossRow, age_check_table
    from train.recipe_table import SERIES, RecipeRun, markdown_table

    rate = lambda r, n: {"rate": r, "n": n, "lo": max(r - 0.05, 0), "hi": r + 0.05}  # noqa: E731
    utk = {"age": {"mae": 4.9}, "gender": {"accuracy": 0.94},
           "age_verification": {"exact": {"minors_passed": {"25": rate(0.10, 81), "21": rate(0.3, 81)},
                                          "adults_referred": {"25": rate(0.07, 1600)},
                                          "young_adults_passed": {"25": rate(0.3, 67)},
                                          "children_read_adult": rate(0.05, 176),
                                          "signed_error": {"10-19": {"mean": 2.4, "n": 148},
                                                           "60+": {"mean": -5.0, "n": 260}}}}}
    ff = {"age_bins": {"bin_accuracy": 0.52}, "race": {"accuracy": 0.66},
          "age_verification": {"bins": {"bin_10_19_passed": {"25": rate(0.2, 431), "21": rate(0.44, 431)},
                                        "bin_3_9_read_adult": rate(0.09, 485)}}}
    better = json.loads(json.dumps(utk))
    better["age_verification"]["exact"]["minors_passed"]["25"]["rate"] = 0.04
    table = markdown_table([RecipeRun("baseline", utk, ff), RecipeRun("threshold_loss", better, ff)], SERIES["ends"])
    assert "| `threshold_loss` |" in table and "4.0% (**-6.0 pp**)" in table and "+2.44" not in table
    assert "+2.40" in table and "20.2%" not in table and "20.0%" in table
    card = age_check_table([CrossRow("`x_int8.tflite`", utk, ff)])
    assert "10.0% [5.0–15.0]" in card and "UTKFace faces aged 13–17: 81" in card
