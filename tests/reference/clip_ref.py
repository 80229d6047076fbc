"""Pure-torch CLIP reference: OpenCLIP 2.23 ViT + text Transformer with explicit attention.

This is the project's PyTorch reference for the C engine (and LeGrad's autograd reference).  It
reproduces open_clip 2.23 `VisionTransformer` / text `Transformer` numerics (pre-LN blocks, fused
in_proj with rows q;k;v, q scaled by head_dim^-0.5 before q·kᵀ, softmax, LayerScale when present,
ln_post on the CLS token, `x @ proj`; text: causal mask, ln_final, pool at argmax(ids) = first EOT),
with every block's intermediate tensors exposed.  No open_clip / timm / transformers needed.

Usage (run with /usr/bin/python3):

    import sys; sys.path.insert(0, "tests/reference")
    from clip_ref import CLIPRef, load_model_dir
    model = load_model_dir("tests/fixtures/models/tiny_qg_oc")   # HF or OpenCLIP dir, or a file
    trace = []                                  # one dict per block, tensors stay in the graph
    emb = model.encode_image(pixels, trace=trace)   # pixels [B,3,S,S] normalised; any S % P == 0
    # trace[l]: x_in, ln1, q, k, v (q unscaled, [B,H,T,d]), attn [B,H,T,T] (post-softmax),
    #           attn_out (concat heads before out_proj), y, ln2, h (fc1 out), x_out; plus
    #           model.last_pooled (ln_post(CLS)), model.last_tokens (ln_post over all tokens)
    txt = model.encode_text(ids)                # ids [B, n] int64; pools at first EOT (argmax)
    # LeGrad: attn tensors are graph nodes -> torch.autograd.grad(score, trace[l]["attn"])

    model = CLIPRef(state_dict_in_openclip_naming, cfg)   # cfg: see CLIPRef docstring
    sd = hf_to_openclip(hf_state_dict)          # HF CLIPModel naming -> OpenCLIP naming
    hf = openclip_to_hf(sd, cfg)                # and back

Position embeddings for S != native are resampled as LeGrad/timm do (`resample_pos_embed`:
F.interpolate bicubic, antialias=True, align_corners=False on the patch grid, CLS row kept).
"""
import json
import math
import os

import torch
import torch.nn.functional as F

from st_io import load_safetensors


def quick_gelu(x):
    return x * torch.sigmoid(1.702 * x)


def exact_gelu(x):
    return F.gelu(x)


def tanh_gelu(x):
    return F.gelu(x, approximate="tanh")


ACTS = {"quick_gelu": quick_gelu, "gelu": exact_gelu, "gelu_tanh": tanh_gelu}


def resample_pos_embed(pos, new_grid, n_prefix=1):
    """timm resample_abs_pos_embed: pos [n_prefix + G*G, D] -> [n_prefix + new_grid^2, D]."""
    n, d = pos.shape
    old = int(round(math.sqrt(n - n_prefix)))
    assert old * old == n - n_prefix, "position embeddings are not a square grid"
    if old == new_grid:
        return pos
    prefix, grid = pos[:n_prefix], pos[n_prefix:]
    grid = grid.float().reshape(1, old, old, d).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=(new_grid, new_grid), mode="bicubic", antialias=True,
                         align_corners=False)
    grid = grid.permute(0, 2, 3, 1).reshape(new_grid * new_grid, d)
    return torch.cat([prefix, grid], dim=0)


def layer_norm(x, w, b, eps):
    return F.layer_norm(x, (x.shape[-1],), w, b, eps)


class CLIPRef:
    """CLIP built from an OpenCLIP-named state dict.

    cfg = {"embed_dim": E, "act": "quick_gelu" | "gelu" | "gelu_tanh", "ln_eps": 1e-5,
           "vision": {"width", "layers", "heads", "mlp", "patch", "image_size"},
           "text": {"width", "layers", "heads", "mlp", "vocab", "ctx"} or None}
    """

    def __init__(self, sd, cfg):
        self.sd = sd
        self.cfg = cfg
        self.act = ACTS[cfg["act"]]
        self.eps = cfg.get("ln_eps", 1e-5)
        self.last_pooled = None
        self.last_tokens = None

    def _block(self, x, prefix, heads, mask, trace):
        sd, eps = self.sd, self.eps
        B, T, D = x.shape
        d = D // heads
        rec = {"x_in": x}
        h1 = layer_norm(x, sd[prefix + "ln_1.weight"], sd[prefix + "ln_1.bias"], eps)
        qkv = F.linear(h1, sd[prefix + "attn.in_proj_weight"], sd[prefix + "attn.in_proj_bias"])
        q, k, v = qkv.chunk(3, dim=-1)
        q = q.reshape(B, T, heads, d).transpose(1, 2)
        k = k.reshape(B, T, heads, d).transpose(1, 2)
        v = v.reshape(B, T, heads, d).transpose(1, 2)
        scores = (q * d ** -0.5) @ k.transpose(-1, -2)
        if mask is not None:
            scores = scores + mask
        attn = scores.softmax(dim=-1)
        o = (attn @ v).transpose(1, 2).reshape(B, T, D)
        a = F.linear(o, sd[prefix + "attn.out_proj.weight"], sd[prefix + "attn.out_proj.bias"])
        if prefix + "ls_1.gamma" in sd:
            a = a * sd[prefix + "ls_1.gamma"]
        y = x + a
        h2 = layer_norm(y, sd[prefix + "ln_2.weight"], sd[prefix + "ln_2.bias"], eps)
        hpre = F.linear(h2, sd[prefix + "mlp.c_fc.weight"], sd[prefix + "mlp.c_fc.bias"])
        m = F.linear(self.act(hpre), sd[prefix + "mlp.c_proj.weight"], sd[prefix + "mlp.c_proj.bias"])
        if prefix + "ls_2.gamma" in sd:
            m = m * sd[prefix + "ls_2.gamma"]
        out = y + m
        if trace is not None:
            rec.update(ln1=h1, q=q, k=k, v=v, attn=attn, attn_out=o, y=y, ln2=h2, h=hpre, x_out=out)
            trace.append(rec)
        return out

    def pos_embed(self, size):
        """Vision position embeddings [G'^2+1, D] for input side `size` (resampled if needed)."""
        p = self.cfg["vision"]["patch"]
        assert size % p == 0, "image side must be a multiple of the patch size"
        return resample_pos_embed(self.sd["visual.positional_embedding"], size // p)

    def encode_image(self, pixels, trace=None, normalize=False):
        """pixels [B,3,S,S] -> [B,E].  trace: list to receive one dict per block."""
        sd, vc = self.sd, self.cfg["vision"]
        B, _, S, _ = pixels.shape
        p = vc["patch"]
        x = F.conv2d(pixels, sd["visual.conv1.weight"], sd.get("visual.conv1.bias"), stride=p)
        x = x.reshape(B, x.shape[1], -1).permute(0, 2, 1)
        cls = sd["visual.class_embedding"].reshape(1, 1, -1).expand(B, 1, x.shape[-1])
        x = torch.cat([cls, x], dim=1) + self.pos_embed(S)
        x = layer_norm(x, sd["visual.ln_pre.weight"], sd["visual.ln_pre.bias"], self.eps)
        self.last_x0 = x  # block 0 input (after ln_pre)
        for i in range(vc["layers"]):
            x = self._block(x, f"visual.transformer.resblocks.{i}.", vc["heads"], None, trace)
        tokens = layer_norm(x, sd["visual.ln_post.weight"], sd["visual.ln_post.bias"], self.eps)
        self.last_tokens = tokens
        self.last_pooled = tokens[:, 0]
        emb = tokens[:, 0] @ sd["visual.proj"]
        return F.normalize(emb, dim=-1) if normalize else emb

    def encode_text(self, ids, trace=None, normalize=False):
        """ids [B,n] int64 (n <= ctx) -> [B,E]; pools at argmax(ids) (the first EOT id)."""
        sd, tc = self.sd, self.cfg["text"]
        assert tc is not None, "vision-only model"
        B, n = ids.shape
        x = sd["token_embedding.weight"][ids] + sd["positional_embedding"][:n]
        mask = torch.full((n, n), float("-inf")).triu(1)
        for i in range(tc["layers"]):
            x = self._block(x, f"transformer.resblocks.{i}.", tc["heads"], mask, trace)
        x = layer_norm(x, sd["ln_final.weight"], sd["ln_final.bias"], self.eps)
        pooled = x[torch.arange(B), ids.argmax(dim=-1)]
        emb = pooled @ sd["text_projection"]
        return F.normalize(emb, dim=-1) if normalize else emb

    def logit_scale(self):
        return float(self.sd["logit_scale"].exp())


# ---- naming conversion -------------------------------------------------------------------------

_HF_BLOCK = [("layer_norm1", "ln_1"), ("layer_norm2", "ln_2"), ("self_attn.out_proj", "attn.out_proj"),
             ("mlp.fc1", "mlp.c_fc"), ("mlp.fc2", "mlp.c_proj")]


def _hf_tower_to_oc(sd, hf_prefix, oc_prefix, out):
    i = 0
    while f"{hf_prefix}encoder.layers.{i}.layer_norm1.weight" in sd:
        h = f"{hf_prefix}encoder.layers.{i}."
        o = f"{oc_prefix}transformer.resblocks.{i}."
        for a, b in _HF_BLOCK:
            for s in ("weight", "bias"):
                out[o + b + "." + s] = sd[h + a + "." + s]
        for s in ("weight", "bias"):
            out[o + "attn.in_proj_" + s] = torch.cat(
                [sd[h + f"self_attn.{n}_proj.{s}"] for n in ("q", "k", "v")], dim=0)
        i += 1


def hf_to_openclip(sd):
    """HF CLIPModel (or CLIPVisionModelWithProjection) state dict -> OpenCLIP naming."""
    out = {}
    v = "vision_model."
    out["visual.conv1.weight"] = sd[v + "embeddings.patch_embedding.weight"]
    out["visual.class_embedding"] = sd[v + "embeddings.class_embedding"]
    out["visual.positional_embedding"] = sd[v + "embeddings.position_embedding.weight"]
    out["visual.ln_pre.weight"] = sd[v + "pre_layrnorm.weight"]
    out["visual.ln_pre.bias"] = sd[v + "pre_layrnorm.bias"]
    out["visual.ln_post.weight"] = sd[v + "post_layernorm.weight"]
    out["visual.ln_post.bias"] = sd[v + "post_layernorm.bias"]
    out["visual.proj"] = sd["visual_projection.weight"].t().contiguous()
    _hf_tower_to_oc(sd, v, "visual.", out)
    if "text_model.embeddings.token_embedding.weight" in sd:
        t = "text_model."
        out["token_embedding.weight"] = sd[t + "embeddings.token_embedding.weight"]
        out["positional_embedding"] = sd[t + "embeddings.position_embedding.weight"]
        out["ln_final.weight"] = sd[t + "final_layer_norm.weight"]
        out["ln_final.bias"] = sd[t + "final_layer_norm.bias"]
        out["text_projection"] = sd["text_projection.weight"].t().contiguous()
        _hf_tower_to_oc(sd, t, "", out)
    if "logit_scale" in sd:
        out["logit_scale"] = sd["logit_scale"].reshape(())
    return out


def _oc_tower_to_hf(sd, oc_prefix, hf_prefix, layers, out):
    for i in range(layers):
        h = f"{hf_prefix}encoder.layers.{i}."
        o = f"{oc_prefix}transformer.resblocks.{i}."
        for a, b in _HF_BLOCK:
            for s in ("weight", "bias"):
                out[h + a + "." + s] = sd[o + b + "." + s]
        for s in ("weight", "bias"):
            q, k, v = sd[o + "attn.in_proj_" + s].chunk(3, dim=0)
            out[h + f"self_attn.q_proj.{s}"] = q.contiguous()
            out[h + f"self_attn.k_proj.{s}"] = k.contiguous()
            out[h + f"self_attn.v_proj.{s}"] = v.contiguous()


def openclip_to_hf(sd, cfg):
    """OpenCLIP-named state dict -> HF CLIPModel naming (vision-only when cfg['text'] is None)."""
    out = {}
    v = "vision_model."
    out[v + "embeddings.patch_embedding.weight"] = sd["visual.conv1.weight"]
    out[v + "embeddings.class_embedding"] = sd["visual.class_embedding"]
    out[v + "embeddings.position_embedding.weight"] = sd["visual.positional_embedding"]
    out[v + "pre_layrnorm.weight"] = sd["visual.ln_pre.weight"]
    out[v + "pre_layrnorm.bias"] = sd["visual.ln_pre.bias"]
    out[v + "post_layernorm.weight"] = sd["visual.ln_post.weight"]
    out[v + "post_layernorm.bias"] = sd["visual.ln_post.bias"]
    out["visual_projection.weight"] = sd["visual.proj"].t().contiguous()
    _oc_tower_to_hf(sd, "visual.", v, cfg["vision"]["layers"], out)
    if cfg.get("text"):
        t = "text_model."
        out[t + "embeddings.token_embedding.weight"] = sd["token_embedding.weight"]
        out[t + "embeddings.position_embedding.weight"] = sd["positional_embedding"]
        out[t + "final_layer_norm.weight"] = sd["ln_final.weight"]
        out[t + "final_layer_norm.bias"] = sd["ln_final.bias"]
        out["text_projection.weight"] = sd["text_projection"].t().contiguous()
        _oc_tower_to_hf(sd, "", t, cfg["text"]["layers"], out)
        out["logit_scale"] = sd["logit_scale"].reshape(())
    return out


# ---- configs -----------------------------------------------------------------------------------

def cfg_to_openclip(cfg):
    """Internal cfg -> open_clip_config.json content (model_cfg schema of open_clip 2.23)."""
    vc = cfg["vision"]
    mc = {"embed_dim": cfg["embed_dim"],
          "vision_cfg": {"image_size": vc["image_size"], "layers": vc["layers"], "width": vc["width"],
                         "patch_size": vc["patch"], "head_width": vc["width"] // vc["heads"],
                         "mlp_ratio": vc["mlp"] / vc["width"]}}
    if cfg["act"] == "quick_gelu":
        mc["quick_gelu"] = True
    if cfg.get("ls_init_value") is not None:
        mc["vision_cfg"]["ls_init_value"] = cfg["ls_init_value"]
    if cfg.get("text"):
        tc = cfg["text"]
        mc["text_cfg"] = {"context_length": tc["ctx"], "vocab_size": tc["vocab"], "width": tc["width"],
                          "heads": tc["heads"], "layers": tc["layers"], "mlp_ratio": tc["mlp"] / tc["width"]}
        if cfg.get("ls_init_value") is not None:
            mc["text_cfg"]["ls_init_value"] = cfg["ls_init_value"]
    return {"model_cfg": mc,
            "preprocess_cfg": {"mean": [0.48145466, 0.4578275, 0.40821073],
                               "std": [0.26862954, 0.26130258, 0.27577711],
                               "interpolation": "bicubic", "resize_mode": "shortest"}}


def cfg_to_hf(cfg, eos_token_id=None):
    """Internal cfg -> HF config.json content (CLIPConfig)."""
    vc = cfg["vision"]
    act = {"quick_gelu": "quick_gelu", "gelu": "gelu", "gelu_tanh": "gelu_pytorch_tanh"}[cfg["act"]]
    v = {"hidden_size": vc["width"], "intermediate_size": vc["mlp"], "num_attention_heads": vc["heads"],
         "num_hidden_layers": vc["layers"], "image_size": vc["image_size"], "patch_size": vc["patch"],
         "hidden_act": act, "layer_norm_eps": cfg.get("ln_eps", 1e-5), "projection_dim": cfg["embed_dim"]}
    out = {"architectures": ["CLIPModel"], "model_type": "clip", "projection_dim": cfg["embed_dim"],
           "vision_config": v}
    if cfg.get("text"):
        tc = cfg["text"]
        out["text_config"] = {"hidden_size": tc["width"], "intermediate_size": tc["mlp"],
                              "num_attention_heads": tc["heads"], "num_hidden_layers": tc["layers"],
                              "vocab_size": tc["vocab"], "max_position_embeddings": tc["ctx"],
                              "hidden_act": act, "bos_token_id": tc["vocab"] - 2,
                              "eos_token_id": tc["vocab"] - 1 if eos_token_id is None else eos_token_id}
    else:
        out["architectures"] = ["CLIPVisionModelWithProjection"]
        out["model_type"] = "clip_vision_model"
        out.update(v)
        del out["vision_config"]
    return out


def _count_layers(sd, prefix):
    n = 0
    while f"{prefix}transformer.resblocks.{n}.ln_1.weight" in sd:
        n += 1
    return n


def cfg_from_openclip(oc_json, sd):
    """open_clip_config.json (dict) + OpenCLIP state dict -> internal cfg."""
    mc = oc_json["model_cfg"]
    vc = mc["vision_cfg"]
    w = vc["width"]
    cfg = {"embed_dim": mc["embed_dim"], "act": "quick_gelu" if mc.get("quick_gelu") else "gelu",
           "vision": {"width": w, "layers": vc["layers"], "heads": w // vc.get("head_width", 64),
                      "mlp": int(w * vc.get("mlp_ratio", 4.0)), "patch": vc["patch_size"],
                      "image_size": vc["image_size"]}, "text": None}
    tc = mc.get("text_cfg")
    if tc and "token_embedding.weight" in sd:
        tw = tc.get("width", 512)
        cfg["text"] = {"width": tw, "layers": tc.get("layers", 12), "heads": tc.get("heads", 8),
                       "mlp": int(tw * tc.get("mlp_ratio", 4.0)), "vocab": tc.get("vocab_size", 49408),
                       "ctx": tc.get("context_length", 77)}
    return cfg


def cfg_from_shapes(sd):
    """Hyper-parameters from an OpenCLIP-named state dict, as OpenAI's build_model does."""
    w = sd["visual.conv1.weight"].shape[0]
    pos = sd["visual.positional_embedding"].shape[0]
    grid = int(round(math.sqrt(pos - 1)))
    patch = sd["visual.conv1.weight"].shape[-1]
    cfg = {"embed_dim": sd["visual.proj"].shape[1], "act": "quick_gelu",
           "vision": {"width": w, "layers": _count_layers(sd, "visual."), "heads": max(1, w // 64),
                      "mlp": sd["visual.transformer.resblocks.0.mlp.c_fc.weight"].shape[0],
                      "patch": patch, "image_size": grid * patch}, "text": None}
    if "token_embedding.weight" in sd:
        tw = sd["ln_final.weight"].shape[0]
        cfg["text"] = {"width": tw, "layers": _count_layers(sd, ""), "heads": max(1, tw // 64),
                       "mlp": sd["transformer.resblocks.0.mlp.c_fc.weight"].shape[0],
                       "vocab": sd["token_embedding.weight"].shape[0],
                       "ctx": sd["positional_embedding"].shape[0]}
    return cfg


def cfg_from_hf(hf_json):
    """HF config.json (dict; sparse configs take the CLIPConfig class defaults) -> internal cfg."""
    if hf_json.get("model_type") == "clip_vision_model" and "vision_config" not in hf_json:
        vj, tj = hf_json, None
    else:
        vj = dict(hf_json.get("vision_config") or {})
        vj.update(hf_json.get("vision_config_dict") or {})
        tj = dict(hf_json.get("text_config") or {})
        tj.update(hf_json.get("text_config_dict") or {})
    acts = {"quick_gelu": "quick_gelu", "gelu": "gelu", "gelu_pytorch_tanh": "gelu_tanh",
            "gelu_new": "gelu_tanh"}
    cfg = {"embed_dim": hf_json.get("projection_dim", 512),
           "act": acts[vj.get("hidden_act", "quick_gelu")],
           "ln_eps": vj.get("layer_norm_eps", 1e-5),
           "vision": {"width": vj.get("hidden_size", 768), "layers": vj.get("num_hidden_layers", 12),
                      "heads": vj.get("num_attention_heads", 12), "mlp": vj.get("intermediate_size", 3072),
                      "patch": vj.get("patch_size", 32), "image_size": vj.get("image_size", 224)},
           "text": None}
    if tj is not None:
        cfg["text"] = {"width": tj.get("hidden_size", 512), "layers": tj.get("num_hidden_layers", 12),
                       "heads": tj.get("num_attention_heads", 8), "mlp": tj.get("intermediate_size", 2048),
                       "vocab": tj.get("vocab_size", 49408), "ctx": tj.get("max_position_embeddings", 77)}
    return cfg


def load_model_dir(path):
    """Loads a model directory (HF or OpenCLIP layout) or a single OpenCLIP-named .safetensors."""
    if os.path.isfile(path):
        sd = load_safetensors(path)
        if "vision_model.pre_layrnorm.weight" in sd:
            sd = hf_to_openclip(sd)
        return CLIPRef(sd, cfg_from_shapes(sd))
    oc_cfg = os.path.join(path, "open_clip_config.json")
    if os.path.exists(oc_cfg):
        sd = load_safetensors(os.path.join(path, "open_clip_model.safetensors"))
        with open(oc_cfg) as f:
            cfg = cfg_from_openclip(json.load(f), sd)
        return CLIPRef(sd, cfg)
    with open(os.path.join(path, "config.json")) as f:
        hf_json = json.load(f)
    sd = hf_to_openclip(load_safetensors(os.path.join(path, "model.safetensors")))
    cfg = cfg_from_hf(hf_json)
    if "token_embedding.weight" not in sd:
        cfg["text"] = None
    return CLIPRef(sd, cfg)
