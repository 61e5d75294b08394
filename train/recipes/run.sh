#!/usr/bin/env bash
# The controlled recipe runs behind models/RECIPES.md, one after another, each alone on the CPU.
# Every run sees the same sample budget: 1 frozen + 6 fine-tuning epochs of 335 steps x 64
# = 150,080 samples, on UTKFace train + FairFace train (mix 1,1), and is then scored with
# `agegender evaluate` on UTKFace val and FairFace val (never on test: test is for the shipped model).
#
#   train/recipes/run.sh [NAME ...]      (default: every recipe below, in order)
#
# The series on the ends of the age scale (models/RECIPES.md, second table):
#   RECIPE_SCORES=models/recipes_ends RECIPE_RUNS=~/.cache/agegender/runs/recipes_ends \
#     train/recipes/run.sh baseline baseline_seed2 age_sigma young_weight threshold_loss finetune_all_128
#
# Runs live in $RECIPE_RUNS (default ~/.cache/agegender/runs/recipes) so a run that is cut off resumes.
# Scores go to models/recipes/NAME/{utkface_val,fairface_val}/metrics.json.
set -uo pipefail
cd "$(dirname "$0")/../.."
source train/recipes/paths.sh
BASE=(--data "$UTK" --data "$FF" --source-mix 1,1 --lr 8e-4
      --backbone-weights "$SHARED/models/backbone/mobilenet_v2_1.0_imagenet_from_torchvision_no_top.h5"
      --frozen-epochs 1 --epochs 6 --steps-per-epoch 335)

declare -A RECIPE=(
  [baseline]=""
  [size112]="--input-size 112"
  [size128]="--input-size 128"
  [balance_age]="--balance age"
  [balance_age_race7]="--balance age+race7"
  [finetune_all]="--freeze-until="
  [freeze_block5]="--freeze-until block_5_add"
  [mean_variance]="--age-loss mean-variance"
  [ema]="--ema 0.999"
  [mixup]="--mixup 0.2"
  [baseline_seed2]="--seed 7"
  # the ends of the age scale (#25): scored into models/recipes_ends (RECIPE_SCORES) against a fresh baseline
  [age_sigma]="--age-sigma 1.0,0.08,18"
  [young_weight]="--age-weight 5-25:2"
  [threshold_loss]="--threshold-loss 1"
  [finetune_all_128]="--freeze-until= --input-size 128"
)
ORDER=(baseline size112 balance_age balance_age_race7 freeze_block5 finetune_all mean_variance ema mixup size128)
[ $# -gt 0 ] && ORDER=("$@")

failed=()
for name in "${ORDER[@]}"; do
  [ -n "${RECIPE[$name]+x}" ] || { echo "unknown recipe: $name" >&2; exit 2; }
  out=$RUNS/$name
  scores=${RECIPE_SCORES:-models/recipes}/$name
  if [ -f "$scores/fairface_val/metrics.json" ]; then echo "== $name: scored already"; continue; fi
  echo "== $name: $(date -u +%H:%M:%S)"
  if [ -f "$out/state.json" ]; then
    $AG -q train --out "$out" --resume || { failed+=("$name"); continue; }
  else
    # shellcheck disable=SC2086
    $AG -q train "${BASE[@]}" ${RECIPE[$name]} --out "$out" || { failed+=("$name"); continue; }
  fi
  mkdir -p "$scores"
  cp "$out/history.csv" "$scores/"
  # the run's settings with this machine's paths written portably (../shared/..., ~/...)
  sed -e "s#$(cd "$SHARED" && pwd)/#../shared/#g" -e "s#\"$HOME/#\"~/#g" "$out/config.json" > "$scores/config.json"
  $AG -q evaluate "$out/best.keras" --data "$UTK" --split val --out "$scores/utkface_val" > /dev/null &&
    $AG -q evaluate "$out/best.keras" --data "$FF" --split val --out "$scores/fairface_val" > /dev/null ||
    { failed+=("$name"); continue; }
  echo "== $name: done $(date -u +%H:%M:%S)"
done
# a failed recipe does not stop the others; the exit status says whether any failed
[ ${#failed[@]} -eq 0 ] || { echo "failed: ${failed[*]}" >&2; exit 1; }
