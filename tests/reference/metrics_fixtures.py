#!/usr/bin/python3
"""Writes the mask PNGs that tests/c/test_metrics.c decodes (tests/fixtures/metrics/).

    /usr/bin/python3 tests/reference/metrics_fixtures.py

grey8.png  5 x 4, 8-bit grey,  value(x, y) = 10*y + x        (object ids up to 34)
grey16.png 3 x 2, 16-bit grey, values 0 300 65535 / 1 256 7   (ids above 255 survive)
rgb.png    3 x 2, 8-bit RGB (must be rejected)
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
