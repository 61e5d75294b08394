#!/usr/bin/env bash
# What the recipe table adds after the training runs (train/recipes/run.sh), each step alone on the CPU:
#   - baseline_flip: the baseline model scored with horizontal-flip averaging (--flip-tta);
#   - the cost per face: each named run's best.keras exported to INT8 TFLite (400 calibration faces) and
#     timed with `agegender bench latency` at batch 1 and 2 on 2 threads (latency.json beside its scores).
#
#   train/recipes/costs.sh [NAME ...]      (default: baseline size112 size128)
set -uo pipefail
cd "$(dirname "$0")/../.."
SHARED=${AGEGENDER_SHARED:-../shared}
RUNS=${RECIPE_RUNS:-$HOME/.cache/agegender/runs/recipes}
SCORES=${RECIPE_SCORES:-models/recipes}
AG=${AGEGENDER:-agegender}
UTK=$SHARED/datasets/utkface
FF=$SHARED/datasets/fairface
NAMES=("$@")
[ ${#NAMES[@]} -gt 0 ] || NAMES=(baseline size112 size128)

if [ -f "$RUNS/baseline/best.keras" ] && [ ! -f "$SCORES/baseline_flip/fairface_val/metrics.json" ]; then
  mkdir -p "$SCORES/baseline_flip"
  cp "$RUNS/baseline/history.csv" "$RUNS/baseline/config.json" "$SCORES/baseline_flip/"
  $AG -q evaluate "$RUNS/baseline/best.keras" --data "$UTK" --split val --flip-tta --out "$SCORES/baseline_flip/utkface_val" > /dev/null || exit 1
  $AG -q evaluate "$RUNS/baseline/best.keras" --data "$FF" --split val --flip-tta --out "$SCORES/baseline_flip/fairface_val" > /dev/null || exit 1
fi
for name in "${NAMES[@]}"; do
  [ -f "$RUNS/$name/best.keras" ] || { echo "$name: not trained yet"; continue; }
  $AG -q export "$RUNS/$name/best.keras" --formats tflite-int8 --calib "$UTK" --out "$RUNS/$name/export" > /dev/null || exit 1
  $AG -q bench latency --models "$RUNS/$name/export/"*_int8.tflite --threads 2 --batches 1,2 --out "$SCORES/$name" || exit 1
  if [ "$name" = baseline ] && [ -d "$SCORES/baseline_flip" ]; then cp "$SCORES/baseline/latency.json" "$SCORES/baseline_flip/"; fi
done
