"""LeGrad by autograd, exactly as the official WalBouss/LeGrad `compute_legrad_clip` computes it.

This is the reference the C closed-form backward (engine/explain/legrad.c) is tested against.  It shares
nothing with the closed form: it runs the pure-torch CLIP (clip_ref.py) with the attention
probabilities in the graph and asks torch.autograd.grad for d(score)/d(attention).

Usage (from the repository root, /usr/bin/python3):

    /usr/bin/python3 tests/reference/ref_legrad.py            # writes tests/fixtures/legrad/*.safetensors
    /usr/bin/python3 tests/reference/ref_legrad.py --check    # also prints closed-form vs autograd

As a library:

    from ref_legrad import legrad_official
    out = legrad_official(model, pixels[3,S,S], text_emb[P,E] (normalised), layers=[1, 2], relu=True)
    out["grid"]   [P, n_layers, G, G]  per-layer maps before upsampling (what the C engine returns)
    out["score"]  [P, n_layers]        s_l = <t_p, normalize(ln_post(mean_tokens(z_l)) @ proj)>
    out["final"]  [P, S, S]            upsample each layer x patch (bilinear, align_corners=False),
                                       sum over layers, min-max per prompt

The official algorithm (legrad/wrapper.py, open_clip <= 2.23):
  * the image is repeated once per prompt (batch b = P), one forward pass with hooked attention;
  * per chosen block l: feat = normalize(ln_post(mean over ALL tokens incl. CLS of the block output)
    @ proj); sim = text_emb @ feat^T [P, P]; target = sum(one_hot(arange(P)) * sim) (the diagonal);
  * grad = autograd.grad(target, attn_l) [b, H, T, T]; clamp(min=0); mean over heads; mean over the
    query rows; drop the CLS column; reshape to the grid; F.interpolate(scale_factor=patch,
    mode='bilinear'); accumulate by sum;
  * min_max per prompt: (x - min)/(max - min), no epsilon.

Fixture file names: <model>_<S>_p<P>_<layers>[_norelu].safetensors with tensors
  pixels [3,S,S], text_embed [P,E] (normalised), layers [n] (block indices, F32), relu [] (1/0),
  grid_maps [P,n,G,G], scores [P,n], final [P,S,S].
Plus upsample.safetensors: src [5,7], up8 = F.interpolate(x8), up14 = x14, resized [13,29]
(size=) and resized_down [3,4].
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


def min_max(x):
    """The official min_max over the last two dims of [1, P, H, W] (no epsilon)."""
    B, P = x.shape[:2]
    flat = x.reshape(B, P, -1)
    mn = flat.min(dim=-1, keepdim=True)[0].unsqueeze(-1)
    mx = flat.max(dim=-1, keepdim=True)[0].unsqueeze(-1)
    return (x - mn) / (mx - mn)


def legrad_official(model, pixels, text_emb, layers, relu=True):
    """Autograd LeGrad for one image and P prompts (see the module docstring)."""
    sd = model.sd
    P = text_emb.shape[0]
    patch = model.cfg["vision"]["patch"]
    # The official model's parameters require grad, which puts the attention in the graph; here
    # the weights are plain tensors, so the input carries requires_grad instead.
    img = pixels.unsqueeze(0).repeat(P, 1, 1, 1).requires_grad_(True)
    with torch.enable_grad():
        trace = []
        model.encode_image(img, trace=trace)
        grids, scores, acc = [], [], 0
        for l in layers:
            z = trace[l]["x_out"]                               # [P, T, D]
            feat = F.layer_norm(z.mean(dim=1), (z.shape[-1],), sd["visual.ln_post.weight"],
                                sd["visual.ln_post.bias"], model.eps) @ sd["visual.proj"]
            feat = F.normalize(feat, dim=-1)
            sim = text_emb @ feat.transpose(-1, -2)              # [P, P]
            one_hot = F.one_hot(torch.arange(P), P).float()
            target = torch.sum(one_hot * sim)
            attn = trace[l]["attn"]                              # [P, H, T, T]
            grad = torch.autograd.grad(target, [attn], retain_graph=True)[0]
            if relu:
                grad = torch.clamp(grad, min=0.0)
            rel = grad.mean(dim=1).mean(dim=1)[:, 1:]            # [P, T-1]
            G = int(round(rel.shape[-1] ** 0.5))
            grid = rel.reshape(1, P, G, G)
            up = F.interpolate(grid, scale_factor=patch, mode="bilinear")
            acc = acc + up
            grids.append(grid[0].detach())
            scores.append(torch.diagonal(sim).detach())
        final = min_max(acc)[0].detach()
    return {"grid": torch.stack(grids, dim=1), "score": torch.stack(scores, dim=1), "final": final}


def closed_form(model, pixels, text_emb, layers, relu=True):
    """The closed-form backward of engine/explain/legrad.c written in torch (for --check only): back through
    normalize, proj, ln_post, the mean, the block's MLP + LN2 per token, W_out, then dO_h V_h^T."""
    sd, eps = model.sd, model.eps
    vc = model.cfg["vision"]
    H = vc["heads"]
    with torch.no_grad():
        trace = []
        model.encode_image(pixels.unsqueeze(0), trace=trace)
    grids = []
    for l in layers:
        r = trace[l]
        pre = f"visual.transformer.resblocks.{l}."
        z = r["x_out"][0]                                    # [T, D]
        T, D = z.shape
        zbar = z.mean(0).requires_grad_(True)
        e = F.layer_norm(zbar, (D,), sd["visual.ln_post.weight"], sd["visual.ln_post.bias"], eps)
        e = F.normalize(e @ sd["visual.proj"], dim=-1)
        cs = []
        for p in range(text_emb.shape[0]):                  # g_zbar per prompt (small vectors)
            cs.append(torch.autograd.grad(text_emb[p] @ e, zbar, retain_graph=True)[0] / T)
        c = torch.stack(cs)                                  # [P, D]
        g_m = c * sd.get(pre + "ls_2.gamma", torch.ones(D))
        g_act = g_m @ sd[pre + "mlp.c_proj.weight"]          # [P, F]
        h = r["h"][0].detach().requires_grad_(True)
        act = model.act(h)
        act_d = torch.autograd.grad(act.sum(), h)[0]        # act'(h), elementwise
        g_h = g_act[:, None, :] * act_d[None]                # [P, T, F]
        g_u = g_h @ sd[pre + "mlp.c_fc.weight"]              # [P, T, D]
        y = r["y"][0].detach()
        yhat = (y - y.mean(-1, keepdim=True)) / torch.sqrt(y.var(-1, unbiased=False, keepdim=True) + eps)
        gx = g_u * sd[pre + "ln_2.weight"]
        rstd = 1 / torch.sqrt(y.var(-1, unbiased=False, keepdim=True) + eps)
        g_y = c[:, None, :] + rstd * (gx - gx.mean(-1, keepdim=True) - yhat * (gx * yhat).mean(-1, keepdim=True))
        g_a = g_y * sd.get(pre + "ls_1.gamma", torch.ones(D))
        g_O = g_a @ sd[pre + "attn.out_proj.weight"]         # [P, T, D]
        v = r["v"][0].detach()                               # [H, T, d]
        gO = g_O.reshape(-1, T, H, D // H).transpose(1, 2)   # [P, H, T, d]
        gA = gO @ v.transpose(-1, -2)                        # [P, H, T, T]
        if relu:
            gA = gA.clamp(min=0)
        rel = gA.mean(1).mean(1)[:, 1:]
        G = int(round(rel.shape[-1] ** 0.5))
        grids.append(rel.reshape(-1, G, G).detach())
    return torch.stack(grids, dim=1)


def text_embeddings(model, P, g):
    """P normalised text embeddings from random token ids (SOT, 3..8 tokens, EOT)."""
    tc = model.cfg["text"]
    sot, eot = tc["vocab"] - 2, tc["vocab"] - 1
    ids = torch.zeros(P, tc["ctx"], dtype=torch.int64)
    for r in range(P):
        n = 3 + r * 2
        ids[r, 0] = sot
        ids[r, 1:1 + n] = torch.randint(1, tc["vocab"] - 2, (n,), generator=g)
        ids[r, 1 + n] = eot
    with torch.no_grad():
        return model.encode_text(ids, normalize=True)


def official_layers(layer_index, L):
    start = layer_index if layer_index >= 0 else L + layer_index
    return list(range(start, L))


def upsample_fixture(path):
    g = torch.Generator().manual_seed(7)
    src = torch.randn(5, 7, generator=g)
    x = src.reshape(1, 1, 5, 7)
    out = {"src": src,
           "up8": F.interpolate(x, scale_factor=8, mode="bilinear")[0, 0],
           "up14": F.interpolate(x, scale_factor=14, mode="bilinear")[0, 0],
           "resized": F.interpolate(x, size=(13, 29), mode="bilinear")[0, 0],
           "resized_down": F.interpolate(x, size=(3, 4), mode="bilinear")[0, 0]}
    save_safetensors(path, {k: v.contiguous() for k, v in out.items()})


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="tests/fixtures/legrad")
    ap.add_argument("--models", default="tests/fixtures/models")
    ap.add_argument("--check", action="store_true", help="compare the torch closed form as well")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    upsample_fixture(os.path.join(a.out, "upsample.safetensors"))
    for name in MODELS:
        model = load_model_dir(os.path.join(a.models, name))
        L = model.cfg["vision"]["layers"]
        native = model.cfg["vision"]["image_size"]
        for size in (native, 2 * native):
            for P in (1, 3):
                g = torch.Generator().manual_seed(1000 * size + P)
                pixels = torch.randn(3, size, size, generator=g)
                temb = text_embeddings(model, P, g)
                variants = [("default", official_layers(-2, L), True),
                            ("all", official_layers(0, L), True)]
                if P == 3:
                    variants.append(("all", official_layers(0, L), False))
                for tag, layers, relu in variants:
                    out = legrad_official(model, pixels, temb, layers, relu)
                    data = {"pixels": pixels, "text_embed": temb,
                            "layers": torch.tensor(layers, dtype=torch.float32),
                            "relu": torch.tensor(1.0 if relu else 0.0),
                            "grid_maps": out["grid"], "scores": out["score"], "final": out["final"]}
                    fn = f"{name}_{size}_p{P}_{tag}{'' if relu else '_norelu'}.safetensors"
                    save_safetensors(os.path.join(a.out, fn),
                                     {k: v.contiguous() for k, v in data.items()})
                    line = f"{fn}: max |grid| {float(out['grid'].abs().max()):.3g}"
                    if a.check:
                        cf = closed_form(model, pixels, temb, layers, relu)
                        rel = float((cf - out["grid"]).abs().max() / out["grid"].abs().max())
                        line += f", closed form vs autograd: {rel:.2e} of max"
                    print(line)


if __name__ == "__main__":
    main()
