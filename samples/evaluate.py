#!/usr/bin/python3
"""Evaluate an exported model on the held-out set: zero-shot accuracy and explanation quality.

Usage:
    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 samples/evaluate.py [--model samples/model]
        [--data samples/heldout] [--json out.json]

The model is loaded from its Hugging Face directory by the project's independent pure-torch
reference (tests/reference/clip_ref.py), so this also checks the export.  Maps:
  * LeGrad: autograd, official semantics (tests/reference/ref_legrad.py legrad_official), for the
    default layer set (layer_index -2 = the last two blocks) and for all blocks;
  * raw attention: last block's post-softmax attention, mean over heads, CLS row, patch columns,
    bilinear x patch, min-max (class-agnostic);
  * uniform: a constant map.  Its pointing is reported as the chance of a uniformly random point
    (the object's area share), since a constant map has no maximum.
Each (image, object) pair is explained with "a photo of a <colour> <shape>" and scored with the same
definitions as engine/eval/metrics.c: IoU of {map > thr} with the object (thr = the map's mean, and 0.5),
pointing (first maximum in row-major order on the object), mass-in (share of the map on the object).
"Hard" pairs are those whose image holds another object of the same colour or the same shape; their
pointing is also given for each kind apart, with a breakdown of where each method's maximum falls
(on the object, on the background within 3 px of it or farther, on another object of the same colour,
of the same shape, or on another object).
Zero-shot: top-1 over the 42 "a photo of a <colour> <shape>" prompts, on single-object images and on
all images (a hit when the top prompt names any object of the image).
"""
import argparse
import csv
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "reference"))
import gen_dataset as gd  # noqa: E402
import tinyclip as tc  # noqa: E402
from clip_ref import load_model_dir  # noqa: E402
from ref_legrad import legrad_official, min_max  # noqa: E402


def iou(m, obj, thr=None):
    """Foreground IoU as lg_metric_iou: thr None = the map's mean; NaN on an empty union."""
    t = m.mean() if thr is None else thr
    fg = m > t
    u = (fg | obj).sum()
    return float((fg & obj).sum() / u) if u else float("nan")


def pointing(m, obj):
    return float(obj.reshape(-1)[int(np.argmax(m.reshape(-1)))])  # argmax = first maximum


def peak_place(m, mask, o, objs):
    """Where the map's first maximum falls, for the miss breakdown: "object" (a hit), "background <= 3 px"
    or "background > 3 px" (Euclidean distance to the nearest object pixel), or on another object that
    shares the target's "same colour", else its "same shape", else an "other object"."""
    y, x = divmod(int(np.argmax(m.reshape(-1))), m.shape[1])
    v = int(mask[y, x])
    if v == int(o["object"]):
        return "object"
    if v == 0:
        ys, xs = np.nonzero(mask == int(o["object"]))
        d = float(np.sqrt(((ys - y) ** 2 + (xs - x) ** 2).min())) if len(ys) else float("inf")
        return "background <= 3 px" if d <= 3 else "background > 3 px"
    q = [p for p in objs if int(p["object"]) == v]
    if q and q[0]["colour"] == o["colour"]:
        return "same colour"
    if q and q[0]["shape"] == o["shape"]:
        return "same shape"
    return "other object"


PLACES = ["object", "background <= 3 px", "background > 3 px", "same colour", "same shape", "other object"]


def mass_in(m, obj):
    s = m.sum()
    return float(m[obj].sum() / s) if s > 0 else float("nan")


def load_set(d):
    rows = {}
    with open(os.path.join(d, "labels.csv")) as f:
        for r in csv.DictReader(f):
            rows.setdefault(r["image"], []).append(r)
    out = []
    for name in sorted(rows):
        img = np.asarray(Image.open(os.path.join(d, "images", name + ".png")).convert("RGB"))
        mask = np.asarray(Image.open(os.path.join(d, "masks", name + ".png")))
        out.append((name, img, mask, rows[name]))
    return out


def raw_attention(model, pixels):
    trace = []
    with torch.no_grad():
        model.encode_image(pixels[None], trace=trace)
    a = trace[-1]["attn"][0].mean(0)[0, 1:]
    G = int(round(a.numel() ** 0.5))
    p = model.cfg["vision"]["patch"]
    up = F.interpolate(a.reshape(1, 1, G, G), scale_factor=p, mode="bilinear")
    return min_max(up)[0, 0].numpy()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=os.path.join(HERE, "model"))
    ap.add_argument("--data", default=os.path.join(HERE, "heldout"))
    ap.add_argument("--json")
    a = ap.parse_args()

    model = load_model_dir(a.model)
    tok = tc.Tokenizer.load(a.model)
    L = model.cfg["vision"]["layers"]
    data = load_set(a.data)
    prompts = ["a photo of a %s %s" % (c, s) for s in gd.SHAPES for c in gd.COLOUR_NAMES]
    with torch.no_grad():
        temb = model.encode_text(tok.batch(prompts), normalize=True)
    index = {p: i for i, p in enumerate(prompts)}

    methods = {"legrad (last 2 blocks)": list(range(max(0, L - 2), L)), "legrad (all blocks)": list(range(L))}
    scores = {k: [] for k in list(methods) + ["raw attention (last block)", "uniform"]}
    zs_single = zs_any = n_single = 0
    for name, img, mask, objs in data:
        pixels = tc.normalise(img[None])[0]
        with torch.no_grad():
            e = model.encode_image(pixels[None], normalize=True)
        top = int((e @ temb.T).argmax())
        names = {index["a photo of a %s %s" % (o["colour"], o["shape"])] for o in objs}
        zs_any += int(top in names)
        if len(objs) == 1:
            n_single += 1
            zs_single += int(top in names)
        ids = [index["a photo of a %s %s" % (o["colour"], o["shape"])] for o in objs]
        maps = {k: legrad_official(model, pixels, temb[ids], layers)["final"].numpy()
                for k, layers in methods.items()}
        raw = raw_attention(model, pixels)
        for j, o in enumerate(objs):
            obj = mask == int(o["object"])
            same_colour = any(p is not o and p["colour"] == o["colour"] for p in objs)
            same_shape = any(p is not o and p["shape"] == o["shape"] for p in objs)
            hard = same_colour or same_shape
            rec = lambda m: {"iou_mean": iou(m, obj), "iou_05": iou(m, obj, 0.5), "pointing": pointing(m, obj),
                             "mass_in": mass_in(m, obj), "hard": hard, "same_colour": same_colour,
                             "same_shape": same_shape, "shape": o["shape"], "peak": peak_place(m, mask, o, objs)}
            for k in methods:
                scores[k].append(rec(maps[k][j]))
            scores["raw attention (last block)"].append(rec(raw))
            area = float(obj.mean())
            scores["uniform"].append({"iou_mean": 0.0, "iou_05": iou(np.ones_like(raw), obj, 0.5),
                                      "pointing": area, "mass_in": area, "hard": hard, "same_colour": same_colour,
                                      "same_shape": same_shape, "shape": o["shape"], "peak": None})

    def agg(rs, key):
        v = [r[key] for r in rs if not np.isnan(r[key])]
        return float(np.mean(v)) if v else float("nan")

    res = {"zero_shot_single": zs_single / n_single, "zero_shot_any": zs_any / len(data),
           "n_images": len(data), "n_single": n_single, "n_pairs": len(scores["uniform"]),
           "n_hard": sum(r["hard"] for r in scores["uniform"]), "methods": {}}
    print("zero-shot top-1 (42 prompts): single-object images %.1f %% (%d), all images %.1f %% (%d)" %
          (100 * res["zero_shot_single"], n_single, 100 * res["zero_shot_any"], len(data)))
    print("%-28s %8s %8s %9s %9s %8s" % ("method", "mIoU@m", "mIoU@.5", "pointing", "pt(hard)", "mass-in"))
    for k, rs in scores.items():
        hard = [r for r in rs if r["hard"]]
        m = {"miou_mean": agg(rs, "iou_mean"), "miou_05": agg(rs, "iou_05"), "pointing": agg(rs, "pointing"),
             "pointing_hard": agg(hard, "pointing"), "mass_in": agg(rs, "mass_in"),
             "pointing_same_colour": agg([r for r in rs if r["same_colour"]], "pointing"),
             "pointing_same_shape": agg([r for r in rs if r["same_shape"]], "pointing"),
             "peak_places": None if k == "uniform" else {p: sum(r["peak"] == p for r in rs) for p in PLACES},
             "per_shape_pointing": {s: agg([r for r in rs if r["shape"] == s], "pointing") for s in gd.SHAPES}}
        res["methods"][k] = m
        print("%-28s %8.3f %8.3f %8.1f%% %8.1f%% %8.3f" % (k, m["miou_mean"], m["miou_05"], 100 * m["pointing"],
                                                      100 * m["pointing_hard"], m["mass_in"]))
    n_sc = sum(r["same_colour"] for r in scores["uniform"])
    n_ss = sum(r["same_shape"] for r in scores["uniform"])
    print("pointing on pairs whose image holds another object of the same colour (%d) / shape (%d):" % (n_sc, n_ss))
    for k in list(methods) + ["raw attention (last block)"]:
        m = res["methods"][k]
        print("  %-26s %5.1f%% / %5.1f%%   maximum on: %s" % (
            k, 100 * m["pointing_same_colour"], 100 * m["pointing_same_shape"],
            ", ".join("%s %d" % (p, n) for p, n in m["peak_places"].items())))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
