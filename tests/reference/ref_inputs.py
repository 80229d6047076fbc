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
(The JPEG inputs' decoded pixels are used by tests/c/test_image.c.)
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
    yield "grey16_37x29", None, [("crop", 24), ("squash", 24), ("crop", 29), ("squash", 50)]
    # GIF and BMP: Pillow opens greyscale-ramp palettes as "L" (bicubic), others as "P" (nearest)
    grey = noise(53, 41, 1)[..., 0]
    grey.flat[:256] = np.arange(256)  # all 256 levels: Pillow then keeps the identity grey palette
    yield "grey_53x41.gif", Image.fromarray(grey, "L"), [("crop", 32), ("squash", 32)]
    yield "fewgrey_53x41.gif", Image.fromarray(grey // 64 * 64, "L"), [("crop", 32)]
    yield "colour_47x38.gif", Image.fromarray(noise(47, 38)).quantize(colors=40), [("crop", 32), ("squash", 24)]
    yield "grey_53x41.bmp", Image.fromarray(grey, "L"), [("crop", 32), ("squash", 32)]
    yield "bilevel_53x41.bmp", Image.fromarray(grey > 100).convert("1"), [("crop", 32)]
    yield "palette_47x38.bmp", Image.fromarray(noise(47, 38)).quantize(colors=40), [("crop", 32)]
    yield "rgb_47x38.bmp", Image.fromarray(noise(47, 38)), [("crop", 32)]
    # transparency without an alpha band: Pillow keeps RGB / L / P and does not premultiply
    rgbt = noise(45, 33)
    rgbt[::3, ::4] = (10, 200, 30)
    img = Image.fromarray(rgbt)
    img.info["transparency"] = (10, 200, 30)
    yield "rgb_trns_45x33", img, [("crop", 24), ("squash", 24)]
    greyt = noise(45, 33, 1)[..., 0]
    greyt[::2, ::3] = 77
    img = Image.fromarray(greyt, "L")
    img.info["transparency"] = 77
    yield "grey_trns_45x33", img, [("crop", 24)]
    rgba = noise(45, 33, 4)
    yield "rgba_saved_45x33.bmp", Image.fromarray(rgba, "RGBA"), [("crop", 24)]  # Pillow reads RGB
    greyg = grey.copy()
    img = Image.fromarray(greyg, "L")
    img.info["transparency"] = 40
    yield "grey_trns_53x41.gif", img, [("crop", 32)]
    img = Image.fromarray(noise(47, 38)).quantize(colors=30)
    img.info["transparency"] = 5
    yield "colour_trns_47x38.gif", img, [("crop", 32), ("crop", 38)]
    # CMYK JPEG: Pillow resizes the CMYK bands, then converts
    yield "cmyk_61x43.jpg", Image.fromarray(noise(61, 43)).convert("CMYK"), [("crop", 32), ("squash", 50)]


def write_png16(path, rng, w=40, h=30, grey=False):
    """A 16-bit RGB PNG (Pillow cannot write one): Pillow reads it as RGB using the high bytes.
    grey: a 16-bit greyscale PNG with values 0..599, which Pillow reads as mode "I" (resized in
    32 bits, clipped to 255 by convert("RGB"))."""
    import struct
    import zlib
    if grey:
        arr = (rng.integers(0, 600, size=(h, w)) * np.linspace(0.2, 1, w)).astype(">u2")
    else:
        arr = rng.integers(0, 65536, size=(h, w, 3), dtype=np.uint16).astype(">u2")
    raw = b"".join(b"\x00" + arr[y].tobytes() for y in range(h))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 0 if grey else 2, 0, 0, 0))
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
        fname = f"in/{name}" if "." in name else f"in/{name}.png"
        name = name.replace(".", "_")
        path = os.path.join(out, fname)
        if img is None:
            grey = name.startswith("grey16")
            write_png16(path, rng, *((37, 29) if grey else (40, 30)), grey=grey)
        elif fname.endswith(".png"):
            img.save(path, optimize=True, **({"transparency": img.info["transparency"]}
                                             if "transparency" in img.info else {}))
        elif fname.endswith(".jpg"):
            img.save(path, quality=95)
        else:
            img.save(path, **({"transparency": img.info["transparency"]}
                              if "transparency" in img.info else {}))
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
    decode_fixtures(out, rng)
    print(f"images: {len(lines)} cases, {len(blob)} expected bytes, {len(shared_lines)} shared cases")


def decode_fixtures(out, rng):
    """BMP/GIF/grey and CMYK JPEG inputs with Pillow's full decode + convert("RGB"), for
    tests/c/test_image.c: decode/<name>.<ext> and decode/<name>.rgb (uint8 [h, w, 3]);
    decode/list.txt: name file w h."""
    from PIL import Image
    d = os.path.join(out, "decode")
    os.makedirs(d, exist_ok=True)
    yy, xx = np.mgrid[0:23, 0:37]
    arr = np.stack([xx * 7 % 256, yy * 11 % 256, (xx * yy) % 256], -1).astype(np.uint8)
    arr[5:15, 10:20] = rng.integers(0, 256, size=(10, 10, 3))
    rgb = Image.fromarray(arr)
    items = [
        ("bmp24", "bmp", rgb, {}),
        ("bmp8_palette", "bmp", rgb.quantize(colors=50), {}),
        ("gif", "gif", rgb.quantize(colors=64), {}),
        ("jpeg_grey", "jpg", rgb.convert("L"), dict(quality=90)),
        ("jpeg_cmyk", "jpg", rgb.convert("CMYK"), dict(quality=95)),
        ("png_grey2bit", "png", Image.fromarray((arr[..., 0] // 64 * 85).astype(np.uint8)), dict(bits=2)),
    ]
    lines = []
    for name, ext, img, kw in items:
        fn = f"{name}.{ext}"
        img.save(os.path.join(d, fn), **kw)
        im = Image.open(os.path.join(d, fn))
        im.load()
        np.asarray(im.convert("RGB"), dtype=np.uint8).tofile(os.path.join(d, f"{name}.rgb"))
        lines.append(f"{name} {fn} {im.size[0]} {im.size[1]} {im.mode}")
    with open(os.path.join(d, "list.txt"), "w") as f:
        f.write("# name file w h pillow-mode  (generated by tests/reference/ref_inputs.py images)\n")
        f.write("\n".join(lines) + "\n")


# ----------------------------------------------------------------------------------------------
# Tokenizer
# ----------------------------------------------------------------------------------------------
# The expected ids come from the OpenAI SimpleTokenizer algorithm (clip/simple_tokenizer.py), run
# on the real merges file, with ftfy.fix_text replaced by the documented subset below (Debian has
# no ftfy).  Everything else is Python's own: html.unescape, str.split/strip/lower, unicodedata
# NFC and the `regex` module with the original pattern.

def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


# ftfy's tables (ftfy/chardata.py): control characters removed, Latin ligatures, width map.
FTFY_CONTROL = set(list(range(0x00, 0x09)) + [0x0B] + list(range(0x0E, 0x20)) + [0x7F] +
                   list(range(0x206A, 0x2070)) + [0xFEFF] + list(range(0xFFF9, 0xFFFD)) +
                   list(range(0x1D173, 0x1D17B)) + list(range(0xE0000, 0xE0080)))
FTFY_LIGATURES = {0x132: "IJ", 0x133: "ij", 0xFB00: "ff", 0xFB01: "fi", 0xFB02: "fl",
                  0xFB03: "ffi", 0xFB04: "ffl", 0xFB05: "ſt", 0xFB06: "st"}


def _width_map():
    m = {0x3000: " "}
    for i in range(0xFF01, 0xFFF0):
        alt = unicodedata.normalize("NFKC", chr(i))
        if alt != chr(i):
            m[i] = alt
    return m


FTFY_WIDTH = _width_map()


def ftfy_subset(text):
    """The ftfy.fix_text steps replicated by the C tokenizer (docs/tokenizer.md), applied in
    ftfy's order and repeated until nothing changes, as ftfy does."""
    import regex
    ansi = regex.compile("\x1b\\[((?:\\d|;)*)([a-zA-Z])")
    for _ in range(16):
        orig = text
        # fix_c1_controls: C1 controls read as (sloppy) Windows-1252
        text = "".join(bytes([ord(c)]).decode("cp1252", errors="ignore") or c
                       if 0x80 <= ord(c) <= 0x9F else c for c in text)
        text = "".join(FTFY_LIGATURES.get(ord(c), c) for c in text)       # fix_latin_ligatures
        text = "".join(FTFY_WIDTH.get(ord(c), c) for c in text)           # fix_character_width
        text = regex.sub("[\u2018-\u201b]", "'", regex.sub("[\u201c-\u201f]", '"', text))  # uncurl
        text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n") \
                   .replace("\u2029", "\n").replace("\u0085", "\n")      # fix_line_breaks
        text = ansi.sub("", text)                                          # remove_terminal_escapes
        text = "".join(c for c in text if ord(c) not in FTFY_CONTROL)      # remove_control_chars
        text = unicodedata.normalize("NFC", text)
        if text == orig:
            break
    return text


def basic_clean(text):
    text = ftfy_subset(text)
    text = html.unescape(html.unescape(text))
    return text.strip()


def whitespace_clean(text):
    return " ".join(text.split()).strip()


class RefTokenizer:
    """OpenAI SimpleTokenizer (special literals <|startoftext|>/<|endoftext|> recognised)."""

    def __init__(self, vocab, merges):
        import regex
        self.byte_encoder = bytes_to_unicode()
        self.encoder = vocab
        self.bpe_ranks = dict(zip(merges, range(len(merges))))
        self.sot, self.eot = vocab["<|startoftext|>"], vocab["<|endoftext|>"]
        self.cache = {"<|startoftext|>": "<|startoftext|>", "<|endoftext|>": "<|endoftext|>"}
        self.pat = regex.compile(r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
                                 regex.IGNORECASE)

    @classmethod
    def from_gz(cls, path):
        import gzip
        lines = gzip.open(path).read().decode("utf-8").split("\n")
        merges = [tuple(m.split()) for m in lines[1:49152 - 256 - 2 + 1]]
        vocab = list(bytes_to_unicode().values())
        vocab = vocab + [v + "</w>" for v in vocab]
        vocab += ["".join(m) for m in merges] + ["<|startoftext|>", "<|endoftext|>"]
        return cls(dict(zip(vocab, range(len(vocab)))), merges)

    def bpe(self, token):
        if token in self.cache:
            return self.cache[token]
        word = tuple(token[:-1]) + (token[-1] + "</w>",)
        pairs = set(zip(word, word[1:]))
        if not pairs:
            return token + "</w>"
        while True:
            bigram = min(pairs, key=lambda p: self.bpe_ranks.get(p, float("inf")))
            if bigram not in self.bpe_ranks:
                break
            first, second = bigram
            new_word, i = [], 0
            while i < len(word):
                try:
                    j = word.index(first, i)
                    new_word.extend(word[i:j])
                    i = j
                except ValueError:
                    new_word.extend(word[i:])
                    break
                if word[i] == first and i < len(word) - 1 and word[i + 1] == second:
                    new_word.append(first + second)
                    i += 2
                else:
                    new_word.append(word[i])
                    i += 1
            word = tuple(new_word)
            if len(word) == 1:
                break
            pairs = set(zip(word, word[1:]))
        word = " ".join(word)
        self.cache[token] = word
        return word

    def encode(self, text):
        import regex
        ids = []
        text = whitespace_clean(basic_clean(text)).lower()
        for token in regex.findall(self.pat, text):
            token = "".join(self.byte_encoder[b] for b in token.encode("utf-8"))
            ids.extend(self.encoder[t] for t in self.bpe(token).split(" "))
        return ids

    def tokenize(self, text, ctx=77):
        ids = [self.sot] + self.encode(text) + [self.eot]
        if len(ids) > ctx:
            ids = ids[:ctx]
            ids[-1] = self.eot
        return ids


def prompts():
    """>= 200 prompts: hand-written hard cases, then templated class names and long texts."""
    import random
    hand = [
        "a photo of a cat", "A PHOTO OF A DOG", "a photo of a cat.", "  leading and trailing  ",
        "", " ", "\t\n", "hello, world!", "what's that?", "it's", "IT'S", "they're", "we've",
        "i'm", "you'll", "he'd", "can't won't don't", "rock'n'roll", "'s 't", "''quoted''",
        "it\u2019s a dog", "\u201cquoted\u201d text", "\u2018single\u2019", "don\u2019t",
        "3 cats", "1234567890", "3.14159", "$100.00", "1st 2nd 3rd 4th", "mp3 x86_64 h2o",
        "Ⅻ roman", "½ cup", "²³", "٣ arabic-indic", "१२३ devanagari digits",
        "café", "cafe\u0301", "naïve résumé", "Ångström", "Zürich straße", "ĲSSELMEER", "İstanbul",
        "ΟΔΟΣ", "ΣΊΣΥΦΟΣ σοφός", "Σ", "ΑΣ.", "Москва", "Ελληνικά", "עברית", "العربية",
        "हिन्दी", "ไทย", "日本語のテキスト", "中文 文本", "한국어 텍스트", "ｆｕｌｌｗｉｄｔｈ　ｔｅｘｔ",
        "ﾊﾝｶｸ", "ﬁne ﬂower ﬀ ﬃ ﬄ ﬅ ﬆ", "ǅ ǈ", "🐱 cat emoji", "👨‍👩‍👧 family", "🇫🇷 flag",
        "😀😀😀", "a😀b", "I ❤ NY", "♥♦♣♠", "→ ← ↑", "∑ ∫ √", "°C", "©®™", "…", "—dash–",
        "&amp;", "&lt;b&gt;bold&lt;/b&gt;", "&amp;lt;", "&amp;amp;lt;", "&eacute;t&eacute;",
        "&notit; &notin;", "&#39;quote&#39;", "&#x27;hex&#x27;", "&#128512;", "&#0;", "&#x110000;",
        "&#128;", "&nbsp;x", "&copy 2024", "&bogus;", "&", "&#", "&#x;", "<b>not html</b> &amp;",
        "a\u00a0b", "a\u2003b", "a\u3000b", "x\u200by", "line1\nline2", "cr\r\nlf", "a\x1fb",
        "a\x01b", "a\x7fb", "\x1b[31mred\x1b[0m", "c1\x85next", "c1\x80euro\x99", "\ufeffbom",
        "<|startoftext|>", "<|endoftext|>", "a <|endoftext|> b", "!<|endoftext|>",
        "<start_of_text>", "<|ENDOFTEXT|>", "it'ſ", "I'M", "O'Neil's", "a--b", "!!!???",
        "(parenthesized)", "[brackets]", "{braces}", "hash#tag @user", "e-mail: x@y.com",
        "https://example.com/a?b=c&d=e", "C++ and C#", "snake_case camelCase", "tab\tseparated",
        "emoji🙂inside", "mixed日本english", "ℌ𝔢𝔩𝔩𝔬 math", "𝟙𝟚𝟛", "x²+y²", "Ⓐ Ⓑ",
        "combining a\u0308\u0301", "\u0301leading mark", "Hangul 가각 jamo \u1100\u1161",
        "ǰ ﬓ", "K Kelvin", "Å angstrom", "ΐ", "ß ẞ", "İi Iı",
    ]
    classes = ("tench goldfish shark hen ostrich goldfinch junco bulbul jay magpie chickadee "
               "kite vulture newt axolotl bullfrog loggerhead leatherback mud turtle banded gecko "
               "green iguana whiptail agama frilled lizard alligator triceratops thunder snake "
               "ringneck hognose garter sea snake boa constrictor rock python indian cobra "
               "scorpion tarantula tick centipede peacock quail partridge macaw lorikeet toucan "
               "hornbill hummingbird jacamar drake merganser goose swan tusker echidna platypus "
               "wallaby koala wombat jellyfish sea anemone brain coral flatworm nematode conch "
               "snail slug chiton nautilus crab lobster crayfish hermit isopod stork spoonbill "
               "flamingo heron egret bittern crane limpkin gallinule coot bustard turnstone "
               "sandpiper redshank dowitcher oystercatcher pelican penguin albatross whale dugong "
               "sea lion chihuahua spaniel pekinese shih-tzu papillon terrier beagle bloodhound").split()
    templ = ["a photo of a {}.", "a blurry photo of the {}.", "itap of my {}", "a {} in the wild",
             "There's a {}!", "THE {}S"]
    out = list(hand)
    for i, c in enumerate(classes):
        out.append(templ[i % len(templ)].format(c))
    long1 = " ".join(classes)  # many more than 77 tokens
    # long single words (one pre-token each): exercise the O(n log n) BPE path in C
    rnd = random.Random(11)
    for n in (25, 40, 333, 1000, 2500):
        out.append("".join(rnd.choice("abcdefghijklmnopqrstuvwxyzéèà") for _ in range(n)))
    out.append("".join(rnd.choice("thereisanoe") for _ in range(1500)))
    out += [long1, "word " * 80, "a" * 300, "🙂" * 100, "1" * 120, "x, " * 60,
            "the quick brown fox jumps over the lazy dog " * 8,
            "supercalifragilisticexpialidocious antidisestablishmentarianism pneumonoultramicroscopicsilicovolcanoconiosis"]
    return out


def random_prompts(n=1000, seed=5):
    """Deterministic random strings for a differential check: half built from hard pieces (entities,
    quotes, contractions, marks, sigma, dotted I, ligatures, fullwidth, controls, escapes, emoji,
    specials), half from random code points of the BMP and the SMP."""
    import random
    rnd = random.Random(seed)
    pieces = ["&amp;", "&lt;", "&#39;", "&#x27;", "&#", "&#x", "&", ";", "&notit;", "&eacute", "&Eacute;",
              "&#128;", "&#0;", "&#99999999;", "&amp;amp;", "'s", "'S", "'re", "'ll", "'", "\u2019", "\u201c",
              " ", "  ", "\t", "\n", "\r\n", "\x85", "\u00a0", "\u3000", "a", "B", "z", "\u00e9", "e\u0301",
              "\u03a3", "\u03a3\u0391", "\u03c2", "\u0130", "\u0131", "\u00df", "\u1e9e", "\ufb01", "\u0132",
              "\uff46", "\uff11", "\uff01", "\uff8a", "\uff9e", "\u65e5\u672c", "\ud55c", "\u0301", "\u200b",
              "\u200d", "\ufeff", "\x1b[1m", "\x1b[", "\x01", "\x7f", "\x80", "\x9f", "\U0001f600",
              "\U0001f44d\U0001f3fd", "1", "23", "\u0663", "\u00bd", "\u216b", "x\u00b2", "!", "?!", "...",
              "-", "_", "#", "@", "<|endoftext|>", "<|startoftext|>", "<|", "\u017f", "\u212a", "\u212b",
              "\u01c5", "\u0390", "\u1f88", "\ufb13", "\u0149", "\u2126", "\u00b7", ":", ".", "\u0386",
              "\u1d2c", "\u02b0", "\u24b6", "\U0001d400", "\U000e0041", "\U0001d173"]

    def code_point():
        while True:
            c = rnd.choice([rnd.randint(0x20, 0x2FF), rnd.randint(0x300, 0x33FF), rnd.randint(0xA000, 0xFFFD),
                            rnd.randint(0x10000, 0x1FAFF), rnd.randint(1, 0x1F)])
            if not 0xD800 <= c <= 0xDFFF:
                return chr(c)
    out = []
    for i in range(n):
        if i % 2 == 0:
            out.append("".join(rnd.choice(pieces) for _ in range(rnd.randint(1, 12))))
        else:
            out.append("".join(code_point() for _ in range(rnd.randint(1, 10))))
    return out


def ftfy_flags(text):
    """Which ftfy behaviour a prompt exercises: 'subset' when the replicated steps change it,
    'maybe' when it holds Latin-1/Windows-1252 range characters that ftfy's mojibake heuristics
    (not replicated) inspect, '-' otherwise."""
    flags = []
    if ftfy_subset(text) != text:
        flags.append("subset")
    if any(0x80 <= ord(c) <= 0xFF or c in "€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ" for c in text):
        flags.append("maybe")
    return ",".join(flags) or "-"


def write_token_file(path, tok, texts, header):
    with open(path, "w", encoding="utf-8") as f:
        f.write(header)
        for t in texts:
            ids = tok.tokenize(t)
            f.write("%s\t%s\t%s\t%s\n" % (t.encode("utf-8").hex() or "-", " ".join(map(str, ids)),
                                          ftfy_flags(t), ascii(t)[:120]))


def tokens_main():
    """Writes tests/fixtures/tokenizer/:
      tokens_openai.txt   ids for prompts() with the real merges (needs ../shared)
      tokens_random.txt   ids for random_prompts() (1000 random strings), same vocabulary
      tiny/vocab.json + merges.txt, tiny_tj_str/tokenizer.json, tiny_tj_pairs/tokenizer.json:
                          a small vocabulary (first 600 merges, ids shuffled, specials last)
      tokens_tiny.txt     ids for prompts() with the tiny vocabulary
    Line format: hex(UTF-8 text) TAB ids TAB ftfy-flags TAB ascii(text) (for humans)."""
    import random
    out = os.path.join(ROOT, "tests", "fixtures", "tokenizer")
    os.makedirs(out, exist_ok=True)
    texts = prompts()
    assert len(texts) >= 200, len(texts)
    header = ("# generated by tests/reference/ref_inputs.py tokens: hex(utf8 text)\tids (SOT..EOT, "
              "ctx 77)\tftfy flags (subset = changed by the replicated ftfy steps; maybe = "
              "characters ftfy's unreplicated mojibake repair looks at)\tascii(text)\n")
    gz = os.path.join(SHARED, "data", "clip-bpe", "bpe_simple_vocab_16e6.txt.gz")
    full = RefTokenizer.from_gz(gz)
    write_token_file(os.path.join(out, "tokens_openai.txt"), full, texts, header)
    write_token_file(os.path.join(out, "tokens_random.txt"), full, random_prompts(), header)

    # Tiny vocabulary: 512 byte symbols, the first 600 merges, then the two specials; ids shuffled
    # (specials kept last) so nothing may assume OpenAI's id layout.
    merges = [m for m, _ in sorted(full.bpe_ranks.items(), key=lambda kv: kv[1])][:600]
    base = list(bytes_to_unicode().values())
    symbols = base + [b + "</w>" for b in base] + ["".join(m) for m in merges]
    symbols = list(dict.fromkeys(symbols))
    random.Random(7).shuffle(symbols)
    symbols += ["<|startoftext|>", "<|endoftext|>"]
    vocab = {s: i for i, s in enumerate(symbols)}
    tiny = RefTokenizer(vocab, merges)
    for sub in ("tiny", "tiny_tj_str", "tiny_tj_pairs"):
        os.makedirs(os.path.join(out, sub), exist_ok=True)
    with open(os.path.join(out, "tiny", "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(out, "tiny", "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n")
    for sub, ms in (("tiny_tj_str", [" ".join(m) for m in merges]),
                    ("tiny_tj_pairs", [list(m) for m in merges])):
        tj = {"version": "1.0", "added_tokens": [
                  {"id": vocab["<|startoftext|>"], "content": "<|startoftext|>", "special": True},
                  {"id": vocab["<|endoftext|>"], "content": "<|endoftext|>", "special": True}],
              "model": {"type": "BPE", "end_of_word_suffix": "</w>", "vocab": vocab, "merges": ms}}
        with open(os.path.join(out, sub, "tokenizer.json"), "w", encoding="utf-8") as f:
            json.dump(tj, f, ensure_ascii=False)
    write_token_file(os.path.join(out, "tokens_tiny.txt"), tiny, texts, header)
    print(f"tokens: {len(texts)} prompts, tiny vocab {len(vocab)}")


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "all"
    if what in ("images", "all"):
        images_main()
    if what in ("tokens", "all"):
        tokens_main()
