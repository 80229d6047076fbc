#!/usr/bin/python3
"""Reference fixtures for image preprocessing and the CLIP BPE tokenizer (issue 3).

Usage (from the repository root, Debian python3-torch/torchvision/pil/numpy/regex):
    /usr/bin/python3 tests/reference/ref_inputs.py images   # tests/fixtures/image/
    /usr/bin/python3 tests/reference/ref_inputs.py tokens   # tests/fixtures/tokenizer/
    /usr/bin/python3 tests/reference/ref_inputs.py all

images: generates small PNGs (RGB noise of many sizes and aspect ratios, grey, palette, palette with
  transparency, RGBA, LA, 1-bit, 16-bit) and two JPEGs, and runs them through the OpenCLIP eval
  transform (torchvision Resize(S, BICUBIC) + CenterCrop(S)) or LeGrad's squash transform
  (Resize((S, S), BICUBIC)), then convert("RGB").  The uint8 result before ToTensor is what the C
  engine must reproduce exactly.  Files:
    in/<name>.png|jpg      the inputs
    cases.txt              one line per case: name file mode S rw rh cx cy offset
    expected.bin           the concatenated uint8 [S, S, 3] outputs (offset = byte offset)
    normalised_<name>.f32  ToTensor + Normalize(OpenAI mean/std) output [3, S, S] for one case
    decoded_<name>.bin     Pillow's full decode (uint8 [h, w, 3]) of the generated JPEGs
    shared_jpeg.txt        the same for ../shared/data/images/*.jpeg (expected in shared_<stem>.bin)
tokens: see tokens_main() below.
"""
import hashlib
import html
import io
import json
import os
import sys
import unicodedata

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = os.environ.get("LEGRAD_SHARED", os.path.join(ROOT, "..", "shared"))
OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)


# ----------------------------------------------------------------------------------------------
# Images
# ----------------------------------------------------------------------------------------------

def transform(img, size, mode):
    """torchvision transform as in open_clip image_transform (eval) / LeGrad LePreprocess."""
    import torchvision.transforms as T
    from torchvision.transforms import InterpolationMode
    if mode == "crop":
        img = T.Resize(size, interpolation=InterpolationMode.BICUBIC)(img)
        img = T.CenterCrop(size)(img)
    else:
        img = T.Resize((size, size), interpolation=InterpolationMode.BICUBIC)(img)
    return img.convert("RGB")


def frame(w, h, size, mode):
    """(rw, rh, cx, cy) as torchvision computes them."""
    import torchvision.transforms.functional as F
    if mode == "squash":
        return size, size, 0, 0
    rh, rw = F._compute_resized_output_size((h, w), [size])
    return rw, rh, int(round((rw - size) / 2.0)), int(round((rh - size) / 2.0))


def make_images(rng):
    """Yields (name, PIL image, [(mode, size), ...])."""
    from PIL import Image

    def noise(w, h, c=3):
        # smooth gradient + noise: exercises both the kernel shape and rounding
        yy, xx = np.mgrid[0:h, 0:w]
        base = (xx * 255 // max(w - 1, 1) + yy * 128 // max(h - 1, 1)) % 256
        arr = (base[..., None] + rng.integers(-60, 60, size=(h, w, c))).clip(0, 255)
        return arr.astype(np.uint8)

    sizes = [  # (w, h, [(mode, S)])
        (50, 40, [("crop", 32), ("squash", 32)]),
        (33, 77, [("crop", 24), ("squash", 24)]),
        (17, 13, [("crop", 32), ("squash", 40)]),     # upscaling
        (48, 48, [("crop", 48), ("squash", 48)]),     # no resize
        (97, 61, [("crop", 48), ("squash", 48)]),
        (61, 97, [("crop", 48)]),
        (64, 64, [("crop", 37), ("squash", 37)]),
        (120, 35, [("crop", 32)]),
        (32, 67, [("crop", 32)]),                     # no resize, slack 35 = 3 mod 4
        (67, 32, [("crop", 32)]),                     # same, horizontal
        (32, 65, [("crop", 32)]),                     # slack 33 = 1 mod 4
        (40, 83, [("crop", 32)]),                     # resize, slack 34
        (37, 101, [("crop", 32)]),                    # truncation 87.35 -> 87
        (45, 31, [("crop", 31), ("squash", 20)]),     # short side already S, odd
        (201, 3, [("crop", 16), ("squash", 16)]),     # extreme aspect
        (1, 1, [("crop", 8), ("squash", 8)]),
        (255, 191, [("crop", 64), ("squash", 112)]),
    ]
    for w, h, cases in sizes:
        yield f"rgb_{w}x{h}", Image.fromarray(noise(w, h)), cases
    # 640x480 photo-sized input, the benchmark case: 224 crop and LeGrad 448 squash.
    yy, xx = np.mgrid[0:480, 0:640]
    arr = np.stack([(xx * 7 + yy * 3) % 256, (xx * yy // 64) % 256, (255 - xx // 3) % 256], -1)
    arr[::17, ::13] = rng.integers(0, 256, size=arr[::17, ::13].shape)
    yield "rgb_640x480", Image.fromarray(arr.astype(np.uint8)), [("crop", 224), ("squash", 448)]
    yield "grey_70x50", Image.fromarray(noise(70, 50, 1)[..., 0], "L"), [("crop", 32), ("squash", 32)]
    pal = Image.fromarray(noise(70, 45)).quantize(colors=37)
    yield "palette_70x45", pal, [("crop", 32), ("squash", 32), ("crop", 45)]
    palt = Image.fromarray(noise(45, 70)).quantize(colors=16)
    palt.info["transparency"] = 3
    yield "palette_trns_45x70", palt, [("crop", 32), ("squash", 100)]
    rgba = noise(60, 44, 4)
    rgba[..., 3] = np.where(rng.random((44, 60)) < 0.2, 0, rgba[..., 3])
    yield "rgba_60x44", Image.fromarray(rgba, "RGBA"), [("crop", 32), ("squash", 32), ("crop", 44)]
    la = noise(39, 52, 2)
    yield "la_39x52", Image.fromarray(la, "LA"), [("crop", 32), ("squash", 48)]
    bw = Image.fromarray(noise(50, 34, 1)[..., 0] > 128)
    yield "bilevel_50x34", bw, [("crop", 24), ("squash", 24)]
    yield "rgb16_40x30", None, [("crop", 24), ("squash", 24)]  # written by hand below


def write_png16(path, rng, w=40, h=30):
    """A 16-bit RGB PNG (Pillow cannot write one): Pillow reads it as RGB using the high bytes."""
    import struct
    import zlib
    arr = rng.integers(0, 65536, size=(h, w, 3), dtype=np.uint16).astype(">u2")
    raw = b"".join(b"\x00" + arr[y].tobytes() for y in range(h))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
    png += chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(png)


def images_main():
    from PIL import Image
    import torch
    import torchvision.transforms as T
    out = os.path.join(ROOT, "tests", "fixtures", "image")
    os.makedirs(os.path.join(out, "in"), exist_ok=True)
    rng = np.random.default_rng(20261126)
    lines, blob = [], bytearray()

    def add_case(name, fname, img, mode, size):
        res = np.asarray(transform(img, size, mode), dtype=np.uint8)
        assert res.shape == (size, size, 3), res.shape
        rw, rh, cx, cy = frame(img.size[0], img.size[1], size, mode)
        lines.append(f"{name} {fname} {mode} {size} {rw} {rh} {cx} {cy} {len(blob)}")
        blob.extend(res.tobytes())

    for name, img, cases in make_images(rng):
        fname = f"in/{name}.png"
        path = os.path.join(out, fname)
        if img is None:
            write_png16(path, rng)
        else:
            img.save(path, optimize=True)
        img = Image.open(path)
        img.load()
        for mode, size in cases:
            add_case(name, fname, img, mode, size)

    # JPEGs written by Pillow (baseline 4:2:0 and progressive 4:4:4): full decode for the decoder
    # comparison, plus preprocessing cases.
    yy, xx = np.mgrid[0:72, 0:96]
    arr = np.stack([xx * 2, yy * 3, (xx + yy) % 256], -1).astype(np.uint8)
    arr[20:40, 30:60] = rng.integers(0, 256, size=(20, 30, 3))
    for name, kw in (("jpeg_baseline_96x72", dict(quality=85)),
                     ("jpeg_progressive_96x72", dict(quality=92, progressive=True, subsampling=0))):
        fname = f"in/{name}.jpg"
        path = os.path.join(out, fname)
        Image.fromarray(arr).save(path, **kw)
        img = Image.open(path)
        img.load()
        np.asarray(img.convert("RGB"), dtype=np.uint8).tofile(os.path.join(out, f"decoded_{name}.bin"))
        for mode, size in (("crop", 48), ("squash", 40)):
            add_case(name, fname, img, mode, size)

    with open(os.path.join(out, "cases.txt"), "w") as f:
        f.write("# name file mode S rw rh cx cy offset   (generated by tests/reference/ref_inputs.py)\n")
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(out, "expected.bin"), "wb") as f:
        f.write(blob)

    # Normalised fp32 for one case (ToTensor + Normalize).
    img = Image.open(os.path.join(out, "in/rgb_97x61.png"))
    t = T.Compose([T.Resize(48, interpolation=T.InterpolationMode.BICUBIC), T.CenterCrop(48),
                   T.ToTensor(), T.Normalize(OPENAI_MEAN, OPENAI_STD)])(img.convert("RGB"))
    t.numpy().astype("<f4").tofile(os.path.join(out, "normalised_rgb_97x61_crop48.f32"))

    # Shared photos (not committed): expected preprocessing outputs only.
    shared_lines = []
    imgdir = os.path.join(SHARED, "data", "images")
    if os.path.isdir(imgdir):
        for fn in sorted(os.listdir(imgdir)):
            if not fn.endswith((".jpeg", ".jpg")):
                continue
            stem = fn.rsplit(".", 1)[0]
            img = Image.open(os.path.join(imgdir, fn))
            img.load()
            parts = []
            for mode, size in (("crop", 224), ("squash", 448)):
                res = np.asarray(transform(img, size, mode), dtype=np.uint8)
                parts.append(res.tobytes())
                rw, rh, cx, cy = frame(img.size[0], img.size[1], size, mode)
                shared_lines.append(f"{stem} data/images/{fn} {mode} {size} {rw} {rh} {cx} {cy} "
                                    f"{sum(len(p) for p in parts[:-1])}")
            with open(os.path.join(out, f"shared_{stem}.bin"), "wb") as f:
                f.write(b"".join(parts))
    with open(os.path.join(out, "shared_jpeg.txt"), "w") as f:
        f.write("# stem file(relative to ../shared) mode S rw rh cx cy offset-in-shared_<stem>.bin\n")
        f.write("\n".join(shared_lines) + "\n")
    print(f"images: {len(lines)} cases, {len(blob)} expected bytes, {len(shared_lines)} shared cases")


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "all"
    if what in ("images", "all"):
        images_main()
    if what in ("tokens", "all"):
        tokens_main()
