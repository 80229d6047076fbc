"""Batched LeGrad on the training model (tinyclip.TinyCLIP): validation pointing during training.

Used by samples/train.py to log, next to zero-shot accuracy, how well LeGrad localises while the
model trains, on a validation set generated from its own seed (never the committed held-out set,
which stays for the final numbers of samples/evaluate.py).

    from probe import ValSet, legrad_maps, pointing_scores
    vs = ValSet(rng, n=256, size=64)                 # images, masks, objects, one pair per object
    maps = legrad_maps(model, pixels, temb, layers)  # [B, S, S] summed upsampled maps (not min-maxed)
    res = pointing_scores(model, tok, vs, layers)    # {"pointing": ..., "pointing_hard": ..., ...}

Semantics are the official ones (tests/reference/ref_legrad.py legrad_official), batched over
(image, prompt) pairs instead of one image at a time: per chosen block l, score
s_l = <t, normalize(ln_post(mean over all tokens of the block output) @ proj)>, gradient with respect
to that block's post-softmax attention, ReLU, mean over heads and query rows, CLS column dropped,
bilinear upsampling by the patch size (align_corners=False), sum over blocks.  Min-max is monotonic,
so the argmax (pointing) needs none.  tests/python/test_samples.py checks this against the reference.
"""
import numpy as np
import torch
import torch.nn.functional as F

import gen_dataset as gd
import tinyclip as tc


class ValSet:
    """n generated images with masks; `pairs` = one (image index, object, hard) per object, where
    hard = another object of the image shares its colour or shape.  same_colour=True keeps only the
    pairs whose image holds another object of the same colour (the hardest case for the maps)."""

    def __init__(self, rng, n=256, size=64, hard_p=0.4, same_colour=False):
        imgs, masks, objss = [], [], []
        for _ in range(n):
            img, mask, objs = gd.make_sample(rng, size, hard_p)
            imgs.append(img)
            masks.append(mask)
            objss.append(objs)
        self.imgs, self.masks, self.objss = np.stack(imgs), np.stack(masks), objss
        self.pairs = []
        for i, objs in enumerate(objss):
            for o in objs:
                shares_colour = any(p is not o and p["colour"] == o["colour"] for p in objs)
                shares_shape = any(p is not o and p["shape"] == o["shape"] for p in objs)
                if same_colour and not shares_colour:
                    continue
                self.pairs.append((i, o, shares_colour or shares_shape))


def legrad_maps(model, pixels, temb, layers):
    """pixels [B,3,S,S] normalised, temb [B,E] normalised text (one prompt per image) ->
    [B, S, S] LeGrad maps summed over `layers` (upsampled, before min-max)."""
    keep_attn, keep_out = [], []
    pixels = pixels.detach().requires_grad_(True)   # puts the attention in the graph
    with torch.enable_grad():
        model.vision_tokens(pixels, keep_attn=keep_attn, keep_out=keep_out)
        acc = 0
        for l in layers:
            z = keep_out[l]
            feat = F.normalize(model.visual_projection(model.post_layernorm(z.mean(1))), dim=-1)
            target = (feat * temb).sum()
            g = torch.autograd.grad(target, keep_attn[l], retain_graph=True)[0]   # [B, H, T, T]
            rel = g.clamp(min=0).mean(1).mean(1)[:, 1:]                             # [B, T-1]
            G = int(round(rel.shape[1] ** 0.5))
            acc = acc + F.interpolate(rel.reshape(-1, 1, G, G), scale_factor=model.patch,
                                      mode="bilinear")[:, 0]
    return acc.detach()


def pointing_scores(model, tok, vs, layer_sets, batch=64):
    """{name: {"pointing", "pointing_hard", "mass_in"}} over vs.pairs for each named layer set."""
    was = model.training
    model.eval()
    prompts = ["a photo of a %s %s" % (o["colour"], o["shape"]) for _, o, _ in vs.pairs]
    with torch.no_grad():
        uniq = sorted(set(prompts))
        row = {p: k for k, p in enumerate(uniq)}
        t = F.normalize(model.encode_text(tok.batch(uniq)), dim=-1)
        temb = t[[row[p] for p in prompts]]
    out = {}
    for name, layers in layer_sets.items():
        hits, hard_hits, nhard, mass = 0, 0, 0, 0.0
        for s in range(0, len(vs.pairs), batch):
            chunk = vs.pairs[s:s + batch]
            px = tc.normalise(vs.imgs[[i for i, _, _ in chunk]])
            maps = legrad_maps(model, px, temb[s:s + len(chunk)], layers).numpy()
            for m, (i, o, hard) in zip(maps, chunk):
                obj = vs.masks[i] == o["id"]
                hit = bool(obj.reshape(-1)[int(np.argmax(m.reshape(-1)))])
                hits += hit
                if hard:
                    nhard += 1
                    hard_hits += hit
                m = m - m.min()
                mass += float(m[obj].sum() / max(m.sum(), 1e-12))
        n = len(vs.pairs)
        out[name] = {"pointing": hits / n, "pointing_hard": hard_hits / max(nhard, 1), "mass_in": mass / n}
    model.train(was)
    return out
