"""Writes a ViT-B/16-shaped random CLIP model (OpenCLIP layout, fp16) with numpy only, for benchmarks
on machines without torch (tests/reference/make_models.py --bench builds the same shapes with torch).

Usage (repository root):  /usr/bin/python3 bench/make_vit_b16.py [OUT_DIR]   default bench/models/vit_b16

Shapes: OpenAI ViT-B/16: vision width 768, 12 layers, 12 heads, MLP 3072, patch 16, image 224;
text width 512, 12 layers, 8 heads, MLP 2048, vocab 49408, context 77; embedding 512; QuickGELU.
The weights are Gaussian with std width^-0.5 (timing only: the maps mean nothing).  The OpenAI BPE
vocabulary is copied from ../shared/data/clip-bpe when it is there, so legrad() can embed prompts;
without it only the image functions work.  ~300 MB, never committed (bench/models/ is ignored).
"""
import json
import os
import shutil
import struct
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BPE = os.path.join(ROOT, "..", "shared", "data", "clip-bpe", "bpe_simple_vocab_16e6.txt.gz")


def tower(sd, rn, prefix, D, L, F):
    for i in range(L):
        p = f"{prefix}transformer.resblocks.{i}."
        sd[p + "ln_1.weight"] = 1 + rn(D, s=0.2)
        sd[p + "ln_1.bias"] = rn(D, s=0.1)
        sd[p + "attn.in_proj_weight"] = rn(3 * D, D, s=D ** -0.5)
        sd[p + "attn.in_proj_bias"] = rn(3 * D, s=0.1)
        sd[p + "attn.out_proj.weight"] = rn(D, D, s=D ** -0.5)
        sd[p + "attn.out_proj.bias"] = rn(D, s=0.1)
        sd[p + "ln_2.weight"] = 1 + rn(D, s=0.2)
        sd[p + "ln_2.bias"] = rn(D, s=0.1)
        sd[p + "mlp.c_fc.weight"] = rn(F, D, s=D ** -0.5)
        sd[p + "mlp.c_fc.bias"] = rn(F, s=0.1)
        sd[p + "mlp.c_proj.weight"] = rn(D, F, s=F ** -0.5)
        sd[p + "mlp.c_proj.bias"] = rn(D, s=0.1)


def state_dict(seed=16):
    g = np.random.default_rng(seed)

    def rn(*shape, s=1.0):
        return (g.standard_normal(shape, dtype=np.float32) * s).astype(np.float16)

    D, P, S, E, Dt = 768, 16, 224, 512, 512
    G = S // P
    sd = {"visual.conv1.weight": rn(D, 3, P, P, s=(3 * P * P) ** -0.5),
          "visual.class_embedding": rn(D, s=0.5),
          "visual.positional_embedding": rn(G * G + 1, D, s=0.5),
          "visual.ln_pre.weight": 1 + rn(D, s=0.2), "visual.ln_pre.bias": rn(D, s=0.1)}
    tower(sd, rn, "visual.", D, 12, 3072)
    sd.update({"visual.ln_post.weight": 1 + rn(D, s=0.2), "visual.ln_post.bias": rn(D, s=0.1),
               "visual.proj": rn(D, E, s=D ** -0.5),
               "token_embedding.weight": rn(49408, Dt, s=0.5),
               "positional_embedding": rn(77, Dt, s=0.2)})
    tower(sd, rn, "", Dt, 12, 2048)
    sd.update({"ln_final.weight": 1 + rn(Dt, s=0.2), "ln_final.bias": rn(Dt, s=0.1),
               "text_projection": rn(Dt, E, s=Dt ** -0.5),
               "logit_scale": np.array(4.6052, dtype=np.float16)})
    return sd


def save_safetensors(path, sd):
    """huggingface/safetensors layout: u64 header length, JSON header (space-padded to 8), data."""
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    names = sorted(sd)
    for n in names:
        size = sd[n].nbytes
        header[n] = {"dtype": "F16", "shape": list(sd[n].shape), "data_offsets": [offset, offset + size]}
        offset += size
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for n in names:
            f.write(np.ascontiguousarray(sd[n]).astype("<f2").tobytes())


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "bench", "models", "vit_b16")
    os.makedirs(out, exist_ok=True)
    cfg = {"model_cfg": {"embed_dim": 512, "quick_gelu": True,
                         "vision_cfg": {"image_size": 224, "layers": 12, "width": 768, "patch_size": 16,
                                        "head_width": 64, "mlp_ratio": 4.0},
                         "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 512,
                                      "heads": 8, "layers": 12, "mlp_ratio": 4.0}},
           "preprocess_cfg": {"mean": [0.48145466, 0.4578275, 0.40821073],
                              "std": [0.26862954, 0.26130258, 0.27577711],
                              "interpolation": "bicubic", "resize_mode": "shortest"}}
    with open(os.path.join(out, "open_clip_config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    save_safetensors(os.path.join(out, "open_clip_model.safetensors"), state_dict())
    if os.path.isfile(BPE):
        shutil.copy(BPE, os.path.join(out, "bpe_simple_vocab_16e6.txt.gz"))
    else:
        print("make_vit_b16: %s is absent: the model has no tokenizer (image functions only)" % BPE)
    print("wrote", out)


if __name__ == "__main__":
    main()
