"""Reference final maps for legrad_map_json() (tests/python/test_map_funcs.py), computed with torch
exactly as the official LeGrad code does: F.interpolate(mode='bilinear', align_corners=False) of the
grid, by scale_factor=patch (the default output) or to an explicit size=(h, w), then
min_max: (x - min) / (max - min) in float32.

Usage (from the repository root):  /usr/bin/python3 tests/reference/map_funcs_ref.py
Writes tests/fixtures/mapfuncs/final_maps.json: a list of cases
  {"name", "grid": [[...]], "patch", "width", "height" (null = default), "final": [[...]]}
with every float printed by repr() of its float32 value (exact).
"""
import json
import os

import torch
import torch.nn.functional as F

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "tests", "fixtures", "mapfuncs", "final_maps.json")


def final_map(grid, patch, width=None, height=None):
    x = torch.tensor(grid, dtype=torch.float32)[None, None]
    if width is None:
        up = F.interpolate(x, scale_factor=patch, mode="bilinear", align_corners=False)
    else:
        up = F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False)
    up = up[0, 0]
    return (up - up.min()) / (up.max() - up.min())


def f32_list(t):
    return [[float(v) for v in row] for row in t.tolist()]


def main():
    g = torch.Generator().manual_seed(5)
    cases = []
    specs = [
        ("vit_7x7_p8", 7, 7, 8, None, None),         # square grid, default size 56x56
        ("vit_4x4_p16", 4, 4, 16, None, None),       # patch 16 like ViT-B/16, 64x64
        ("nonsquare_3x5_p4", 3, 5, 4, None, None),   # 12x20
        ("resize_7x7_to_50x30", 7, 7, 8, 50, 30),    # explicit width/height
        ("resize_3x5_to_11x7", 3, 5, 4, 11, 7),
    ]
    for name, gh, gw, patch, w, h in specs:
        # raw LeGrad grids are small non-negative numbers (ReLU'd gradients x attention)
        grid = (torch.rand(gh, gw, generator=g) ** 2 * 3e-3).tolist()
        grid = [[float(torch.tensor(v, dtype=torch.float32)) for v in row] for row in grid]
        fin = final_map(grid, patch, w, h)
        cases.append({"name": name, "grid": grid, "patch": patch, "width": w, "height": h,
                      "final": f32_list(fin)})
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(cases, f, separators=(",", ":"))
    print("wrote", OUT, "with", len(cases), "cases")


if __name__ == "__main__":
    main()
