"""Writes forward-pass fixtures for the tiny models (tests/fixtures/forward/*.safetensors).

Usage (from the repository root, after make_models.py):

    /usr/bin/python3 tests/reference/make_fixtures.py

For each model and input side S (native 32 and doubled 64, i.e. resampled position embeddings; the
single-file model only native) one file <model>_<S>.safetensors (F32) holds, for a fixed random
pixel tensor:
  pixels [3,S,S], pos [T,D] (position embeddings used), x0 [T,D] (after ln_pre),
  per block l: x_out.l [T,D]; at the native size also qkv.l [T,3D] (unscaled q; k; v incl. bias),
  attn.l [H,T,T], y.l [T,D], h.l [T,F] (fc1 output, pre-activation); at 2x attn only for the last
  block; pooled [D] (ln_post of CLS), image_embed [E];
and, for models with text, text_ids [3,77] (F32; SOT ... EOT then 0 padding, EOT at varied positions)
with text_embed [3,E] and logit_scale [] (exp applied: the multiplier).
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clip_ref import load_model_dir  # noqa: E402
from st_io import save_safetensors  # noqa: E402

MODELS = ["tiny_qg_oc", "tiny_gelu_oc", "tiny_ls_oc", "tiny_single.safetensors"]


def text_ids(vocab, ctx, g):
    """Three prompts: EOT at positions 5, 1 (empty prompt) and ctx-1 (full context)."""
    sot, eot = vocab - 2, vocab - 1
    ids = torch.zeros(3, ctx, dtype=torch.int64)
    for r, n in enumerate((4, 0, ctx - 2)):
        ids[r, 0] = sot
        ids[r, 1:1 + n] = torch.randint(1, vocab - 2, (n,), generator=g)
        ids[r, 1 + n] = eot
    return ids


def fixture(model, size, g, full):
    pixels = torch.randn(1, 3, size, size, generator=g)
    trace = []
    emb = model.encode_image(pixels, trace=trace)
    out = {"pixels": pixels[0], "pos": model.pos_embed(size), "x0": model.last_x0[0],
           "pooled": model.last_pooled[0], "image_embed": emb[0]}
    last = len(trace) - 1
    for i, r in enumerate(trace):
        out[f"x_out.{i}"] = r["x_out"][0]
        if not full and i != last:
            continue
        out[f"attn.{i}"] = r["attn"][0]
        if not full:
            continue
        B, H, T, d = r["q"].shape
        qkv = torch.cat([t.transpose(1, 2).reshape(B, T, H * d) for t in (r["q"], r["k"], r["v"])], -1)
        out[f"qkv.{i}"] = qkv[0]
        out[f"y.{i}"] = r["y"][0]
        out[f"h.{i}"] = r["h"][0]
    tc = model.cfg["text"]
    if tc:
        ids = text_ids(tc["vocab"], tc["ctx"], g)
        out["text_ids"] = ids.float()
        out["text_embed"] = model.encode_text(ids)
        out["logit_scale"] = torch.tensor(model.logit_scale())
    return {k: v.contiguous() for k, v in out.items()}


def main():
    torch.set_grad_enabled(False)
    root = "tests/fixtures/models"
    dst = "tests/fixtures/forward"
    os.makedirs(dst, exist_ok=True)
    for name in MODELS:
        model = load_model_dir(os.path.join(root, name))
        native = model.cfg["vision"]["image_size"]
        sizes = (native,) if name.endswith(".safetensors") else (native, 2 * native)
        for size in sizes:
            g = torch.Generator().manual_seed(size)
            base = name.replace(".safetensors", "")
            data = fixture(model, size, g, full=(size == native))
            save_safetensors(os.path.join(dst, f"{base}_{size}.safetensors"), data)


if __name__ == "__main__":
    main()
