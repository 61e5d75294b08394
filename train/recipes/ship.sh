#!/usr/bin/env bash
# Ship a finished long run (train/recipes/long_run.sh) into models/: the files devices run, checked against the
# Keras model, and every report the model card quotes. Each step alone on the CPU.
#
#   train/recipes/ship.sh default     models/agegender.keras, agegender_{int8.tflite,int8.onnx,fp32.onnx,fp16.tflite},
#                                     EXPORTS.md, reports/{utkface_test,fairface_val,int8_default_*}, history.csv
#   train/recipes/ship.sh open        models/agegender_open_{int8.tflite,fp32.onnx}, EXPORTS_OPEN.md,
#                                     reports/{open_*,int8_open_*}, open_history.csv, open_prior_tau.md
#                                     (calibrated on FairFace only)
#   train/recipes/ship.sh latency     benchmarks/results/latency.md for every shipped file, once both are in
# Each model's step ends with `agegender bench accuracy` (benchmarks/results[/open]/accuracy.md).
#
# INT8 files end at the logits (--float-tail): softmax, sigmoid and the expected age run in float32 on the device.
set -euo pipefail
cd "$(dirname "$0")/../.."
which=${1:?default, open or latency}
SHARED=${AGEGENDER_SHARED:-../shared}
RUNS=${LONG_RUNS:-$HOME/.cache/agegender/runs/long}
AG=${AGEGENDER:-agegender}
UTK=$SHARED/datasets/utkface
FF=$SHARED/datasets/fairface
DET=$SHARED/models/face_detection
run=$RUNS/$which
R=models/reports
SHIP_BOUND=${SHIP_BOUND:-p95=2.5,max=20,flips=0.015}
# the prior correction's tau a contract stores (0: none), to apply the Keras model's choice to every exported file
stored_tau() {
  python3 -c 'import json, sys; print(json.load(open(sys.argv[1])).get("age_prior", {}).get("tau", 0))' "$1"
}
[ "$which" = latency ] || [ -f "$run/best.keras" ] || { echo "$run/best.keras: the $which run has not finished an epoch yet" >&2; exit 2; }

case "$which" in
  default)
    cp "$run/best.keras" models/agegender.keras
    cp "$run/best.keras.json" models/agegender.keras.json
    cp "$run/history.csv" "$R/history.csv"
    # the agreement bound here guards against regressions: a saturating INT8 file gives p95 4.3 y (max 17 y), which
    # the p95 term catches; the max of one face in 2,304 is noisy (0.2: 12.0 y, 0.3's INT8 TFLite: 15.9 y with p95
    # 1.95 y), hence 20. No INT8 method meets the issue's p95 <= 1 y / max <= 4 y yet (models/QUANTIZERS.md), which
    # the FP16 file does
    $AG -q export models/agegender.keras --formats tflite-int8,onnx-int8,onnx-fp32,tflite-fp16 --float-tail --calib "$UTK" \
      --out models --verify --verify-data "$UTK" --agreement-bound "$SHIP_BOUND" > /dev/null
    # the training-prior correction's tau, chosen on val on the Keras model (models/reports/prior_tau.md), then the
    # age check's calibration fitted to each shipped file on val with that tau (docs/age-check.md)
    $AG -q calibrate models/agegender.keras --data "$UTK" --data "$FF" --source-mix 1,1 --prior-tau auto \
      --prior-report "$R/prior_tau.md" > /dev/null
    tau=$(stored_tau models/agegender.keras.json)
    for f in agegender_fp16.tflite agegender_int8.tflite agegender_int8.onnx agegender_fp32.onnx; do
      $AG -q calibrate "models/$f" --data "$UTK" --data "$FF" --source-mix 1,1 --prior-tau "$tau" > /dev/null
    done
    for f in agegender_fp16.tflite agegender_int8.tflite agegender_int8.onnx; do
      $AG -q evaluate "models/$f" --data "$UTK" --split test --age-gate 25 --out "$R/age_check/${f}_utkface_test" > /dev/null
      $AG -q evaluate "models/$f" --data "$FF" --split val --age-gate 25 --out "$R/age_check/${f}_fairface_val" > /dev/null
    done
    $AG -q evaluate models/agegender.keras --data "$UTK" --split test --framing-check --models-dir "$DET" \
      --history "$run/history.csv" --out "$R/utkface_test" > "$R/utkface_test.json"
    $AG -q evaluate models/agegender.keras --data "$FF" --split val --out "$R/fairface_val" > "$R/fairface_val.json"
    $AG -q evaluate models/agegender_int8.tflite --data "$UTK" --split test --stability 300 \
      --out "$R/int8_default_utkface_test" > /dev/null
    $AG -q evaluate models/agegender_int8.tflite --data "$FF" --split val --out "$R/int8_default_fairface_val" > /dev/null
    $AG -q bench accuracy --models models/agegender_int8.tflite models/agegender_int8.onnx models/agegender_fp32.onnx \
      models/agegender_fp16.tflite --data "$UTK,test" --data "$FF,val" --out benchmarks/results > /dev/null
    ;;
  open)
    cp "$run/history.csv" "$R/open_history.csv"
    # no INT8 ONNX file: the open 0.3 model's (7-bit weights) measured |Δage| p95 2.58 y from Keras (2.66 y with 1,000
    # calibration faces), beyond the bound; ONNX Runtime and TensorRT users get the float file
    $AG -q export "$run/best.keras" --formats tflite-int8,onnx-fp32 --name agegender_open --float-tail --calib "$FF" \
      --out models --verify --verify-data "$UTK" --verify-report models/EXPORTS_OPEN.md \
      --agreement-bound "$SHIP_BOUND" > /dev/null
    # the prior correction's tau chosen and the age check calibrated on FairFace val only, so that the open model
    # stays free of UTKFace's licence: tau on its 60-69 and 70+ bins (models/reports/open_prior_tau.md)
    $AG -q calibrate "$run/best.keras" --data "$FF" --prior-tau auto --prior-report "$R/open_prior_tau.md" > /dev/null
    tau=$(stored_tau "$run/best.keras.json")
    for f in agegender_open_int8.tflite agegender_open_fp32.onnx; do
      $AG -q calibrate "models/$f" --data "$FF" --prior-tau "$tau" > /dev/null
    done
    $AG -q evaluate models/agegender_open_int8.tflite --data "$UTK" --split test --age-gate 25 \
      --out "$R/age_check/agegender_open_int8.tflite_utkface_test" > /dev/null
    $AG -q evaluate models/agegender_open_int8.tflite --data "$FF" --split val --age-gate 25 \
      --out "$R/age_check/agegender_open_int8.tflite_fairface_val" > /dev/null
    $AG -q evaluate "$run/best.keras" --data "$UTK" --split test --out "$R/open_utkface_test" > "$R/open_utkface_test.json"
    $AG -q evaluate "$run/best.keras" --data "$FF" --split val --history "$run/history.csv" \
      --out "$R/open_fairface_val" > "$R/open_fairface_val.json"
    $AG -q evaluate models/agegender_open_int8.tflite --data "$UTK" --split test --stability 300 \
      --out "$R/int8_open_utkface_test" > /dev/null
    $AG -q evaluate models/agegender_open_int8.tflite --data "$FF" --split val --out "$R/int8_open_fairface_val" > /dev/null
    $AG -q bench accuracy --models models/agegender_open_int8.tflite models/agegender_open_fp32.onnx \
      --data "$UTK,test" --data "$FF,val" --out benchmarks/results/open > /dev/null
    ;;
  latency)
    $AG -q bench latency --models models/agegender_int8.tflite models/agegender_int8.onnx models/agegender_fp32.onnx \
      models/agegender_fp16.tflite models/agegender_open_int8.tflite models/agegender_open_fp32.onnx --threads 1,2 \
      --batches 1,8 --out benchmarks/results
    exit 0
    ;;
  *) echo "default or open, not $which" >&2; exit 2 ;;
esac
echo "shipped $which from $run"
