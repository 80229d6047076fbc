"""Times the reference PyTorch image tower (clip_ref.py, fp32, explicit attention) for comparison
with build/bench/bench_forward.

Usage: OMP_WAIT_POLICY=PASSIVE OPENBLAS_NUM_THREADS=2 /usr/bin/python3 tests/reference/bench_torch.py \
           bench/models/vit_b16 [RUNS] [THREADS]
Prints per size (224, 448) the median of RUNS runs (after one warm-up) of encode_image on one image.
"""
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clip_ref import load_model_dir  # noqa: E402


def main():
    path = sys.argv[1]
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    threads = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    torch.set_num_threads(threads)
    torch.set_grad_enabled(False)
    model = load_model_dir(path)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, runs {runs}")
    for size in (224, 448):
        x = torch.randn(1, 3, size, size)
        model.encode_image(x)
        ts = []
        for _ in range(runs):
            t = time.perf_counter()
            model.encode_image(x)
            ts.append(time.perf_counter() - t)
        print(f"torch size {size}: median {statistics.median(ts):.4f} s")


if __name__ == "__main__":
    main()
