#!/usr/bin/python3
"""Train the built-in CLIP on synthetic shapes (CPU, Debian python3-torch) and export it for the engine.

Usage:
    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 /usr/bin/python3 samples/train.py --out DIR \
        [--steps 2400] [--batch 64] [--seed 0] [--init DIR --data-seed N] [options below]

The shipped model is two runs of this script (samples/train_recipe.sh): stage 1 with the defaults
from random weights, stage 2 from stage 1's export with --init, --data-seed 1, --lr 5e-4,
--warmup 100, --mil 3, --hard-frac 0.9.  Recipe and results: docs/model-card.md.
  * data: samples/gen_dataset.make_sample, generated on the fly (never repeats), 64 px, 1-3 objects;
    --hard-frac (default 0.75) of the multi-object images have two objects sharing a colour or a
    shape (the held-out set keeps 0.4);
  * captions name a random non-empty subset of the image's objects, in random order, as
    "a photo of a red circle and a blue star"; 15 % of the phrases name the shape only ("a star");
  * text candidates per step = the batch captions + the 42 colour-shape prompts + the 6 shape prompts;
  * loss: symmetric contrastive loss with learned temperature where EVERY true (image, text) pair
    counts as a positive: -log(sum of softmax over the positives), image->text and text->image;
  * plus --mil W (default 2) times the token-level multiple-instance loss (mil_loss) at each of the
    --mil-layers blocks (default the last two, the blocks LeGrad reads by default), averaged over
    them: each patch token's value contribution through the block's attention (dense_embeddings
    "value") is projected like the image embedding, the image-prompt score is the best token's
    cosine with the prompt, and the same multi-positive loss runs over the 48 fixed prompts.  Only
    the image-level labels the captions carry are used, never the masks;
  * model: OpenAI CLIP architecture, ViT patch 8 on 64 px, width 128, 4 layers, 4 heads; text width
    128, 4 layers, BPE vocabulary trained on the caption words; embed 128;
  * AdamW lr 1e-3, betas (0.9, 0.98), weight decay 0.05, 200 warm-up steps, cosine decay to 0 at --steps;
  * experiments (off by default; results in docs/model-card.md): --patch 4 (16 x 16 grid),
    --mask-ratio (FLIP-style patch dropping), --aux-mean (contrastive loss on LeGrad's mean-pooled
    per-layer embedding), --mil-feat resid, --mil-excl, --mil-shape, --mil-attn (variants of the
    token-level loss, see their functions).
Every --eval-every steps: zero-shot accuracy on 512 generated validation images, and LeGrad pointing
(probe.py) on --val-pointing generated images (seeds 10000/30000/40000 + --seed, never the held-out
set), logged and kept in training.json's history.
Speed: run one process per core with OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 (two threads were
slower than one here: Debian's torch spins OpenMP against OpenBLAS).  With glibc's allocator told
to keep its memory (MALLOC_MMAP_THRESHOLD_=4294967296 MALLOC_TRIM_THRESHOLD_=68719476736
MALLOC_TOP_PAD_=1073741824) 25 patch-4 steps took 50.8 s instead of 68.3 s (kernel time 10 s
instead of 31 s, spent mapping and zeroing the large attention tensors); the weights are the same.
Measurements: docs/benchmarks.md.
The HF directory is re-exported at every evaluation, so an interrupted run still leaves a model;
with --init, the starting model's training.json is kept in the new one under "init_training".
Seeded: the same seed, step count and thread count give the same weights.
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "reference"))
import gen_dataset as gd  # noqa: E402
import probe  # noqa: E402
import tinyclip as tc  # noqa: E402
from st_io import save_safetensors  # noqa: E402

NS, NC = len(gd.SHAPES), len(gd.COLOUR_NAMES)
NFEAT = NS * NC + NS   # colour-shape combinations, then shape-only features


def phrase_prompts():
    """The 48 fixed text candidates: 42 'a photo of a <colour> <shape>' then 6 'a photo of a <shape>'."""
    p = ["a photo of a %s %s" % (c, s) for s in gd.SHAPES for c in gd.COLOUR_NAMES]
    return p + ["a photo of a %s" % s for s in gd.SHAPES]


def caption_for(rng, objs):
    """A caption naming a random non-empty subset of objs and its feature requirements [NFEAT]."""
    n = len(objs)
    if rng.random() < 0.5:
        idx = list(rng.permutation(n))
    else:
        k = int(rng.integers(1, n + 1))
        idx = list(rng.permutation(n)[:k])
    req = np.zeros(NFEAT, np.float32)
    phrases = []
    for i in idx:
        s, c = gd.SHAPES.index(objs[i]["shape"]), gd.COLOUR_NAMES.index(objs[i]["colour"])
        if rng.random() < 0.15:
            phrases.append(gd.SHAPES[s])
            req[NS * NC + s] = 1
        else:
            phrases.append("%s %s" % (gd.COLOUR_NAMES[c], gd.SHAPES[s]))
            req[s * NC + c] = 1
    return "a photo of a " + " and a ".join(phrases), req


def features(objs):
    f = np.zeros(NFEAT, np.float32)
    for o in objs:
        s, c = gd.SHAPES.index(o["shape"]), gd.COLOUR_NAMES.index(o["colour"])
        f[s * NC + c] = 1
        f[NS * NC + s] = 1
    return f


def fixed_requirements():
    r = np.zeros((NFEAT, NFEAT), np.float32)
    np.fill_diagonal(r, 1)
    return r


def make_batch(rng, n, size, hard_p=0.4):
    imgs, feats, caps, reqs, objss = [], [], [], [], []
    for _ in range(n):
        img, _, objs = gd.make_sample(rng, size, hard_p)
        imgs.append(img)
        feats.append(features(objs))
        c, r = caption_for(rng, objs)
        caps.append(c)
        reqs.append(r)
        objss.append(objs)
    return np.stack(imgs), np.stack(feats), caps, np.stack(reqs), objss


def vision_tokens_masked(model, pixels, ratio, keep_out=None, keep_v=None):
    """Training forward of the vision tower with FLIP-style random patch dropping.

    pixels [B,3,S,S] normalised.  A random share `ratio` of the G*G patch tokens of each image is
    dropped after the position embedding is added (CLS always kept); the blocks then run on the
    remaining [B, 1 + keep, D] tokens.  ratio 0 is exactly model.vision_tokens.  Inference (the
    engine, evaluate.py) always sees every token."""
    if ratio <= 0:
        return model.vision_tokens(pixels, keep_out=keep_out, keep_v=keep_v)
    x = model.vision_embed(pixels)
    n = x.shape[1] - 1
    keep = max(1, n - int(round(ratio * n)))
    idx = torch.rand(x.shape[0], n).argsort(1)[:, :keep] + 1
    x = torch.cat([x[:, :1], torch.gather(x, 1, idx[:, :, None].expand(-1, -1, x.shape[2]))], 1)
    return model.vision_blocks(x, keep_out=keep_out, keep_v=keep_v)


def multi_positive_loss(logits, pos):
    """Mean over rows with >= 1 positive of -log(sum_{pos} softmax(row))."""
    keep = pos.any(1)
    lg, ps = logits[keep], pos[keep]
    return (torch.logsumexp(lg, 1) - torch.logsumexp(lg.masked_fill(~ps, float("-inf")), 1)).mean()


def dense_embeddings(model, layer, outs, vals, kind):
    """Per-patch-token embeddings [B, N-1, E] (normalised) of block `layer` for the MIL loss.

    kind "value": the token's value contribution through the block's attention output,
    out_proj.weight @ v_j (heads concatenated, no bias), centred and scaled like ln_post
    (ln_post's weight; no bias, no variance: the result is normalised), then proj.  This is what
    LeGrad's gradient with respect to block `layer`'s attention reads for key token j.
    kind "resid": the block's output token z_j through ln_post and proj (MaskCLIP-style)."""
    if kind == "value":
        v = vals[layer]                                   # [B, H, N, d]
        B, H, N, d = v.shape
        c = F.linear(v.transpose(1, 2).reshape(B, N, H * d), model.vblocks[layer].out_proj.weight)
        c = (c - c.mean(-1, keepdim=True)) * model.post_layernorm.weight
        e = model.visual_projection(c)
    else:
        e = model.visual_projection(model.post_layernorm(outs[layer]))
    return F.normalize(e[:, 1:], dim=-1)


def mil_loss(dense, t_fixed, pos_fixed, scale):
    """Multiple-instance contrastive loss: the image-prompt score is the best patch token's cosine.

    dense [B, N-1, E] normalised, t_fixed [P, E] normalised single-object prompts, pos_fixed [B, P]
    (prompt p names an object of image b).  Symmetric multi-positive loss over max_j cos."""
    s = (dense @ t_fixed.T).max(1)[0] * scale            # [B, P]
    return 0.5 * (multi_positive_loss(s, pos_fixed) + multi_positive_loss(s.T, pos_fixed.T))


def exclusive_mil_loss(dense, t_pairs, pos_pairs, scale):
    """Within-image competition: every object the image holds must win some token.

    dense [B, N-1, E] normalised token embeddings, t_pairs [Q, E] the normalised colour-shape prompts,
    pos_pairs [B, Q] (prompt q names an object of image b).  Each token's scores over the Q prompts
    go through a softmax; for every prompt the image holds, the best token's log-probability of that
    prompt is maximised.  A red square's tokens can then not also be the red circle's best evidence:
    shape must separate same-colour objects token by token.  No masks are used, only the labels the
    captions carry."""
    logp = ((dense @ t_pairs.T) * scale).log_softmax(-1)          # [B, N-1, Q]
    best = logp.max(1)[0]                                            # [B, Q]
    return -(best * pos_pairs).sum() / pos_pairs.sum().clamp(min=1)


def attention_mil_loss(dense, t_pairs, pos_pairs, scale):
    """Attention-pooling MIL: where a prompt looks must hold that object, not another one.

    dense [B, N-1, E] normalised token embeddings, t_pairs [Q, E] the normalised colour-shape prompts,
    pos_pairs [B, Q] bool (prompt q names an object of image b).  In every image that holds two or
    more objects, for each prompt q it holds, the tokens are pooled with weights
    softmax_j(scale * cos(token j, q)), the prompt's own spatial ranking, and the pooled embedding must
    be classified as q among the prompts of the image's objects.  If a red circle's ranking favours a
    red square's tokens, the pooled embedding reads as a red square and the loss pushes the ranking
    back onto the circle.  Only the image's own objects compete, so spreading one object's evidence
    over the whole image is penalised, not rewarded.  Image-level labels only; no masks."""
    multi = pos_pairs.sum(1) >= 2
    if not multi.any():
        return dense.sum() * 0.0
    dense, pos_pairs = dense[multi], pos_pairs[multi]
    s = dense @ t_pairs.T * scale                                    # [B', N-1, Q]
    w = s.softmax(1)                                                 # spatial weights per prompt
    pooled = F.normalize(torch.einsum("bjq,bje->bqe", w, dense), dim=-1)   # [B', Q, E]
    logits = pooled @ t_pairs.T * scale                              # [B', Q (pooled for), Q (class)]
    logits = logits.masked_fill(~pos_pairs[:, None, :], float("-inf"))
    b, q = pos_pairs.nonzero(as_tuple=True)
    return F.cross_entropy(logits[b, q], q)


def tokenizer_from_corpus():
    """BPE merges learned on every word our captions use; vocab in CLIP order (SOT, EOT last)."""
    words = phrase_prompts() + ["a photo of a red circle and a blue star"]
    merges = tc.train_bpe(words)
    return tc.Tokenizer(tc.vocab_from_merges(merges), merges), merges


@torch.no_grad()
def zero_shot(model, tok, imgs, objss):
    """(single-object top-1 accuracy, any-object top-1 accuracy) over the 42 colour-shape prompts."""
    model.eval()
    t = F.normalize(model.encode_text(tok.batch(phrase_prompts()[:NS * NC])), dim=-1)
    e = F.normalize(model.encode_image(tc.normalise(imgs)), dim=-1)
    pred = (e @ t.T).argmax(1).numpy()
    single = hit_single = hit_any = 0
    for p, objs in zip(pred, objss):
        names = {gd.SHAPES.index(o["shape"]) * NC + gd.COLOUR_NAMES.index(o["colour"]) for o in objs}
        hit_any += int(p in names)
        if len(objs) == 1:
            single += 1
            hit_single += int(p in names)
    model.train()
    return hit_single / max(single, 1), hit_any / len(objss)


def export(model, tok, merges, out, wall_s, step, extra):
    os.makedirs(out, exist_ok=True)
    cfg = tc.hf_config(model.cfg, len(tok.encoder), tok.eot, tok.sot)
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    pre = {"do_resize": True, "size": {"shortest_edge": model.cfg["vision"]["image_size"]},
           "do_center_crop": True,
           "crop_size": {"height": model.cfg["vision"]["image_size"], "width": model.cfg["vision"]["image_size"]},
           "do_normalize": True, "image_mean": list(tc.MEAN), "image_std": list(tc.STD),
           "resample": 3, "do_convert_rgb": True, "image_processor_type": "CLIPImageProcessor"}
    with open(os.path.join(out, "preprocessor_config.json"), "w") as f:
        json.dump(pre, f, indent=2)
    tok.save(out, merges)
    save_safetensors(os.path.join(out, "model.safetensors"), model.hf_state(), metadata={"format": "pt"})
    with open(os.path.join(out, "training.json"), "w") as f:
        json.dump(dict(step=step, wall_s=round(wall_s, 1), **extra), f, indent=2)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True,
                    help="directory to export to (samples/train_recipe.sh writes samples/model)")
    ap.add_argument("--steps", type=int, default=2400)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--patch", type=int, default=8)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--mask-ratio", type=float, default=0.0,
                    help="share of patch tokens dropped at random in each training image (FLIP); 0 = off")
    ap.add_argument("--hard-frac", type=float, default=0.75,
                    help="share of multi-object training images where two objects share a colour or a shape")
    ap.add_argument("--aux-mean", type=float, default=0.0,
                    help="weight of the contrastive loss on LeGrad's mean-pooled per-layer embeddings (0 = off)")
    ap.add_argument("--aux-layers", type=int, default=2, help="number of last blocks that get the auxiliary loss")
    ap.add_argument("--heads", type=int, default=0, help="attention heads per block (0 = width / 32)")
    ap.add_argument("--mil", type=float, default=2.0,
                    help="weight of the token-level multiple-instance contrastive loss (0 = off)")
    ap.add_argument("--mil-layers", default="-2,-1", help="blocks (Python indices) that get the MIL loss")
    ap.add_argument("--mil-feat", choices=["value", "resid"], default="value",
                    help="token embedding of the MIL loss (see dense_embeddings)")
    ap.add_argument("--mil-excl", type=float, default=0.0,
                    help="weight of the within-image exclusive MIL loss (exclusive_mil_loss; 0 = off)")
    ap.add_argument("--mil-shape", type=float, default=0.0,
                    help="weight of the MIL loss over the 6 shape-only prompts alone (0 = off)")
    ap.add_argument("--mil-attn", type=float, default=0.0,
                    help="weight of the attention-pooling MIL loss (attention_mil_loss; 0 = off)")
    ap.add_argument("--init", help="start from this exported model directory instead of random weights "
                                   "(its config.json then gives the architecture and image size)")
    ap.add_argument("--data-seed", type=int, default=None,
                    help="seed of the training-image stream (default: --seed); give a new one when continuing with --init")
    ap.add_argument("--val-pointing", type=int, default=200,
                    help="validation images for LeGrad pointing at each evaluation (0 = off)")
    a = ap.parse_args()

    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed if a.data_seed is None else a.data_seed)
    tok, merges = tokenizer_from_corpus()
    heads = a.heads or a.width // 32
    cfg = {"embed_dim": a.width,
           "vision": {"width": a.width, "mlp": 4 * a.width, "heads": heads, "layers": a.layers,
                      "image_size": a.size, "patch": a.patch},
           "text": {"width": a.width, "mlp": 4 * a.width, "heads": heads, "layers": a.layers,
                    "vocab": len(tok.encoder), "context": 77}}
    model = tc.TinyCLIP.from_dir(a.init) if a.init else tc.TinyCLIP(cfg)
    init_record = None   # the starting model's own training.json, kept in ours so the recipe stays traceable
    if a.init and os.path.exists(os.path.join(a.init, "training.json")):
        with open(os.path.join(a.init, "training.json")) as f:
            init_record = json.load(f)
    L, size = model.cfg["vision"]["layers"], model.cfg["vision"]["image_size"]
    token_losses = any(w > 0 for w in (a.mil, a.mil_excl, a.mil_shape, a.mil_attn))
    mil_layers = sorted({int(x) % L for x in a.mil_layers.split(",")}) if token_losses else []
    layer_sets = {"last2": list(range(max(0, L - 2), L)), "all": list(range(L))}
    aux_layers = list(range(max(0, a.layers - a.aux_layers), a.layers)) if a.aux_mean > 0 else []
    nparam = sum(p.numel() for p in model.parameters())
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": rest, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.98), eps=1e-6)
    fixed_ids = tok.batch(phrase_prompts())
    fixed_req = torch.from_numpy(fixed_requirements())
    vrng = np.random.default_rng(10_000 + a.seed)
    vimgs, _, _, _, vobjs = make_batch(vrng, 512, size)
    pval = probe.ValSet(np.random.default_rng(30_000 + a.seed), a.val_pointing, size) if a.val_pointing else None
    sval = probe.ValSet(np.random.default_rng(40_000 + a.seed), a.val_pointing, size, hard_p=1.0,
                        same_colour=True) if a.val_pointing else None
    print("params %d  vocab %d  threads %d" % (nparam, len(tok.encoder), torch.get_num_threads()), flush=True)

    t0 = time.time()
    hist = []
    for step in range(1, a.steps + 1):
        lr = a.lr * min(1.0, step / a.warmup) * 0.5 * (1 + math.cos(math.pi * min(1.0, step / a.steps)))
        for g in opt.param_groups:
            g["lr"] = lr
        imgs, feats, caps, reqs, _ = make_batch(rng, a.batch, size, a.hard_frac)
        ids = tok.batch(caps)
        n = max(ids.shape[1], fixed_ids.shape[1])
        all_ids = torch.cat([F.pad(ids, (0, n - ids.shape[1])), F.pad(fixed_ids, (0, n - fixed_ids.shape[1]))])
        req = torch.cat([torch.from_numpy(reqs), fixed_req])
        feat = torch.from_numpy(feats)
        pos = ((1 - feat) @ req.T) == 0          # [B, B + 48]: text j is true for image i
        outs, vals = [], []
        tokens = vision_tokens_masked(model, tc.normalise(imgs), a.mask_ratio, keep_out=outs, keep_v=vals)
        e = F.normalize(model.visual_projection(model.post_layernorm(tokens[:, 0])), dim=-1)
        t = F.normalize(model.encode_text(all_ids), dim=-1)
        scale = model.logit_scale.exp()
        logits = scale * e @ t.T
        loss = 0.5 * (multi_positive_loss(logits, pos) + multi_positive_loss(logits.T, pos.T))
        for l in aux_layers:  # LeGrad's per-layer embedding: ln_post(mean of all tokens) @ proj
            f = F.normalize(model.visual_projection(model.post_layernorm(outs[l].mean(1))), dim=-1)
            la = scale * f @ t.T
            loss = loss + a.aux_mean / len(aux_layers) * 0.5 * (
                multi_positive_loss(la, pos) + multi_positive_loss(la.T, pos.T))
        if mil_layers:
            pos_fixed = pos[:, a.batch:]
            for l in mil_layers:
                dense = dense_embeddings(model, l, outs, vals, a.mil_feat)
                if a.mil > 0:
                    loss = loss + a.mil / len(mil_layers) * mil_loss(dense, t[a.batch:], pos_fixed, scale)
                if a.mil_shape > 0:   # shape without colour: same-colour objects must differ token by token
                    loss = loss + a.mil_shape / len(mil_layers) * mil_loss(
                        dense, t[a.batch + NS * NC:], pos_fixed[:, NS * NC:], scale)
                if a.mil_attn > 0:
                    loss = loss + a.mil_attn / len(mil_layers) * attention_mil_loss(
                        dense, t[a.batch:a.batch + NS * NC], pos_fixed[:, :NS * NC], scale)
                if a.mil_excl > 0:
                    loss = loss + a.mil_excl / len(mil_layers) * exclusive_mil_loss(
                        dense, t[a.batch:a.batch + NS * NC], pos_fixed[:, :NS * NC].float(), scale)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        if step % 25 == 0:
            print("step %5d  loss %.4f  lr %.2e  scale %.1f  %.1fs" %
                  (step, loss.item(), lr, model.logit_scale.exp().item(), time.time() - t0), flush=True)
        if step % a.eval_every == 0 or step == a.steps:
            zs1, zsa = zero_shot(model, tok, vimgs, vobjs)
            rec = {"step": step, "wall_s": round(time.time() - t0, 1), "zs_single": zs1, "zs_any": zsa}
            msg = ""
            if pval is not None:
                pt = probe.pointing_scores(model, tok, pval, layer_sets)
                for k, v in pt.items():
                    rec.update({"pointing_" + k: v["pointing"], "pointing_hard_" + k: v["pointing_hard"],
                                "mass_in_" + k: v["mass_in"]})
                    msg += "  pointing %s %.3f (hard %.3f) mass-in %.3f" % (
                        k, v["pointing"], v["pointing_hard"], v["mass_in"])
            if sval is not None:
                sc = probe.pointing_scores(model, tok, sval, {"last2": layer_sets["last2"]})["last2"]
                rec["pointing_same_colour_last2"] = sc["pointing"]
                msg += "  same-colour %.3f" % sc["pointing"]
            hist.append(rec)
            print("eval step %d  zero-shot single %.3f  any %.3f%s" % (step, zs1, zsa, msg), flush=True)
            export(model, tok, merges, a.out, time.time() - t0, step,
                   {"params": nparam, "args": vars(a), "history": hist,
                    "threads": os.environ.get("OPENBLAS_NUM_THREADS"), "init_training": init_record})
    print("done %.1fs" % (time.time() - t0), flush=True)


if __name__ == "__main__":
    main()
