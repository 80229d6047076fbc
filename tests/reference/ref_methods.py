"""Raw attention and attention rollout, written to follow the authors' code, for the C engine's
engine/explain/raw_attention.c and engine/explain/rollout.c (docs/methods.md).

Usage (from the repository root, /usr/bin/python3):

    /usr/bin/python3 tests/reference/ref_methods.py      # writes tests/fixtures/methods/*.safetensors

Code followed (Chefer et al., hila-chefer/Transformer-Explainability, as the spec legrad.md §3.1,
§3.2 and §3.8 describe it):

  raw attention   ViT_orig_LRP.relprop(method="last_layer_attn"):
                      cam = blocks[-1].attn.get_attn()[0]        # [H, T, T]
                      cam = cam.clamp(min=0).mean(dim=0)[0, 1:]
  rollout         ViT_explanation_generator.LRP.generate_rollout + compute_rollout_attention:
                      avg_heads = attn_heads.sum(dim=1) / attn_heads.shape[1]   per block
                      A_l = (avg + I) / (avg + I).sum(dim=-1, keepdim=True)
                      joint = A_s; for i in s+1..L-1: joint = A_i.bmm(joint)
                      rollout[:, 0, 1:]
  final map       F.interpolate(grid, scale_factor=patch, mode="bilinear"), then min-max.

Both are prompt-independent.  Fixture files <model>_<S>_<method>.safetensors hold
  pixels [3,S,S], grid [G,G] (the map before upsampling), final [S,S];
rollout files are <model>_<S>_rollout_s<start_layer> and add start_layer [] (F32).
"""
import argparse
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clip_ref import load_model_dir  # noqa: E402
from st_io import save_safetensors  # noqa: E402

MODELS = ["tiny_qg_oc", "tiny_gelu_oc", "tiny_ls_oc"]


def attentions(model, pixels):
    """Every block's post-softmax attention [1, H, T, T] for one image."""
    trace = []
    with torch.no_grad():
        model.encode_image(pixels.unsqueeze(0), trace=trace)
    return [t["attn"] for t in trace]


def raw_attention(attn):
    """ViT_orig_LRP relprop(method="last_layer_attn"): [T-1] for one image."""
    cam = attn[-1]
    cam = cam[0].reshape(-1, cam.shape[-1], cam.shape[-1])
    cam = cam.clamp(min=0).mean(dim=0)
    return cam[0, 1:]


def compute_rollout_attention(all_layer_matrices, start_layer=0):
    """Chefer's ViT_explanation_generator.compute_rollout_attention (residual, rows normalised)."""
    num_tokens = all_layer_matrices[0].shape[1]
    batch_size = all_layer_matrices[0].shape[0]
    eye = torch.eye(num_tokens).expand(batch_size, num_tokens, num_tokens)
    all_layer_matrices = [all_layer_matrices[i] + eye for i in range(len(all_layer_matrices))]
    all_layer_matrices = [all_layer_matrices[i] / all_layer_matrices[i].sum(dim=-1, keepdim=True)
                          for i in range(len(all_layer_matrices))]
    joint_attention = all_layer_matrices[start_layer]
    for i in range(start_layer + 1, len(all_layer_matrices)):
        joint_attention = all_layer_matrices[i].bmm(joint_attention)
    return joint_attention


def rollout(attn, start_layer):
    """generate_rollout: mean over heads per block, rollout, the CLS row without CLS: [T-1]."""
    all_layer_attentions = []
    for attn_heads in attn:
        avg_heads = (attn_heads.sum(dim=1) / attn_heads.shape[1]).detach()
        all_layer_attentions.append(avg_heads)
    r = compute_rollout_attention(all_layer_attentions, start_layer=start_layer)
    return r[:, 0, 1:][0]


def final_map(rel, patch):
    """Upsample x patch (bilinear, align_corners=False), min-max: [S, S]."""
    G = int(round(rel.shape[-1] ** 0.5))
    grid = rel.reshape(1, 1, G, G)
    up = F.interpolate(grid, scale_factor=patch, mode="bilinear")[0, 0]
    return grid[0, 0], (up - up.min()) / (up.max() - up.min())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="tests/fixtures/methods")
    ap.add_argument("--models", default="tests/fixtures/models")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    for name in MODELS:
        model = load_model_dir(os.path.join(a.models, name))
        L = model.cfg["vision"]["layers"]
        patch = model.cfg["vision"]["patch"]
        native = model.cfg["vision"]["image_size"]
        for size in (native, 2 * native):
            g = torch.Generator().manual_seed(2000 * size + len(name))
            pixels = torch.randn(3, size, size, generator=g)
            attn = attentions(model, pixels)
            cases = [("raw_attention", raw_attention(attn), None)]
            for s in sorted({0, 1, L - 1}):
                cases.append((f"rollout_s{s}", rollout(attn, s), s))
            for tag, rel, s in cases:
                grid, final = final_map(rel, patch)
                data = {"pixels": pixels, "grid": grid, "final": final}
                if s is not None:
                    data["start_layer"] = torch.tensor(float(s))
                fn = f"{name}_{size}_{tag}.safetensors"
                save_safetensors(os.path.join(a.out, fn), {k: v.contiguous() for k, v in data.items()})
                print(f"{fn}: grid max {float(grid.max()):.4g}")


if __name__ == "__main__":
    main()
