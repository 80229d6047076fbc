"""PyTorch baseline for bench_backward: the same forward + full backward by autograd on the same
ViT-B/16-shaped random model (tests/reference/clip_ref.py), timed the same way (median, one
warm-up, forward-only runs interleaved with forward+backward runs).

Usage (from the repository root; needs Debian python3-torch):

    OMP_WAIT_POLICY=PASSIVE OPENBLAS_NUM_THREADS=2 /usr/bin/python3 bench/backward_torch.py \
        [--model bench/models/vit_b16] [--runs 7] [--size 224]

forward:  encode_image under torch.no_grad (nothing recorded).
fwd+bwd:  encode_image with the graph, s = exp(logit_scale)·cos(embed, t), then
          torch.autograd.grad(s, [every block's attention probabilities, block output, LN1 output])
          (the gradients lg_vit_backward keeps with LG_GRAD_OUT | LG_GRAD_LN1 | LG_GRAD_ATTN).
Wall time and process CPU time (all threads) are printed.  torch.set_num_threads(OPENBLAS_NUM_THREADS).
"""
import argparse
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "reference"))
from clip_ref import load_model_dir  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="bench/models/vit_b16")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--size", type=int, default=224)
    a = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("OPENBLAS_NUM_THREADS", "2")))
    model = load_model_dir(a.model)
    g = torch.Generator().manual_seed(0)
    pixels = torch.randn(1, 3, a.size, a.size, generator=g)
    txt = F.normalize(torch.randn(model.cfg["embed_dim"], generator=g), dim=-1)
    scale = model.logit_scale() if "logit_scale" in model.sd else 100.0

    def forward():
        with torch.no_grad():
            model.encode_image(pixels)

    def forward_backward():
        img = pixels.clone().requires_grad_(True)   # weights are plain tensors: put A in the graph
        trace = []
        emb = model.encode_image(img, trace=trace)
        s = scale * (F.normalize(emb, dim=-1)[0] * txt).sum()
        wrt = [t for r in trace for t in (r["attn"], r["x_out"], r["ln1"])]
        torch.autograd.grad(s, wrt)

    res = {"forward": ([], []), "fwd+bwd": ([], [])}
    for r in range(a.runs + 1):
        for name, fn in (("forward", forward), ("fwd+bwd", forward_backward)):
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            if r:
                res[name][0].append(time.perf_counter() - t0)
                res[name][1].append(time.process_time() - c0)
    for name, (w, c) in res.items():
        print(f"{a.size}  PyTorch {torch.__version__} {name:8s} wall {statistics.median(w) * 1e3:8.1f} ms"
              f"  CPU {statistics.median(c) * 1e3:8.1f} ms")
    fw, fb = statistics.median(res["forward"][1]), statistics.median(res["fwd+bwd"][1])
    print(f"{a.size}  PyTorch backward / forward, CPU time: {fb / fw - 1:.2f}")


if __name__ == "__main__":
    main()
