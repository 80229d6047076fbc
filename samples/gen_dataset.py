#!/usr/bin/python3
"""Synthetic shapes dataset with exact object masks (ImageNet-S-style layout).

Usage:
    /usr/bin/python3 samples/gen_dataset.py OUTDIR [--n 256] [--seed 1] [--size 64]

Writes
    OUTDIR/images/NNNNNN.png   RGB image, size x size
    OUTDIR/masks/NNNNNN.png    8-bit greyscale, pixel value = object id (1..3), 0 = background
    OUTDIR/labels.csv          image,object,shape,colour,x0,y0,x1,y1   (bbox: x1, y1 exclusive)

Every image has a textured, noisy background and 1-3 non-overlapping objects drawn from
SHAPES x COLOURS.  About 40 % of the multi-object images are "hard": a second object shares the
first one's colour or its shape.  Output is a pure function of (seed, n, size); the training script
imports make_sample() to generate its data on the fly with the same distribution.
"""
import argparse
import csv
import math
import os

import numpy as np
from PIL import Image, ImageDraw

SHAPES = ["circle", "square", "triangle", "star", "cross", "ring"]
COLOURS = {
    "red": (220, 30, 30),
    "green": (30, 180, 40),
    "blue": (40, 70, 235),
    "yellow": (240, 220, 30),
    "purple": (150, 40, 200),
    "orange": (250, 140, 20),
    "white": (245, 245, 245),
}
COLOUR_NAMES = list(COLOURS)


def _polygon(cx, cy, radii, angle0):
    """Vertices at equal angular steps with the given radii, starting at angle0 (radians)."""
    n = len(radii)
    return [(cx + r * math.cos(angle0 + 2 * math.pi * k / n),
             cy + r * math.sin(angle0 + 2 * math.pi * k / n)) for k, r in enumerate(radii)]


def shape_mask(shape, size, cx, cy, s, angle):
    """Boolean [size, size] mask of one shape with bounding extent s centred at (cx, cy)."""
    im = Image.new("L", (size, size), 0)
    d = ImageDraw.Draw(im)
    r = s / 2.0
    if shape == "circle":
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=1)
    elif shape == "ring":
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=1)
        ri = r * 0.55
        d.ellipse([cx - ri, cy - ri, cx + ri, cy + ri], fill=0)
    elif shape == "square":
        d.polygon(_polygon(cx, cy, [r * 0.92] * 4, angle + math.pi / 4), fill=1)
    elif shape == "triangle":
        d.polygon(_polygon(cx, cy + r * 0.15, [r * 1.05] * 3, angle - math.pi / 2), fill=1)
    elif shape == "star":
        d.polygon(_polygon(cx, cy, [r, r * 0.42] * 5, angle - math.pi / 2), fill=1)
    elif shape == "cross":
        a, w = r, r * 0.36
        pts = [(-w, -a), (w, -a), (w, -w), (a, -w), (a, w), (w, w), (w, a), (-w, a), (-w, w),
               (-a, w), (-a, -w), (-w, -w)]
        ca, sa = math.cos(angle), math.sin(angle)
        d.polygon([(cx + x * ca - y * sa, cy + x * sa + y * ca) for x, y in pts], fill=1)
    else:
        raise ValueError(shape)
    return np.asarray(im, dtype=bool)


def _grow(m, r):
    """Dilate boolean mask m by r pixels (square structuring element, no wrap-around)."""
    h, w = m.shape
    p = np.pad(m, r)
    out = np.zeros_like(m)
    for dy in range(2 * r + 1):
        for dx in range(2 * r + 1):
            out |= p[dy:dy + h, dx:dx + w]
    return out


def background(rng, size):
    """Textured background: muted base colour, low-frequency blobs, optional stripes, pixel noise."""
    base = rng.uniform(30, 150) + rng.uniform(-25, 25, size=3)
    low = rng.normal(0, 1, size=(5, 5, 3)).astype(np.float32)
    low_img = np.stack([np.asarray(Image.fromarray(low[:, :, c]).resize((size, size), Image.BICUBIC))
                        for c in range(3)], axis=2)
    img = base[None, None, :] + low_img * rng.uniform(5, 25)
    if rng.random() < 0.35:
        period = rng.uniform(4, 12)
        th = rng.uniform(0, math.pi)
        yy, xx = np.mgrid[0:size, 0:size]
        stripes = np.sin((xx * math.cos(th) + yy * math.sin(th)) * 2 * math.pi / period)
        img += stripes[:, :, None] * rng.uniform(5, 18)
    img += rng.normal(0, rng.uniform(4, 16), size=(size, size, 3))
    return img


def _pick_objects(rng, n, hard_p=0.4):
    """n distinct (shape, colour) pairs; a share hard_p of multi-object sets share a colour or shape."""
    objs = []
    hard = n > 1 and rng.random() < hard_p
    while len(objs) < n:
        if hard and len(objs) == 1:
            s0, c0 = objs[0]
            if rng.random() < 0.5:
                cand = (SHAPES[rng.integers(len(SHAPES))], c0)
            else:
                cand = (s0, COLOUR_NAMES[rng.integers(len(COLOUR_NAMES))])
        else:
            cand = (SHAPES[rng.integers(len(SHAPES))], COLOUR_NAMES[rng.integers(len(COLOUR_NAMES))])
        if cand not in objs:
            objs.append(cand)
    return objs


def make_sample(rng, size=64, hard_p=0.4):
    """One image: (rgb uint8 [size,size,3], mask uint8 [size,size], objects).

    hard_p: share of multi-object images where a second object shares the first one's colour or
    shape (0.4 for the held-out set; the training script may ask for more).
    objects: list of dicts {id, shape, colour, bbox=(x0,y0,x1,y1)} with x1/y1 exclusive."""
    n = int(rng.choice([1, 2, 3], p=[0.4, 0.35, 0.25]))
    picks = _pick_objects(rng, n, hard_p)
    img = background(rng, size)
    mask = np.zeros((size, size), np.uint8)
    taken = np.zeros((size, size), bool)
    objects = []
    lo, hi = (0.40, 0.62) if n == 1 else (0.30, 0.50)
    for shape, colour in picks:
        for attempt in range(60):
            scale = 1.0 - 0.25 * (attempt // 20)
            s = rng.uniform(lo, hi) * size * scale
            r = s / 2
            cx = rng.uniform(r + 1, size - r - 1)
            cy = rng.uniform(r + 1, size - r - 1)
            m = shape_mask(shape, size, cx, cy, s, rng.uniform(0, 2 * math.pi))
            if not m.any():
                continue
            if (m & taken).any():
                continue
            taken |= _grow(m, 2)  # keep a 2-pixel gap between objects
            oid = len(objects) + 1
            mask[m] = oid
            rgb = np.array(COLOURS[colour], np.float32) + rng.uniform(-18, 18, size=3)
            shade = rng.normal(0, 6, size=(size, size, 1))
            img[m] = (rgb[None, None, :] + shade)[m]
            ys, xs = np.nonzero(m)
            objects.append({"id": oid, "shape": shape, "colour": colour,
                            "bbox": (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)})
            break
    return np.clip(img, 0, 255).astype(np.uint8), mask, objects


def write_dataset(outdir, n, seed, size):
    rng = np.random.default_rng(seed)
    os.makedirs(os.path.join(outdir, "images"), exist_ok=True)
    os.makedirs(os.path.join(outdir, "masks"), exist_ok=True)
    with open(os.path.join(outdir, "labels.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["image", "object", "shape", "colour", "x0", "y0", "x1", "y1"])
        for i in range(n):
            img, mask, objs = make_sample(rng, size)
            name = "%06d" % i
            Image.fromarray(img, "RGB").save(os.path.join(outdir, "images", name + ".png"), optimize=True)
            Image.fromarray(mask, "L").save(os.path.join(outdir, "masks", name + ".png"), optimize=True)
            for o in objs:
                w.writerow([name, o["id"], o["shape"], o["colour"], *o["bbox"]])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outdir")
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--size", type=int, default=64)
    a = ap.parse_args()
    write_dataset(a.outdir, a.n, a.seed, a.size)


if __name__ == "__main__":
    main()
