#!/usr/bin/python3
"""Builds docs/demo-overlays.png, the README's picture, from the overlays `make demo` wrote.

Usage (repository root, after `make demo`):  /usr/bin/python3 scripts/demo_montage.py [--n 8] [--cols 4]

Takes the first --n PNGs of samples/out/ in name order (<image>_<object>_<colour>_<shape>.png, so
an image's objects sit side by side), scales each by 2 with nearest neighbour (the maps' patches
stay visible) and tiles them --cols per row.  Prints the prompts in tile order for the README's
caption.
"""
import argparse
import os

from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--cols", type=int, default=4)
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "demo-overlays.png"))
    a = ap.parse_args()
    src = os.path.join(ROOT, "samples", "out")
    names = sorted(f for f in os.listdir(src) if f.endswith(".png"))[:a.n]
    if not names:
        raise SystemExit("demo_montage: no overlays in samples/out (run make demo first)")
    tiles = [Image.open(os.path.join(src, f)).convert("RGB") for f in names]
    w, h = tiles[0].size
    rows = (len(tiles) + a.cols - 1) // a.cols
    sheet = Image.new("RGB", (2 * w * a.cols, 2 * h * rows))
    for k, t in enumerate(tiles):
        sheet.paste(t.resize((2 * w, 2 * h), Image.NEAREST), (2 * w * (k % a.cols), 2 * h * (k // a.cols)))
    sheet.save(a.out, optimize=True)
    for f in names:
        image, obj, colour, shape = f[:-4].split("_", 3)
        print("%s object %s: %s %s" % (image, obj, colour, shape))


if __name__ == "__main__":
    main()
