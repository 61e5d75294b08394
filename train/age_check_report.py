"""The age-verification sections of an evaluation report: the Challenge-T table, the age check's rates, its
trade-off curve and the reliability of P(minor), and the quality study (Markdown and PNG plots)."""
from __future__ import annotations

from pathlib import Path

from train.age_verification import rate_text


def challenge_markdown(av: dict) -> list[str]:
    """The Challenge-T table of one evaluation (``metrics["age_verification"]``)."""
    lines = ["## Age verification (Challenge-T)", "",
             "Rates with 95% bootstrap intervals and face counts; ⚠ marks n under 30. A Challenge-T policy asks "
             "for ID from anyone who looks under T: a minor estimated at T or older would be waved through.", ""]
    ex = av.get("exact")
    if ex:
        ts = list(ex["minors_passed"])
        lines += ["| measure | " + " | ".join(f"T = {t}" for t in ts) + " |", "|---|" + "---|" * len(ts)]
        lines.append("| 13–17 estimated ≥ T (false positive) | "
                     + " | ".join(rate_text(ex["minors_passed"][t]) for t in ts) + " |")
        lines.append("| adults ≥ T estimated under T (referred) | "
                     + " | ".join(rate_text(ex["adults_referred"][t]) for t in ts) + " |")
        lines.append(f"| {ex['legal_age']}–20 estimated ≥ T | "
                     + " | ".join(rate_text(ex["young_adults_passed"][t]) for t in ts) + " |")
        lines += ["", f"Children 3–12 estimated ≥ {ex['legal_age']}: {rate_text(ex['children_read_adult'])}."]
        if "confident_minors_missed" in ex:
            lines.append(f"13–17s given P(age < {ex['legal_age']}) under 2%: {rate_text(ex['confident_minors_missed'])}.")
        se = ex.get("signed_error", {})
        if se:
            lines.append("Mean signed error (estimate − true): " + ", ".join(
                f"{band} {v['mean']:+.2f} y (n {v['n']})" for band, v in se.items()) + ".")
        groups = ex.get("groups", {})
        if groups:
            lines += ["", "| 13–17 by group | n | " + " | ".join(f"estimated ≥ {t}" for t in ts) + " |",
                      "|---|---|" + "---|" * len(ts)]
            for name, g in groups.items():
                lines.append(f"| {name} | {g['n']}{' ⚠' if g['small'] else ''} | "
                             + " | ".join(rate_text(g[t]) for t in ts) + " |")
        lines.append("")
    bins = av.get("bins")
    if bins:
        lines += ["| age bins | " + " | ".join(f"≥ {t}" for t in bins["bin_10_19_passed"]) + " |",
                  "|---|" + "---|" * len(bins["bin_10_19_passed"]),
                  "| 10–19 bin estimated | " + " | ".join(rate_text(r) for r in bins["bin_10_19_passed"].values()) + " |",
                  "", f"3–9 bin estimated ≥ 18: {rate_text(bins['bin_3_9_read_adult'])}.", ""]
    return lines


def gate_markdown(g: dict, plots: list[str]) -> list[str]:
    """``evaluate --age-gate T``: the gate's rates at its settings."""
    s = g["settings"]
    lines = ["## Age check", "",
             f"Rule: 'adult' only if the estimate is ≥ {s['challenge_age']:g} and P(age < {s['legal_age']}) < "
             f"{s['risk']:.4g} (temperature {s['temperature']:.3g}, "
             f"{'calibrated' if s['calibrated'] else 'NOT calibrated: conservative defaults'}).",
             ""]
    ex = g.get("exact")
    if ex:
        lines += ["| measure | rate |", "|---|---|",
                  f"| 13–17 judged adult | {rate_text(ex['minors_passed'])} |",
                  f"| children 3–12 judged adult | {rate_text(ex['children_passed'])} |",
                  f"| adults ≥ {s['challenge_age']:g} asked for ID | {rate_text(ex['adults_referred'])} |",
                  f"| adults ≥ 25 asked for ID | {rate_text(ex['adults_25_referred'])} |"]
        if "bin_10_19_passed" in g:
            lines.append(f"| FairFace 10–19 bin judged adult | {rate_text(g['bin_10_19_passed'])} |")
        lines.append("")
        if ex.get("groups"):
            lines += ["| 13–17 judged adult, by group | rate |", "|---|---|"]
            lines += [f"| {name} | {rate_text(r)} |" for name, r in ex["groups"].items()]
            lines.append("")
    elif "bin_10_19_passed" in g:
        lines += [f"FairFace 10–19 bin judged adult: {rate_text(g['bin_10_19_passed'])}.", ""]
    if "reliability" in g:
        lines += [f"Reliability of P(minor): ECE {g['reliability']['ece']:.3f}.", ""]
    return lines + [f"![{p}]({p})" for p in plots] + ([""] if plots else [])


def quality_markdown(q: dict) -> list[str]:
    lines = ["## Age check against look quality", "",
             "Each face degraded as a camera would; the gate's rates per level (see docs/age-check.md).", "",
             "| face width (px) | MAE | 13–17 judged adult | adults asked for ID |", "|---|---|---|---|"]
    pct = lambda v: "–" if v is None else f"{100 * v:.1f}%"  # noqa: E731
    lines += [f"| {r['face_width']} | {r['mae']:.2f} | {pct(r['minors_passed'])} | {pct(r['adults_referred'])} |"
              for r in q["width"]]
    lines += ["", "| blur sigma (px) | sharpness p10 / p50 | MAE | 13–17 judged adult | adults asked for ID |",
              "|---|---|---|---|---|"]
    lines += [f"| {r['sigma']:g} | {r['sharpness_p10']:.0f} / {r['sharpness_p50']:.0f} | {r['mae']:.2f} | "
              f"{pct(r['minors_passed'])} | {pct(r['adults_referred'])} |" for r in q["blur"]]
    lines += ["", "| yaw proxy | faces | MAE | 13–17 judged adult | adults asked for ID |", "|---|---|---|---|---|"]
    def span(r: dict) -> str:
        return f"{r['yaw_from']:.2f}+" if r["yaw_to"] > 5 else f"{r['yaw_from']:.2f}–{r['yaw_to']:.2f}"

    lines += [f"| {span(r)} | {r['faces']} | {r['mae']:.2f} | {pct(r['minors_passed'])} | {pct(r['adults_referred'])} |"
              for r in q["yaw"]]
    return lines + [""]


def plot_gate(g: dict, out: Path, plt) -> list[str]:
    """The trade-off curve (minors passed against adults referred as alpha moves) and P(minor)'s reliability."""
    import numpy as np

    plots = []
    curve = [r for r in g.get("tradeoff", []) if r["minors_passed"] is not None and r["adults_referred"] is not None]
    if curve:
        fig, ax = plt.subplots(figsize=(5, 4))
        ax.plot([100 * r["adults_referred"] for r in curve], [100 * r["minors_passed"] for r in curve], "-", color="C0")
        s = g["settings"]
        ex = g["exact"]
        ax.plot([100 * ex["adults_referred"]["rate"]], [100 * ex["minors_passed"]["rate"]], "o", color="C3",
                label=f"alpha = {s['risk']:.3g}")
        ax.set_xlabel(f"adults ≥ {s['challenge_age']:g} asked for ID (%)")
        ax.set_ylabel("13–17 judged adult (%)")
        ax.set_title(f"Age check at T = {s['challenge_age']:g}: the trade-off as alpha moves")
        ax.grid(alpha=0.3); ax.legend()
        fig.tight_layout(); fig.savefig(out / "age_check_tradeoff.png", dpi=110); plt.close(fig)
        plots.append("age_check_tradeoff.png")
    rel = g.get("reliability")
    if rel:
        conf, freq = np.array(rel["bin_confidence"], float), np.array(rel["bin_frequency"], float)
        ok = ~np.isnan(conf)
        fig, ax = plt.subplots(figsize=(4, 4))
        ax.plot([0, 1], [0, 1], "--", color="grey", label="perfect")
        ax.plot(conf[ok], freq[ok], "o-", label=f"P(minor) (ECE {rel['ece']:.3f})")
        ax.set_xlabel("predicted P(minor)"); ax.set_ylabel("share that are minors"); ax.legend()
        fig.tight_layout(); fig.savefig(out / "p_minor_reliability.png", dpi=110); plt.close(fig)
        plots.append("p_minor_reliability.png")
    return plots
