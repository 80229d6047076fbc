#!/usr/bin/python3
"""Writes the mask PNGs that tests/c/test_metrics.c decodes (tests/fixtures/metrics/).

    /usr/bin/python3 tests/reference/metrics_fixtures.py

grey8.png  5 x 4, 8-bit grey,  value(x, y) = 10*y + x        (object ids up to 34)
grey16.png 3 x 2, 16-bit grey, values 0 300 65535 / 1 256 7   (ids above 255 survive)
rgb.png    3 x 2, 8-bit RGB (must be rejected)
mask_WxH.png, mask_WxH_crop16.png, mask_WxH_squash16.png (40x30 and 30x40): a mask and its
           Pillow NEAREST resize + centre crop / squash to 16 (reference for lg_mask_to_frame)
"""
import os

import numpy as np
from PIL import Image

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "metrics")
os.makedirs(OUT, exist_ok=True)
g8 = np.array([[10 * y + x for x in range(5)] for y in range(4)], np.uint8)
Image.fromarray(g8, "L").save(os.path.join(OUT, "grey8.png"))
g16 = np.array([[0, 300, 65535], [1, 256, 7]], np.uint16)
Image.fromarray(g16.astype(np.int32), "I").convert("I;16").save(os.path.join(OUT, "grey16.png"))
Image.fromarray(np.zeros((2, 3, 3), np.uint8), "RGB").save(os.path.join(OUT, "rgb.png"))

# Mask-to-frame alignment references, computed by Pillow (NEAREST resize, then the centre crop of
# torchvision's CenterCrop: offset = round((resized - size) / 2)).  The sizes avoid exact ties,
# where Pillow's floating-point scale can land one pixel below the exact floor.
for w, h in ((40, 30), (30, 40)):
    m = np.array([[(x + w * y) % 251 for x in range(w)] for y in range(h)], np.uint8)
    Image.fromarray(m, "L").save(os.path.join(OUT, "mask_%dx%d.png" % (w, h)))
    S = 16
    if w <= h:
        rw, rh = S, int(S * h / w)
    else:
        rw, rh = int(S * w / h), S
    cx, cy = int(round((rw - S) / 2.0)), int(round((rh - S) / 2.0))
    crop = Image.fromarray(m, "L").resize((rw, rh), Image.NEAREST).crop((cx, cy, cx + S, cy + S))
    crop.save(os.path.join(OUT, "mask_%dx%d_crop%d.png" % (w, h, S)))
    Image.fromarray(m, "L").resize((S, S), Image.NEAREST).save(os.path.join(OUT, "mask_%dx%d_squash%d.png" % (w, h, S)))
