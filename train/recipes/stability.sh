#!/usr/bin/env bash
# The INT8 stability lever left open by the retraining issue: a short fine-tune of the shipped default model
# with each face beside its camera twin (sub-pixel shift, grey-level noise) and a consistency term, against the
# same fine-tune without the term (so that the extra training alone is not credited). Each run starts from
# models/agegender.keras and sees 3 epochs of 500 steps x 64 rows, alone on the CPU; then the INT8 TFLite
# export (float tail, 400 UTKFace calibration faces, as shipped) is scored on UTKFace val with the stability
# measure (300 faces) and on FairFace val. "shipped" scores the shipped files the same way, with no training.
#
#   train/recipes/stability.sh [NAME ...]     (default: shipped tune_plain tune_consistency1 tune_consistency4)
#
# Runs live in $RECIPE_RUNS (default ~/.cache/agegender/runs/recipes); scores in models/recipes/stability/NAME/.
set -uo pipefail
cd "$(dirname "$0")/../.."
source train/recipes/paths.sh
TUNE=(--data "$UTK" --data "$FF" --source-mix 1,1 --input-size 112 --init-model models/agegender.keras
      --backbone-weights none --frozen-epochs 0 --epochs 3 --steps-per-epoch 500 --lr 1e-4)

declare -A RECIPE=(
  [tune_plain]=""
  [tune_consistency1]="--consistency 1 --consistency-noise 2 --consistency-shift 0.5"
  [tune_consistency4]="--consistency 4 --consistency-noise 2 --consistency-shift 0.5"
)
ORDER=(shipped tune_plain tune_consistency1 tune_consistency4)
[ $# -gt 0 ] && ORDER=("$@")

failed=()
for name in "${ORDER[@]}"; do
  scores=${RECIPE_SCORES:-models/recipes}/stability/$name
  if [ -f "$scores/int8_fairface_val/metrics.json" ]; then echo "== $name: scored already"; continue; fi
  echo "== $name: $(date -u +%H:%M:%S)"
  mkdir -p "$scores"
  if [ "$name" = shipped ]; then
    keras=models/agegender.keras
    int8=models/agegender_int8.tflite
  else
    [ -n "${RECIPE[$name]+x}" ] || { echo "unknown recipe: $name" >&2; exit 2; }
    out=$RUNS/stability_$name
    if [ -f "$out/state.json" ]; then
      $AG -q train --out "$out" --resume || { failed+=("$name"); continue; }
    else
      # shellcheck disable=SC2086
      $AG -q train "${TUNE[@]}" ${RECIPE[$name]} --out "$out" || { failed+=("$name"); continue; }
    fi
    cp "$out/history.csv" "$out/config.json" "$scores/"
    keras=$out/best.keras
    $AG -q export "$keras" --formats tflite-int8 --float-tail --calib "$UTK" --name agegender --out "$out/export" \
      > /dev/null || { failed+=("$name"); continue; }
    int8=$out/export/agegender_int8.tflite
  fi
  $AG -q evaluate "$keras" --data "$UTK" --split val --stability 300 --out "$scores/keras_utkface_val" > /dev/null &&
    $AG -q evaluate "$int8" --data "$UTK" --split val --stability 300 --out "$scores/int8_utkface_val" > /dev/null &&
    $AG -q evaluate "$int8" --data "$FF" --split val --out "$scores/int8_fairface_val" > /dev/null ||
    { failed+=("$name"); continue; }
  echo "== $name: done $(date -u +%H:%M:%S)"
done
[ ${#failed[@]} -eq 0 ] || { echo "failed: ${failed[*]}" >&2; exit 1; }
