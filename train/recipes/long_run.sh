#!/usr/bin/env bash
# The long training runs of the shipped models, each alone on the CPU, resumable (run it again to continue):
#
#   train/recipes/long_run.sh default [EXTRA TRAIN FLAGS]   UTKFace + FairFace, 1 frozen + 15 fine-tuning epochs
#                                                           of 1,000 steps x 64 = 1,024,000 samples
#   train/recipes/long_run.sh open [EXTRA TRAIN FLAGS]      FairFace only (CC BY 4.0), the same budget
#
# EXTRA TRAIN FLAGS: the recipe rows models/RECIPES.md keeps; models 0.3 (default): --input-size 112 --age-weight 5-25:2.
# Runs live in $LONG_RUNS (default ~/.cache/agegender/runs/long); `agegender train --resume` continues one.
set -uo pipefail
cd "$(dirname "$0")/../.."
which=${1:?default or open}; shift
SHARED=${AGEGENDER_SHARED:-../shared}
RUNS=${LONG_RUNS:-$HOME/.cache/agegender/runs/long}
AG=${AGEGENDER:-agegender}
out=$RUNS/$which
case "$which" in
  default) data=(--data "$SHARED/datasets/utkface" --data "$SHARED/datasets/fairface" --source-mix 1,1 --name agegender) ;;
  open) data=(--data "$SHARED/datasets/fairface" --name agegender-open) ;;
  *) echo "default or open, not $which" >&2; exit 2 ;;
esac
if [ -f "$out/state.json" ]; then
  exec $AG train --out "$out" --resume
fi
exec $AG train "${data[@]}" --backbone-weights "$SHARED/models/backbone/mobilenet_v2_1.0_imagenet_from_torchvision_no_top.h5" \
  --lr 8e-4 --frozen-epochs 1 --epochs 15 --steps-per-epoch 1000 "$@" --out "$out"
