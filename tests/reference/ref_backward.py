"""Autograd gradients through the CLIP vision tower, the reference for the C backward pass
(engine/nn/backward.c, engine/nn/vit_backward.c; tests/c/test_backward.c).

Usage (from the repository root, /usr/bin/python3):

    /usr/bin/python3 tests/reference/ref_backward.py     # writes tests/fixtures/backward/*.safetensors

The pure-torch CLIP (clip_ref.py) runs in float64 (weights, pixels and text converted), so the stored
gradients carry no float32 rounding of their own; they are saved as F32.  As in LeGrad's official
code the image is repeated once per prompt and the target is the diagonal sum, so row p of every
gradient is the gradient of prompt p's score alone:

  score "clip":  s_p = exp(logit_scale) * cos(image_embed_p, t_p)   (CLS-pooled embedding, CLIP's own)
  score "cos":   s_p = cos(image_embed_p, t_p)
  "mid" (every file): LeGrad's per-layer score at block m = L-2 (legrad.md section 1.1),
                 s_p = t_p . normalize(ln_post(mean over all tokens of x_out^m) @ proj)

Fixture <model>_<S>_p<P>_<score>.safetensors (F32):
  pixels [3,S,S], text_embed [P,E] (normalised), logit_scale [] (the multiplier, exp applied),
  score [P], per block l:
    d_attn.l [P,H,T,T]  gradient at the post-softmax attention probabilities
    d_out.l  [P,T,D]    gradient at the block output
    d_ln1.l  [P,T,D]    gradient at the LN1 output
  d_x0 [P,T,D] (block 0 input, after ln_pre);
  mid_block [] (m), mid_score [P], mid.d_attn.l [P,H,T,T] for l <= m, mid.d_out.l [P,T,D] for l < m,
  mid.d_x0 [P,T,D].
"""
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clip_ref import load_model_dir  # noqa: E402
from ref_legrad import text_embeddings  # noqa: E402
from st_io import save_safetensors  # noqa: E402

# (model, prompts, score) cases: both activations, LayerScale, and the HF checkpoint layout.
CASES = [("tiny_qg_oc", 1, "clip"), ("tiny_qg_oc", 3, "clip"), ("tiny_qg_oc", 1, "cos"),
         ("tiny_gelu_oc", 1, "clip"), ("tiny_gelu_oc", 3, "clip"),
         ("tiny_ls_oc", 1, "clip"), ("tiny_ls_oc", 3, "cos"),
         ("tiny_qg_hf", 3, "clip"), ("tiny_gelu_hf", 1, "cos")]


def to_double(model):
    model.sd = {k: (v.double() if v.is_floating_point() else v) for k, v in model.sd.items()}
    return model


def gradients(model, pixels, temb, score):
    """One forward of the image repeated P times; autograd of the diagonal score sum."""
    sd, eps = model.sd, model.eps
    P = temb.shape[0]
    img = pixels.unsqueeze(0).repeat(P, 1, 1, 1).requires_grad_(True)
    trace = []
    emb = model.encode_image(img, trace=trace)
    x0 = model.last_x0
    L = len(trace)
    scale = model.logit_scale() if score == "clip" else 1.0
    s = scale * (F.normalize(emb, dim=-1) * temb).sum(-1)                  # [P]
    names, tensors = [], []
    for l, r in enumerate(trace):
        for key, t in (("d_attn", r["attn"]), ("d_out", r["x_out"]), ("d_ln1", r["ln1"])):
            names.append(f"{key}.{l}")
            tensors.append(t)
    names.append("d_x0")
    tensors.append(x0)
    grads = torch.autograd.grad(s.sum(), tensors, retain_graph=True)
    out = dict(zip(names, grads))
    out["score"] = s
    # LeGrad's intermediate readout at block m = L-2, back to block 0.
    m = L - 2
    z = trace[m]["x_out"]
    e = F.layer_norm(z.mean(dim=1), (z.shape[-1],), sd["visual.ln_post.weight"],
                     sd["visual.ln_post.bias"], eps) @ sd["visual.proj"]
    sm = (F.normalize(e, dim=-1) * temb).sum(-1)
    mnames, mtensors = [], []
    for l in range(m + 1):
        mnames.append(f"mid.d_attn.{l}")
        mtensors.append(trace[l]["attn"])
        if l < m:
            mnames.append(f"mid.d_out.{l}")
            mtensors.append(trace[l]["x_out"])
    mnames.append("mid.d_x0")
    mtensors.append(x0)
    out.update(zip(mnames, torch.autograd.grad(sm.sum(), mtensors)))
    out["mid_score"] = sm
    out["mid_block"] = torch.tensor(float(m))
    return out


def main():
    root, dst = "tests/fixtures/models", "tests/fixtures/backward"
    os.makedirs(dst, exist_ok=True)
    for name, P, score in CASES:
        model = to_double(load_model_dir(os.path.join(root, name)))
        S = model.cfg["vision"]["image_size"]
        g = torch.Generator().manual_seed(31 * S + P)
        pixels = torch.randn(3, S, S, generator=g).double()
        temb = text_embeddings(model, P, g)
        with torch.enable_grad():
            out = gradients(model, pixels, temb, score)
        data = {k: v.detach().float().contiguous() for k, v in out.items()}
        data["pixels"] = pixels.float()
        data["text_embed"] = temb.float().contiguous()
        data["logit_scale"] = torch.tensor(model.logit_scale(), dtype=torch.float32)
        fn = f"{name}_{S}_p{P}_{score}.safetensors"
        save_safetensors(os.path.join(dst, fn), data)
        print(f"{fn}: score {[round(float(x), 4) for x in out['score']]}, "
              f"max |d_attn.0| {float(out['d_attn.0'].abs().max()):.3g}")


if __name__ == "__main__":
    main()
