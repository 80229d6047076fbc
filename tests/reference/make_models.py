"""Builds small random CLIP models and saves them as model directories in HF and OpenCLIP layouts.

Usage (from the repository root, /usr/bin/python3):

    /usr/bin/python3 tests/reference/make_models.py            # tests/fixtures/models/* (committed)
    /usr/bin/python3 tests/reference/make_models.py --bench bench/models/vit_b16   # ViT-B/16-shaped
                                                                # random model, fp16, never committed
As a library (e.g. for LeGrad's autograd reference):

    import sys; sys.path.insert(0, "tests/reference")
    from make_models import tiny_cfg, random_state_dict, save_model_dir
    cfg = tiny_cfg("gelu")                        # width 64, 4 heads, 3 layers, patch 8, image 32
    sd = random_state_dict(cfg, seed=1)           # OpenCLIP naming, torch.float32
    save_model_dir(sd, cfg, "/tmp/m", naming="openclip", dtype="F32")
    from clip_ref import CLIPRef; model = CLIPRef(sd, cfg)

Random weights keep attention non-degenerate (q/k rows scaled up so softmax is far from uniform) and
randomise LayerNorm affine parameters and every bias.  Token ids: vocab V, SOT = V-2, EOT = V-1 (as
CLIP's 49406/49407 are the last two ids).

Models written by default (tests/fixtures/models/<name>/):
  tiny_qg_hf / tiny_qg_oc       QuickGELU, F32, same weights in both layouts (HF config carries the
                                 bogus eos_token_id 2, the file also an I64 position_ids + __metadata__)
  tiny_gelu_hf / tiny_gelu_oc   exact GELU, F16, same weights
  tiny_ls_oc                    exact GELU + LayerScale (ls_1/ls_2 gamma), BF16, OpenCLIP layout
  tiny_vis_hf                   vision-only HF (CLIPVisionModelWithProjection) = tiny_gelu's vision, F16
  tiny_single.safetensors       one OpenCLIP-named file (heads = width/64 as OpenAI's build_model), F16
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clip_ref import cfg_to_hf, cfg_to_openclip, openclip_to_hf  # noqa: E402
from st_io import save_safetensors  # noqa: E402


def tiny_cfg(act="quick_gelu", text=True, ls=None):
    """The fixtures' model shape: vision 64/3 layers/4 heads/MLP 256, patch 8, image 32 (G=4, T=17);
    text 32/2 layers/4 heads/MLP 128, vocab 1000, ctx 77; embed 32."""
    cfg = {"embed_dim": 32, "act": act, "ln_eps": 1e-5,
           "vision": {"width": 64, "layers": 3, "heads": 4, "mlp": 256, "patch": 8, "image_size": 32},
           "text": {"width": 32, "layers": 2, "heads": 4, "mlp": 128, "vocab": 1000, "ctx": 77}
           if text else None}
    if ls is not None:
        cfg["ls_init_value"] = ls
    return cfg


def single_cfg():
    """Shape for the single-file fixture: heads = width/64 (what shape inference assumes)."""
    return {"embed_dim": 32, "act": "quick_gelu", "ln_eps": 1e-5,
            "vision": {"width": 64, "layers": 2, "heads": 1, "mlp": 256, "patch": 8, "image_size": 32},
            "text": {"width": 64, "layers": 1, "heads": 1, "mlp": 256, "vocab": 500, "ctx": 77}}


def vit_b16_cfg():
    """OpenAI ViT-B/16 shape (for the benchmark)."""
    return {"embed_dim": 512, "act": "quick_gelu", "ln_eps": 1e-5,
            "vision": {"width": 768, "layers": 12, "heads": 12, "mlp": 3072, "patch": 16, "image_size": 224},
            "text": {"width": 512, "layers": 12, "heads": 8, "mlp": 2048, "vocab": 49408, "ctx": 77}}


def _tower(sd, g, prefix, tc, ls):
    D, Fm, H = tc["width"], tc["mlp"], tc["heads"]
    d = D // H

    def rn(*shape, s=1.0):
        return torch.randn(*shape, generator=g) * s

    for i in range(tc["layers"]):
        p = f"{prefix}transformer.resblocks.{i}."
        sd[p + "ln_1.weight"] = 1 + rn(D, s=0.2)
        sd[p + "ln_1.bias"] = rn(D, s=0.1)
        w = rn(3 * D, D, s=D ** -0.5)
        w[:2 * D] *= 1.5  # q.k/sqrt(d) std ~2: attention far from uniform, not one-hot
        sd[p + "attn.in_proj_weight"] = w
        sd[p + "attn.in_proj_bias"] = rn(3 * D, s=0.1)
        sd[p + "attn.out_proj.weight"] = rn(D, D, s=D ** -0.5)
        sd[p + "attn.out_proj.bias"] = rn(D, s=0.1)
        sd[p + "ln_2.weight"] = 1 + rn(D, s=0.2)
        sd[p + "ln_2.bias"] = rn(D, s=0.1)
        sd[p + "mlp.c_fc.weight"] = rn(Fm, D, s=D ** -0.5)
        sd[p + "mlp.c_fc.bias"] = rn(Fm, s=0.1)
        sd[p + "mlp.c_proj.weight"] = rn(D, Fm, s=Fm ** -0.5)
        sd[p + "mlp.c_proj.bias"] = rn(D, s=0.1)
        if ls is not None:
            sd[p + "ls_1.gamma"] = ls * (1 + rn(D, s=0.5))
            sd[p + "ls_2.gamma"] = ls * (1 + rn(D, s=0.5))


def random_state_dict(cfg, seed=0):
    """Random OpenCLIP-named state dict (float32) for cfg."""
    g = torch.Generator().manual_seed(seed)
    vc, E = cfg["vision"], cfg["embed_dim"]
    D, P = vc["width"], vc["patch"]
    G = vc["image_size"] // P
    ls = cfg.get("ls_init_value")
    sd = {}

    def rn(*shape, s=1.0):
        return torch.randn(*shape, generator=g) * s

    sd["visual.conv1.weight"] = rn(D, 3, P, P, s=(3 * P * P) ** -0.5)
    sd["visual.class_embedding"] = rn(D, s=0.5)
    sd["visual.positional_embedding"] = rn(G * G + 1, D, s=0.5)
    sd["visual.ln_pre.weight"] = 1 + rn(D, s=0.2)
    sd["visual.ln_pre.bias"] = rn(D, s=0.1)
    _tower(sd, g, "visual.", vc, ls)
    sd["visual.ln_post.weight"] = 1 + rn(D, s=0.2)
    sd["visual.ln_post.bias"] = rn(D, s=0.1)
    sd["visual.proj"] = rn(D, E, s=D ** -0.5)
    tc = cfg.get("text")
    if tc:
        Dt = tc["width"]
        sd["token_embedding.weight"] = rn(tc["vocab"], Dt, s=0.5)
        sd["positional_embedding"] = rn(tc["ctx"], Dt, s=0.2)
        _tower(sd, g, "", tc, ls)
        sd["ln_final.weight"] = 1 + rn(Dt, s=0.2)
        sd["ln_final.bias"] = rn(Dt, s=0.1)
        sd["text_projection"] = rn(Dt, E, s=Dt ** -0.5)
        sd["logit_scale"] = torch.tensor(4.6052)
    return sd


def save_model_dir(sd, cfg, path, naming="openclip", dtype="F32", eos_token_id=None,
                   position_ids=False):
    """Writes a model directory: openclip -> open_clip_config.json + open_clip_model.safetensors;
    hf -> config.json + model.safetensors (vision-only when cfg['text'] is None)."""
    os.makedirs(path, exist_ok=True)
    if naming == "openclip":
        with open(os.path.join(path, "open_clip_config.json"), "w") as f:
            json.dump(cfg_to_openclip(cfg), f, indent=2)
        save_safetensors(os.path.join(path, "open_clip_model.safetensors"), sd, dtype,
                         metadata={"format": "pt"})
        return
    hf = openclip_to_hf(sd, cfg)
    if position_ids:
        hf["vision_model.embeddings.position_ids"] = torch.arange(
            hf["vision_model.embeddings.position_embedding.weight"].shape[0]).reshape(1, -1)
        if cfg.get("text"):
            hf["text_model.embeddings.position_ids"] = torch.arange(cfg["text"]["ctx"]).reshape(1, -1)
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(cfg_to_hf(cfg, eos_token_id), f, indent=2)
    save_safetensors(os.path.join(path, "model.safetensors"), hf, dtype, metadata={"format": "pt"})


def vision_only(sd):
    return {k: v for k, v in sd.items() if k.startswith("visual.")}


def make_fixture_models(root):
    qg = tiny_cfg("quick_gelu")
    sd = random_state_dict(qg, seed=1)
    save_model_dir(sd, qg, os.path.join(root, "tiny_qg_hf"), "hf", "F32", eos_token_id=2,
                   position_ids=True)
    save_model_dir(sd, qg, os.path.join(root, "tiny_qg_oc"), "openclip", "F32")

    ge = tiny_cfg("gelu")
    sd = random_state_dict(ge, seed=2)
    save_model_dir(sd, ge, os.path.join(root, "tiny_gelu_hf"), "hf", "F16")
    save_model_dir(sd, ge, os.path.join(root, "tiny_gelu_oc"), "openclip", "F16")
    vis = tiny_cfg("gelu", text=False)
    save_model_dir(vision_only(sd), vis, os.path.join(root, "tiny_vis_hf"), "hf", "F16")

    ls = tiny_cfg("gelu", ls=0.5)
    save_model_dir(random_state_dict(ls, seed=3), ls, os.path.join(root, "tiny_ls_oc"), "openclip",
                   "BF16")

    sc = single_cfg()
    save_safetensors(os.path.join(root, "tiny_single.safetensors"), random_state_dict(sc, seed=4),
                     "F16")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="tests/fixtures/models")
    ap.add_argument("--bench", help="write a ViT-B/16-shaped random model (fp16, OpenCLIP layout) here")
    a = ap.parse_args()
    torch.set_grad_enabled(False)
    if a.bench:
        cfg = vit_b16_cfg()
        save_model_dir(random_state_dict(cfg, seed=16), cfg, a.bench, "openclip", "F16")
        return
    make_fixture_models(a.out)


if __name__ == "__main__":
    main()
