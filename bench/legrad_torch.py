"""PyTorch baseline for bench_legrad: the official LeGrad algorithm by autograd (ref_legrad.py)
on the same ViT-B/16-shaped random model, timed the same way (median, one warm-up).

Usage (from the repository root; needs Debian python3-torch):

    OMP_WAIT_POLICY=PASSIVE OPENBLAS_NUM_THREADS=2 /usr/bin/python3 bench/legrad_torch.py \
        [--model bench/models/vit_b16] [--runs 5] [--configs 224:1:-2,224:5:-2,448:1:-2]

Each configuration S:P:layer_index runs in a fresh interpreter (peak RSS = ru_maxrss of that child,
including the model).  Wall time and process CPU time (all threads) are both printed.  Like the official wrapper, the image is repeated once per prompt and the
whole network runs forward and backward for every copy.  torch.set_num_threads(2).
"""
import argparse
import os
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def child(model_dir, size, prompts, layer_index, runs):
    import torch
    sys.path.insert(0, os.path.join(HERE, "..", "tests", "reference"))
    from clip_ref import load_model_dir
    from ref_legrad import legrad_official, official_layers
    torch.set_num_threads(int(os.environ.get("OPENBLAS_NUM_THREADS", "2")))
    model = load_model_dir(model_dir)
    g = torch.Generator().manual_seed(0)
    pixels = torch.randn(3, size, size, generator=g)
    temb = torch.nn.functional.normalize(torch.randn(prompts, model.cfg["embed_dim"], generator=g), dim=-1)
    layers = official_layers(layer_index, model.cfg["vision"]["layers"])
    times, cpu = [], []
    for r in range(runs + 1):
        t0, c0 = time.perf_counter(), time.process_time()
        legrad_official(model, pixels, temb, layers)
        if r:
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"| {size} | {prompts} | {layer_index if layer_index else 'all'} | "
          f"{statistics.median(times):.3f} | {statistics.median(cpu):.3f} | {peak:.0f} |", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="bench/models/vit_b16")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--configs", default="224:1:-2,224:5:-2,224:5:0,448:1:-2")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        s, p, li = (int(x) for x in a.child.split(":"))
        child(a.model, s, p, li, a.runs)
        return
    if not os.path.isdir(a.model):
        print(f"legrad_torch: SKIP: no model at {a.model}")
        return
    print(f"legrad_torch: {a.model}, threads {os.environ.get('OPENBLAS_NUM_THREADS', '2')}, "
          f"median of {a.runs} runs, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '')}")
    print("| S | P | layers | s/image | CPU s | peak RSS MB |\n|---|---|---|---|---|---|", flush=True)
    for c in a.configs.split(","):
        subprocess.run([sys.executable, __file__, "--model", a.model, "--runs", str(a.runs),
                        "--child", c], check=False)


if __name__ == "__main__":
    main()
