"""The sample dataset and the built-in model (samples/): what is committed is what the scripts make.

  * samples/heldout is exactly gen_dataset.py's output for its seed (checked on the first images);
  * masks agree with labels.csv (every listed object id is present, bounding boxes match);
  * the shipped tokenizer files follow the CLIP layout (SOT, EOT = the two last ids) and every caption
    word is one token;
  * the shipped model, loaded by the independent reference (tests/reference/clip_ref.py), names the
    object of single-object held-out images.
"""
import csv
import os
import sys

import numpy as np
import pytest
from PIL import Image

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(ROOT, "samples"))
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))
HELDOUT = os.path.join(ROOT, "samples", "heldout")
MODEL = os.path.join(ROOT, "samples", "model")

import gen_dataset as gd  # noqa: E402


def labels():
    with open(os.path.join(HELDOUT, "labels.csv")) as f:
        return list(csv.DictReader(f))


def test_heldout_is_the_generators_output():
    rng = np.random.default_rng(1)  # the seed samples/heldout was written with
    rows = labels()
    for i in range(12):
        img, mask, objs = gd.make_sample(rng, 64)
        name = "%06d" % i
        got = np.asarray(Image.open(os.path.join(HELDOUT, "images", name + ".png")).convert("RGB"))
        got_mask = np.asarray(Image.open(os.path.join(HELDOUT, "masks", name + ".png")))
        assert np.array_equal(got, img), name
        assert np.array_equal(got_mask, mask), name
        want = [(str(o["id"]), o["shape"], o["colour"]) for o in objs]
        assert [(r["object"], r["shape"], r["colour"]) for r in rows if r["image"] == name] == want


def test_masks_match_labels():
    rows = labels()
    assert len({r["image"] for r in rows}) >= 200
    for r in rows:
        mask = np.asarray(Image.open(os.path.join(HELDOUT, "masks", r["image"] + ".png")))
        assert mask.ndim == 2 and mask.dtype == np.uint8
        ys, xs = np.nonzero(mask == int(r["object"]))
        assert len(xs) > 0, r
        assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == \
            (int(r["x0"]), int(r["y0"]), int(r["x1"]), int(r["y1"])), r
        assert r["shape"] in gd.SHAPES and r["colour"] in gd.COLOURS


def test_tokenizer_files():
    tc = pytest.importorskip("tinyclip")
    tok = tc.Tokenizer.load(MODEL)
    n = len(tok.encoder)
    assert tok.encoder["<|startoftext|>"] == n - 2 and tok.encoder["<|endoftext|>"] == n - 1
    assert sorted(tok.encoder.values()) == list(range(n))
    for w in ["a", "photo", "of", "and"] + gd.SHAPES + list(gd.COLOURS):
        assert len(tok.bpe(w)) == 1, w
    ids = tok.encode("A  photo of a RED circle")
    assert ids == [n - 2] + [tok.encoder[w + "</w>"] for w in "a photo of a red circle".split()] + [n - 1]
    # Unknown words fall back to byte symbols, like OpenAI's tokenizer.
    assert tok.encode("zq")[1:-1] == [tok.encoder["z"], tok.encoder["q</w>"]]


def test_model_names_single_objects():
    torch = pytest.importorskip("torch")
    tc = pytest.importorskip("tinyclip")
    from clip_ref import load_model_dir
    model = load_model_dir(MODEL)
    tok = tc.Tokenizer.load(MODEL)
    prompts = ["a photo of a %s %s" % (c, s) for s in gd.SHAPES for c in gd.COLOURS]
    rows = labels()
    singles = [r for r in rows if sum(q["image"] == r["image"] for q in rows) == 1][:40]
    imgs = np.stack([np.asarray(Image.open(os.path.join(HELDOUT, "images", r["image"] + ".png")).convert("RGB"))
                     for r in singles])
    with torch.no_grad():
        t = model.encode_text(tok.batch(prompts), normalize=True)
        e = model.encode_image(tc.normalise(imgs), normalize=True)
    pred = (e @ t.T).argmax(1).tolist()
    hits = sum(prompts[p] == "a photo of a %s %s" % (r["colour"], r["shape"]) for p, r in zip(pred, singles))
    # Chance is 1/42; the shipped model is trained to name them (docs/model-card.md).
    assert hits >= 0.75 * len(singles), (hits, len(singles))


def test_hard_fraction_option():
    """make_sample(hard_p=1): every multi-object image has a second object sharing the first one's
    colour or shape; hard_p=0: the first two objects are drawn independently (some still share)."""
    rng = np.random.default_rng(5)
    multi = 0
    for _ in range(60):
        _, _, objs = gd.make_sample(rng, 64, hard_p=1.0)
        if len(objs) > 1:
            multi += 1
            a, b = objs[0], objs[1]
            assert a["colour"] == b["colour"] or a["shape"] == b["shape"], objs
    assert multi > 20
    rng = np.random.default_rng(5)
    shared = sum(o[0]["colour"] == o[1]["colour"] or o[0]["shape"] == o[1]["shape"]
                 for o in (gd.make_sample(rng, 64, hard_p=0.0)[2] for _ in range(60)) if len(o) > 1)
    assert shared < multi


def test_training_patch_dropping():
    """train.vision_tokens_masked: ratio 0 is the model's own forward; dropping no token (only the order
    changes) leaves CLS unchanged; ratio 0.5 keeps CLS + half of the patches."""
    torch = pytest.importorskip("torch")
    tc = pytest.importorskip("tinyclip")
    train = pytest.importorskip("train")
    torch.manual_seed(0)
    cfg = {"embed_dim": 32, "vision": {"width": 32, "mlp": 64, "heads": 1, "layers": 2, "image_size": 16, "patch": 4},
           "text": {"width": 32, "mlp": 64, "heads": 1, "layers": 1, "vocab": 600, "context": 77}}
    model = tc.TinyCLIP(cfg)
    x = torch.randn(2, 3, 16, 16)
    full = model.vision_tokens(x)
    assert torch.equal(train.vision_tokens_masked(model, x, 0.0), full)
    permuted = train.vision_tokens_masked(model, x, 1e-9)
    assert permuted.shape == full.shape
    assert torch.allclose(permuted[:, 0], full[:, 0], atol=1e-5)
    half = train.vision_tokens_masked(model, x, 0.5)
    assert half.shape == (2, 1 + 8, 32)
