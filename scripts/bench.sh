#!/usr/bin/env bash
# make bench: image-tower benchmark on a ViT-B/16-shaped random model (2 threads).
# Builds bench/models/vit_b16 (fp16, OpenCLIP layout, ~300 MB, never committed) with the reference
# script if absent, runs build/bench/bench_forward (forward vs GEMM floor) and build/bench/bench_legrad
# (LeGrad per image, FLOPs, marginal prompt cost, peak memory), build/bench/bench_backward (forward vs
# forward + full backward), then the PyTorch reference forward, the autograd LeGrad
# (bench/legrad_torch.py) and the autograd backward (bench/backward_torch.py) for comparison when
# /usr/bin/python3 has torch.
# Env: BUILD (default build), RUNS (default 7), THREADS (default 2), TORCH=0 to skip PyTorch.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
RUNS=${RUNS:-7}
THREADS=${THREADS:-2}
model=bench/models/vit_b16
if [ ! -f "$model/open_clip_model.safetensors" ]; then
  if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
    echo "bench: building $model with tests/reference/make_models.py --bench"
    /usr/bin/python3 tests/reference/make_models.py --bench "$model"
  else  # same shapes, numpy only (other random weights: timings only)
    echo "bench: building $model with bench/make_vit_b16.py (no torch)"
    /usr/bin/python3 bench/make_vit_b16.py "$model"
  fi
fi
echo "== C engine (OPENBLAS_NUM_THREADS=$THREADS)"
OPENBLAS_NUM_THREADS=$THREADS "$BUILD/bench/bench_forward" "$model" "$RUNS" 224 448
echo "== LeGrad: forward + closed-form backward (OPENBLAS_NUM_THREADS=$THREADS)"
OPENBLAS_NUM_THREADS=$THREADS "$BUILD/bench/bench_legrad" "$model" "$RUNS"
echo "== Backward pass: forward vs forward + full backward (OPENBLAS_NUM_THREADS=$THREADS)"
OPENBLAS_NUM_THREADS=$THREADS "$BUILD/bench/bench_backward" "$model" "$RUNS" 224 448
if [ "${TORCH:-1}" != 0 ] && /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  echo "== PyTorch reference (torch.set_num_threads($THREADS), OMP_WAIT_POLICY=PASSIVE)"
  OMP_WAIT_POLICY=PASSIVE OPENBLAS_NUM_THREADS=$THREADS OMP_NUM_THREADS=$THREADS \
    /usr/bin/python3 tests/reference/bench_torch.py "$model" "$RUNS" "$THREADS"
  echo "== PyTorch LeGrad by autograd, official algorithm (image repeated per prompt)"
  OMP_WAIT_POLICY=PASSIVE OPENBLAS_NUM_THREADS=$THREADS OMP_NUM_THREADS=$THREADS \
    /usr/bin/python3 bench/legrad_torch.py --model "$model" --runs "$RUNS"
  echo "== PyTorch forward + full backward by autograd"
  OMP_WAIT_POLICY=PASSIVE OPENBLAS_NUM_THREADS=$THREADS OMP_NUM_THREADS=$THREADS \
    /usr/bin/python3 bench/backward_torch.py --model "$model" --runs "$RUNS"
fi
