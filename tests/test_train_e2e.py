"""`agegender train` on a tiny subset end to end, resume from a checkpoint, and `evaluate` reports."""
import json

import numpy as np
import pytest

from conftest import ROOT, needs_tf, run_cli

pytestmark = needs_tf


def agegender(*args, env_extra=None):
    return run_cli(*args, timeout=900, env_extra=env_extra)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory, synthetic_utk):
    out = tmp_path_factory.mktemp("run") / "r"
    args = ["-q", "train", "--data", str(synthetic_utk), "--out", str(out), "--backbone-weights", "none",
            "--input-size", "64", "--alpha", "0.35", "--frozen-epochs", "1", "--epochs", "1", "--steps-per-epoch", "3",
            "--batch-size", "16", "--max-val", "32", "--cache-dir", str(out.parent / "cache"), "--freeze-until", ""]
    r = agegender(*args)
    assert r.returncode == 0, r.stderr[-2000:]
    return out, args


def test_training_writes_run_artefacts(trained_run):
    out, _ = trained_run
    for name in ("best.keras", "best.keras.json", "config.json", "state.json", "history.csv", "contract.json",
                 "checkpoints/last.weights.h5", "checkpoints/optimizer.npz"):
        assert (out / name).is_file(), name
    state = json.loads((out / "state.json").read_text())
    assert state["phase"] == "finetune" and state["epoch"] == 1 and state["best_score"] is not None
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["input_size"] == 64 and cfg["seed"] == 2026
    provenance = json.loads((out / "best.keras.json").read_text())["provenance"]
    assert provenance["best_epoch"] == state["best_epoch"] and "val_score" in provenance["val"]
    history = (out / "history.csv").read_text().splitlines()
    assert len(history) == 3   # header + frozen + fine-tune epoch
    column = history[0].split(",").index("samples_per_s")
    assert all(float(line.split(",")[column]) > 0 for line in history[1:])
    assert state["first_samples_per_s_frozen"] > 0 and state["first_samples_per_s_finetune"] > 0


def test_resume_continues_from_the_checkpoint(trained_run):
    out, _ = trained_run
    cfg = json.loads((out / "config.json").read_text())
    cfg["epochs"] = 2
    (out / "config.json").write_text(json.dumps(cfg))
    r = agegender("train", "--out", str(out), "--resume")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "epochs 2..2 of 2" in r.stderr
    assert json.loads((out / "state.json").read_text())["epoch"] == 2
    assert len((out / "history.csv").read_text().splitlines()) == 4


def test_recipe_options_train_and_resume_with_the_weight_average(trained_run, tmp_path):
    """--age-loss mean-variance, --ema and --mixup together: the average is checkpointed and resumed."""
    _, args = trained_run
    out = tmp_path / "recipe"
    argv = [a if a != str(trained_run[0]) else str(out) for a in args]
    r = agegender(*argv, "--age-loss", "mean-variance", "--ema", "0.99", "--mixup", "0.2")
    assert r.returncode == 0, r.stderr[-2000:]
    cfg = json.loads((out / "config.json").read_text())
    assert (cfg["age"]["kind"], cfg["ema_decay"], cfg["mixup"]) == ("mean-variance", 0.99, 0.2)
    saved = np.load(out / "checkpoints" / "ema.npz")
    assert int(saved["updates"]) == 0        # 3 steps per epoch, one update every 4 steps: none yet
    cfg["epochs"] = 2
    cfg["steps_per_epoch"] = 8
    (out / "config.json").write_text(json.dumps(cfg))
    r = agegender("train", "--out", str(out), "--resume")
    assert r.returncode == 0, r.stderr[-2000:]
    assert int(np.load(out / "checkpoints" / "ema.npz")["updates"]) == 2
    assert (out / "best.keras").is_file()


def test_consistency_fine_tune_starts_from_a_trained_model(trained_run, tmp_path):
    """--init-model with --consistency: the run starts from the trained weights (its first validation is the
    trained model's, not a fresh network's) and trains on face/twin pairs; a wrong input size is one error."""
    import keras

    trained, args = trained_run
    out = tmp_path / "tune"
    argv = [a if a != str(trained) else str(out) for a in args]
    argv[argv.index("--frozen-epochs") + 1] = "0"
    r = agegender(*argv, "--init-model", str(trained / "best.keras"), "--consistency", "0.2", "--lr", "1e-6")
    assert r.returncode == 0, r.stderr[-2000:]
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["consistency"] == 0.2 and cfg["init_model"].endswith("best.keras")
    before = keras.models.load_model(trained / "best.keras", compile=False).get_layer("gender").get_weights()[0]
    after = keras.models.load_model(out / "best.keras", compile=False).get_layer("gender").get_weights()[0]
    assert np.abs(after - before).max() < 1e-3          # 3 steps at lr 1e-6: still the trained model
    wrong = [a if a != "64" else "96" for a in argv]
    wrong[wrong.index(str(out))] = str(tmp_path / "wrong")
    r = agegender(*wrong, "--init-model", str(trained / "best.keras"))
    assert r.returncode == 2 and "input 64 px" in r.stderr


def test_a_second_run_into_the_same_folder_is_refused(trained_run):
    out, args = trained_run
    r = agegender(*args)
    assert r.returncode == 2 and "already holds a run" in r.stderr


def test_evaluate_writes_the_report(trained_run, synthetic_utk, tmp_path):
    out, _ = trained_run
    r = agegender("evaluate", str(out / "best.keras"), "--data", str(synthetic_utk), "--split", "test",
                  "--out", str(tmp_path), "--history", str(out / "history.csv"), "--flip-tta")
    assert r.returncode == 0, r.stderr[-2000:]
    summary = json.loads(r.stdout)
    assert summary["n"] == 112 and 0 <= summary["gender_acc"] <= 1 and summary["age_mae"] > 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert {"age", "gender", "race", "subgroups"} <= set(metrics)
    report = (tmp_path / "report.md").read_text()
    assert "## Fairness" in report and "CS@5" in report
    for png in ("race_confusion.png", "gender_reliability.png", "age_error_by_age.png", "training_curves.png"):
        assert (tmp_path / png).stat().st_size > 1000


def test_evaluate_with_an_age_gate_reports_the_challenge_tables_and_plots(trained_run, synthetic_utk, tmp_path):
    out, _ = trained_run
    r = agegender("evaluate", str(out / "best.keras"), "--data", str(synthetic_utk), "--split", "test",
                  "--age-gate", "25", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr[-2000:]
    summary = json.loads(r.stdout)
    assert {"minors_passed_25", "adults_referred_25"} <= set(summary["age_verification"])
    assert summary["age_gate"]["settings"]["challenge_age"] == 25 and "minors_passed" in summary["age_gate"]
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["age_gate"]["tradeoff"] and "exact" in metrics["age_verification"]
    report = (tmp_path / "report.md").read_text()
    assert "## Age verification (Challenge-T)" in report and "## Age check" in report
    assert (tmp_path / "age_check_tradeoff.png").stat().st_size > 1000


def test_evaluate_without_matplotlib_writes_tables_and_says_so_in_one_line(trained_run, synthetic_utk, tmp_path):
    """A device install has no matplotlib: the report comes without plots, with one line saying why."""
    out, _ = trained_run
    blocker = tmp_path / "block"
    blocker.mkdir()
    (blocker / "matplotlib.py").write_text("raise ImportError('matplotlib is not installed (test)')\n")
    r = agegender("evaluate", str(out / "best.keras"), "--data", str(synthetic_utk), "--split", "test",
                  "--out", str(tmp_path / "report"), env_extra={"PYTHONPATH": f"{blocker}:{ROOT}"})
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert "no plots: matplotlib is not installed" in r.stderr
    assert (tmp_path / "report" / "report.md").is_file() and not list((tmp_path / "report").glob("*.png"))


def test_metrics_on_a_fairface_style_fixture():
    from edge.contract import ModelContract
    from train.evaluate import compute_metrics
    from train.sources import LabeledFaces

    faces = LabeledFaces(paths=["a", "b", "c", "d"], age_lo=np.array([20, 30, 0, 70], np.float32),
                         age_hi=np.array([29, 39, 2, 100], np.float32), has_exact_age=np.zeros(4, bool),
                         has_age_interval=np.ones(4, bool), gender=np.array([0, 1, 1, 0], np.int8),
                         has_gender=np.ones(4, bool), race=np.array([0, 1, 2, 4], np.int8), has_race=np.ones(4, bool),
                         race7=["White", "Black", "East Asian", "Middle Eastern"], source="fairface")
    out = {"age": np.array([[25.0], [41.0], [1.0], [65.0]]), "gender": np.array([[0.1], [0.8], [0.3], [0.2]]),
           "race": np.eye(5)[[0, 1, 2, 3]]}
    m = compute_metrics(out, faces, ModelContract())
    assert m["age_bins"]["bin_accuracy"] == pytest.approx(0.5)      # 25 in 20-29, 1 in 0-2
    assert m["age_bins"]["bin_one_off"] == pytest.approx(1.0)       # 41 next to 30-39, 65 next to 70+
    assert m["gender"]["accuracy"] == pytest.approx(0.75)
    assert m["race"]["accuracy"] == pytest.approx(0.75)
    by7 = m["race"]["by_race7"]["groups"]
    assert list(by7) == ["Black", "East Asian", "Middle Eastern", "White"]
    assert by7["Middle Eastern"]["accuracy"] == 0.0 and by7["Middle Eastern"]["predicted"]["Indian"] == 1.0
    assert by7["White"]["accuracy"] == 1.0 and by7["White"]["predicted"]["White"] == 1.0
    assert m["race"]["by_race7"]["accuracy_gap"] is None              # every group under 20 faces
    from train.metrics import race7_metrics

    assert race7_metrics(out["race"], faces.race.astype(np.int64), faces.race7, ModelContract().race_labels,
                         min_faces=1)["accuracy_gap"] == 1.0
    assert "age" not in m and "gap_over_race7_adults" not in m["gender"]   # groups under 20 faces
    from train.evaluate import _adult_gender_gap_over_race7

    groups = {"race7:A": np.array([1, 1, 0, 0], bool), "race7:B": np.array([0, 0, 1, 1], bool),
              "race:A": np.ones(4, bool)}
    gap = _adult_gender_gap_over_race7(groups, adult=np.array([1, 0, 1, 1], bool), hit=np.array([1, 0, 0, 1], bool),
                                       labelled=np.ones(4, bool), min_faces=1)
    assert gap == pytest.approx(0.5)          # A's adult is right (1.0), B's adults half right (0.5); the child is out
    from train.report import _race7_table

    table = "\n".join(_race7_table(m["race"]["by_race7"]))
    assert "| Middle Eastern | 1 | 0.0% | 0.0% | 0.0% | 0.0% | 100.0% | 0.0% |" in table


def test_roc_auc_and_ece():
    from train.metrics import calibration, roc_auc

    assert roc_auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])) == pytest.approx(0.75)
    assert calibration(np.array([0.9, 0.9, 0.1, 0.1]), np.array([1, 1, 0, 0.0]))["ece"] == pytest.approx(0.1)
