"""Compare two `agegender predict --json` outputs face by face (x86 against aarch64) against an agreement
bound: ``compare.py X86.jsonl ARM.jsonl --bound p95=1,max=4,flips=0.005``. Exit 1 when it is exceeded."""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def first_faces(path: str) -> dict[str, dict]:
    out = {}
    for line in Path(path).read_text().splitlines():
        rec = json.loads(line)
        if rec.get("faces"):
            out[Path(rec["path"]).name] = rec["faces"][0]
    return out


def main(argv=None) -> int:
    from export.verify import AgreementBound

    p = argparse.ArgumentParser()
    p.add_argument("reference")
    p.add_argument("candidate")
    p.add_argument("--bound", required=True)
    p.add_argument("--label", default="")
    args = p.parse_args(argv)
    ref, cand = first_faces(args.reference), first_faces(args.candidate)
    names = sorted(set(ref) & set(cand))
    if not names or len(names) < 0.95 * len(ref):
        print(f"{args.label}: only {len(names)} of {len(ref)} faces in both outputs")
        return 1
    diff = np.array([abs(ref[n]["age"] - cand[n]["age"]) for n in names])
    same = np.array([(ref[n]["p_female"] > 0.5) == (cand[n]["p_female"] > 0.5) for n in names])
    agree = {"age_abs_diff_p95": float(np.percentile(diff, 95)), "age_abs_diff_max": float(diff.max()),
             "same_gender_decision": float(same.mean())}
    why = AgreementBound.parse(args.bound).violations(agree)
    print(f"{args.label}: {len(names)} faces, |Δage| mean {diff.mean():.3f} / p95 {agree['age_abs_diff_p95']:.3f} / "
          f"max {agree['age_abs_diff_max']:.3f} y, gender flips {int((~same).sum())}"
          + ("" if not why else "  EXCEEDS: " + "; ".join(why)))
    return 1 if why else 0


if __name__ == "__main__":
    sys.exit(main())
