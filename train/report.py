"""Evaluation report: report.md, metrics.json and PNG plots."""
from __future__ import annotations

import csv
import json
import logging
from pathlib import Path
from typing import Callable, Optional

import numpy as np

log = logging.getLogger(__name__)


def _pct(v: Optional[float]) -> str:
    return "—" if v is None or v != v else f"{100 * v:.1f}%"


def _num(v: Optional[float], digits: int = 2) -> str:
    return "—" if v is None or v != v else f"{v:.{digits}f}"


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _race7_table(r7: dict) -> list[str]:
    labels = r7["labels"]
    lines = ["### Over FairFace's 7 groups", "",
             "Accuracy against each group's label in the model's 5 classes, and where the group's faces go.", "",
             "| group | n | accuracy | " + " | ".join(f"→ {k}" for k in labels) + " |",
             "|---|---|---|" + "---|" * len(labels)]
    for name, g in r7["groups"].items():
        lines.append(f"| {name} | {g['n']} | {_pct(g['accuracy'])} | "
                     + " | ".join(_pct(g["predicted"][k]) for k in labels) + " |")
    if r7.get("accuracy_gap") is not None:
        lines += ["", f"Race-accuracy gap over the 7 groups: {100 * r7['accuracy_gap']:.1f} pp."]
    return lines + [""]


def plot_confusion(cm: list, labels: list, path: Path, title: str) -> None:
    plt = _plt()
    cm_arr = np.asarray(cm, np.float64)
    norm = cm_arr / np.maximum(cm_arr.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(1.0 + 0.7 * len(labels), 0.8 + 0.7 * len(labels)))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(j, i, f"{norm[i, j]:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if norm[i, j] > 0.5 else "black")
    ax.set_xlabel("predicted"); ax.set_ylabel("true"); ax.set_title(title)
    fig.tight_layout(); fig.savefig(path, dpi=110); plt.close(fig)


def plot_reliability(g: dict, path: Path) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4, 4))
    conf = np.array(g["bin_confidence"], np.float64)
    freq = np.array(g["bin_frequency"], np.float64)
    ok = ~np.isnan(conf)
    ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect")
    ax.plot(conf[ok], freq[ok], "o-", label=f"model (ECE {g['ece']:.3f})")
    ax.set_xlabel("predicted p(female)"); ax.set_ylabel("observed share female"); ax.legend()
    ax.set_title("Gender calibration")
    fig.tight_layout(); fig.savefig(path, dpi=110); plt.close(fig)


def plot_error_by_age(pred: np.ndarray, true: np.ndarray, path: Path) -> None:
    plt = _plt()
    bins = np.arange(0, 101, 5)
    idx = np.clip(np.digitize(true, bins) - 1, 0, len(bins) - 2)
    mae = [np.abs(pred - true)[idx == i].mean() if (idx == i).any() else np.nan for i in range(len(bins) - 1)]
    bias = [(pred - true)[idx == i].mean() if (idx == i).any() else np.nan for i in range(len(bins) - 1)]
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.bar(bins[:-1] + 2.5, mae, width=4, label="MAE")
    ax.plot(bins[:-1] + 2.5, bias, "o-", color="C3", label="bias (pred - true)")
    ax.axhline(0, color="grey", lw=0.5)
    ax.set_xlabel("true age"); ax.set_ylabel("years"); ax.legend(); ax.set_title("Age error by true age")
    fig.tight_layout(); fig.savefig(path, dpi=110); plt.close(fig)


def plot_history(history_csv: Path, path: Path) -> bool:
    if not history_csv.is_file():
        return False
    with history_csv.open() as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return False
    plt = _plt()
    keys = [("age_dist_mae", "age MAE (years)"), ("gender_acc", "gender accuracy"), ("race_acc", "race accuracy"),
            ("age_dist_bin_acc", "age-bin accuracy")]
    keys = [k for k in keys if k[0] in rows[0]]
    fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 3))
    x = np.arange(1, len(rows) + 1)
    for ax, (k, title) in zip(np.atleast_1d(axes), keys):
        ax.plot(x, [float(r[k]) for r in rows], label="train")
        if "val_" + k in rows[0]:
            ax.plot(x, [float(r["val_" + k]) for r in rows], label="val")
        ax.set_title(title); ax.set_xlabel("epoch"); ax.legend()
    fig.tight_layout(); fig.savefig(path, dpi=110); plt.close(fig)
    return True


def _cross_table(title: str, row_title: str, table: dict, cell: Callable[[str, dict], str]) -> list[str]:
    """A Markdown table with one row per key of ``table["cells"]`` and one column per ``table["columns"]``."""
    cols = table["columns"]
    lines = [title, "", f"| {row_title} | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for label, row in table["cells"].items():
        lines.append(f"| {label} | " + " | ".join(cell(c, row[c]) if c in row else "" for c in cols) + " |")
    return lines


def signed_error_markdown(table: dict) -> list[str]:
    """Mean signed age error per band x race; cells under the minimum count are in italics."""
    def cell(column: str, c: dict) -> str:
        text = f"{c['mean_signed']:+.1f} ({c['n']})"
        return text if column == "all" or c["n"] >= table["min_faces"] else f"*{text}*"

    lines = _cross_table("### Mean signed age error by age band and race (years; + reads too old)", "band", table, cell)
    worst = table.get("worst")
    lines += ["", f"Faces per cell in brackets; italics: under {table['min_faces']} faces."
              + (f" Largest |mean| over cells with at least {table['min_faces']} faces: {worst['mean_signed']:+.2f} y "
                 f"({worst['band']}, {worst['race']}, {worst['n']} faces)." if worst else ""), ""]
    return lines


def bin_direction_markdown(table: dict) -> list[str]:
    """Per true bin x group: % of faces read above / below their bin."""
    def cell(column: str, c: dict) -> str:
        return f"{100 * c['above']:.0f} / {100 * c['below']:.0f}" + (f" ({c['n']})" if column == "all" else "")

    lines = _cross_table("### Faces read above / below their age bin, by bin and race (% above / % below)", "bin",
                         table, cell)
    return lines + ["", "Faces per bin in brackets in the last column.", ""]


def stability_markdown(st: dict) -> list[str]:
    """One face's answer under ±1 grey level of noise and a 0.25 px alignment shift."""
    lines = ["## Stability of single faces", "",
             f"{st['n']} faces; the change of each face's answer against the clean crop.", "",
             "| perturbation | age change mean | p95 | max | p(female) change p95 | max |", "|---|---|---|---|---|---|"]
    for key, label in (("noise_1_grey_level", "±1 grey level noise"), ("shift_0_25_px", "0.25 px alignment shift")):
        c = st[key]
        lines.append(f"| {label} | {c['age_mean']:.2f} y | {c['age_p95']:.2f} y | {c['age_max']:.2f} y | "
                     f"{c['p_female_p95']:.3f} | {c['p_female_max']:.3f} |")
    return lines + [""]


def markdown(result, plots: list[str]) -> str:
    m = result.metrics
    lines = [f"# Evaluation: `{Path(result.model).name}`", "",
             f"Data: `{Path(result.data).name}`, split `{result.split}`, {m.get('n')} faces"
             f"{', flip TTA' if m.get('flip_tta') else ''}.", "",
             f"Reproduce: `agegender evaluate {Path(result.model).name} --data {Path(result.data).name} "
             f"--split {result.split} --out DIR`", ""]
    if "age" in m:
        a = m["age"]
        lines += ["## Age", "", "| MAE | median AE | CS@5 | bias | Adience exact | Adience one-off |", "|---|---|---|---|---|---|",
                  f"| {a['mae']:.2f} | {a['median_ae']:.2f} | {_pct(a['cs5'])} | {a['bias']:+.2f} | "
                  f"{_pct(a['adience_exact'])} | {_pct(a['adience_one_off'])} |", ""]
    if "age" in m and "bias_by_band_race" in m["age"]:
        lines += signed_error_markdown(m["age"]["bias_by_band_race"])
    if "age_bins" in m:
        b = m["age_bins"]
        lines += ["## Age bins (FairFace style)", "", "| bin accuracy | one-off |", "|---|---|",
                  f"| {_pct(b['bin_accuracy'])} | {_pct(b['bin_one_off'])} |", ""]
        if "direction_by_bin_race" in b:
            lines += bin_direction_markdown(b["direction_by_bin_race"])
    if "gender" in m:
        g = m["gender"]
        lines += ["## Gender", "", "| accuracy | F1 (female) | ROC-AUC | ECE |", "|---|---|---|---|",
                  f"| {_pct(g['accuracy'])} | {_num(g['f1_female'], 3)} | {_num(g['roc_auc'], 4)} | {_num(g['ece'], 3)} |", ""]
    if "race" in m:
        r = m["race"]
        lines += ["## Race", "", f"Accuracy {_pct(r['accuracy'])}.", "", "| class | F1 | recall |", "|---|---|---|"]
        lines += [f"| {k} | {r['f1'][k]:.3f} | {_pct(r['recall'][k])} |" for k in r["labels"]]
        lines.append("")
        if "by_race7" in r:
            lines += _race7_table(r["by_race7"])
    sg = m.get("subgroups")
    if sg:
        lines += ["## Fairness: per subgroup", "", "| subgroup | n | age MAE | gender accuracy |", "|---|---|---|---|"]
        for k, row in sg["rows"].items():
            lines.append(f"| {k} | {row['n']} | {_num(row.get('age_mae'))} | {_pct(row.get('gender_accuracy'))} |")
        lines += ["", "Worst-to-best gaps over all subgroups with at least 20 faces: " + ", ".join(
            f"{k} {v:.3f}" for k, v in sg["gaps"].items())]
        for k, what in (("gap_over_race", "race"), ("gap_over_race7", "race7"),
                        ("gap_over_race7_adults", "race7, faces aged 20 and up")):
            if k in m.get("gender", {}):
                lines.append(f"Gender-accuracy gap over {what}: {100 * m['gender'][k]:.1f} pp.")
        lines.append("")
    if "framing" in m:
        f = m["framing"]
        lines += ["## Runtime framing check", "",
                  f"Detector `{f['detector']}` found {f['detected']} of {f['n']} faces in chips padded by "
                  f"{int(100 * f['pad_ratio'])}% on each side.", "",
                  "| | direct chip | detect + align | Δ |", "|---|---|---|---|"]
        if "age_mae_direct" in f:
            lines.append(f"| age MAE | {f['age_mae_direct']:.3f} | {f['age_mae_pipeline']:.3f} | {f['age_mae_delta']:+.3f} |")
        if "gender_acc_direct" in f:
            lines.append(f"| gender accuracy | {_pct(f['gender_acc_direct'])} | {_pct(f['gender_acc_pipeline'])} | "
                         f"{f['gender_acc_delta_pp']:+.2f} pp |")
        lines.append("")
    if "stability" in m:
        lines += stability_markdown(m["stability"])
    if "age_verification" in m:
        from train.age_check_report import challenge_markdown

        lines += challenge_markdown(m["age_verification"])
    if "age_gate" in m:
        from train.age_check_report import gate_markdown

        lines += gate_markdown(m["age_gate"], [p for p in plots if p.startswith(("age_check", "p_minor"))])
    if "gate_quality" in m:
        from train.age_check_report import quality_markdown

        lines += quality_markdown(m["gate_quality"])
    plots = [p for p in plots if not p.startswith(("age_check", "p_minor"))]
    if plots:
        lines += ["## Plots", ""] + [f"![{p}]({p})" for p in plots] + [""]
    return "\n".join(lines)


def write_report(result, out: Path, history: Optional[str] = None) -> Path:
    """report.md and metrics.json, with PNG plots where matplotlib is installed (the train extra); a device
    install without it gets the tables and a one-line note."""
    out.mkdir(parents=True, exist_ok=True)
    m = result.metrics
    plots: list[str] = []
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        log.warning("no plots: matplotlib is not installed (pip install matplotlib, or the 'train' extra); "
                    "report.md and metrics.json are written without them")
        (out / "metrics.json").write_text(json.dumps(m, indent=2))
        path = out / "report.md"
        path.write_text(markdown(result, plots))
        return path
    if history and plot_history(Path(history), out / "training_curves.png"):
        plots.append("training_curves.png")
    if "race" in m:
        plot_confusion(m["race"]["confusion"], m["race"]["labels"], out / "race_confusion.png", "Race (row-normalised)")
        plots.append("race_confusion.png")
    if "age_bins" in m:
        plot_confusion(m["age_bins"]["confusion"], m["age_bins"]["bins"], out / "age_bin_confusion.png",
                       "Age bins (row-normalised)")
        plots.append("age_bin_confusion.png")
    if "gender" in m:
        plot_reliability(m["gender"], out / "gender_reliability.png")
        plots.append("gender_reliability.png")
    faces = result.faces
    if "age" in m and faces is not None and result.outputs:
        exact = faces.has_exact_age
        true = faces.true_age if faces.true_age is not None else faces.age_lo
        plot_error_by_age(result.outputs["age"].reshape(-1)[exact], np.asarray(true)[exact], out / "age_error_by_age.png")
        plots.append("age_error_by_age.png")
    if "age_gate" in m:
        from train.age_check_report import plot_gate

        plots += plot_gate(m["age_gate"], out, _plt())
    (out / "metrics.json").write_text(json.dumps(m, indent=2))
    path = out / "report.md"
    path.write_text(markdown(result, plots))
    return path
