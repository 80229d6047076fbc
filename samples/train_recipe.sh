#!/usr/bin/env bash
# Train the built-in model (samples/model) with the shipped two-stage recipe, on the CPU.
#
#   samples/train_recipe.sh [OUT]          (from the repository root; OUT defaults to samples/model)
#
# Stage 1 trains from random weights (seed 0); stage 2 continues from stage 1's export on a fresh
# stream of training images with a lower learning rate, a heavier token-level MIL loss and more hard
# images.  Recipe, wall times and results: docs/model-card.md.  Needs Debian's python3-torch and
# python3-numpy/python3-pil as /usr/bin/python3.  Stage 1's model is kept in $WORK/stage1
# (WORK defaults to a new directory under /tmp; its path is printed).  Each stage uses one core;
# about 35-60 min each on this project's machines (docs/benchmarks.md).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-samples/model}
WORK=${WORK:-$(mktemp -d /tmp/legrad-train.XXXXXX)}
echo "train_recipe: stage 1 -> $WORK/stage1, stage 2 -> $OUT"
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
# glibc keeps its memory instead of mapping and zeroing the large tensors anew each step (same weights)
export MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=68719476736 MALLOC_TOP_PAD_=1073741824
/usr/bin/python3 samples/train.py --out "$WORK/stage1" --seed 0 --steps 2400 --lr 1e-3 --warmup 200 \
    --mil 2 --hard-frac 0.75 --eval-every 300
/usr/bin/python3 samples/train.py --out "$OUT" --init "$WORK/stage1" --seed 0 --data-seed 1 --steps 2400 \
    --lr 5e-4 --warmup 100 --mil 3 --hard-frac 0.9 --eval-every 600
