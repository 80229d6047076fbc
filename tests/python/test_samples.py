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


def _tiny_model(torch, tc, heads=2):
    """A 3-block vision tower on 16 px (4 x 4 grid) with the sample tokenizer's vocabulary size."""
    import train
    torch.manual_seed(0)
    vocab = len(train.tokenizer_from_corpus()[0].encoder)
    cfg = {"embed_dim": 16, "vision": {"width": 32, "mlp": 64, "heads": heads, "layers": 3, "image_size": 16,
                                       "patch": 4},
           "text": {"width": 32, "mlp": 64, "heads": heads, "layers": 1, "vocab": vocab, "context": 77}}
    model = tc.TinyCLIP(cfg)
    with torch.no_grad():   # sharper attention than the initialisation, so the maps are not flat
        for b in model.vblocks:
            b.q_proj.weight.mul_(3.0)
            b.k_proj.weight.mul_(3.0)
    return model


def _exported_tiny_model(tmp_path):
    """(torch, tinyclip, model): _tiny_model, exported by train.export into tmp_path; skips without torch."""
    torch = pytest.importorskip("torch")
    tc = pytest.importorskip("tinyclip")
    train = pytest.importorskip("train")
    model = _tiny_model(torch, tc)
    tok, merges = train.tokenizer_from_corpus()
    train.export(model, tok, merges, str(tmp_path), 0.0, 0, {})
    return torch, tc, model


def test_export_roundtrip(tmp_path):
    """TinyCLIP.from_dir reads back exactly what train.export wrote (HF names, config)."""
    torch, tc, model = _exported_tiny_model(tmp_path)
    back = tc.TinyCLIP.from_dir(str(tmp_path))
    assert back.cfg["vision"] == model.cfg["vision"]
    for (na, pa), (nb, pb) in zip(model.hf_params(), back.hf_params()):
        assert na == nb and torch.equal(pa, pb), na


def test_probe_legrad_matches_reference(tmp_path):
    """probe.legrad_maps (batched over images, used for validation pointing during training) gives the
    reference's official LeGrad maps (tests/reference/ref_legrad.py, one image at a time)."""
    torch, tc, model = _exported_tiny_model(tmp_path)
    import probe
    from clip_ref import load_model_dir
    from ref_legrad import legrad_official
    ref = load_model_dir(str(tmp_path))
    g = torch.Generator().manual_seed(1)
    pixels = torch.randn(3, 3, 16, 16, generator=g)
    temb = torch.nn.functional.normalize(torch.randn(3, 16, generator=g), dim=-1)
    for layers in ([1, 2], [0, 1, 2]):
        got = probe.legrad_maps(model, pixels, temb, layers)
        assert got.shape == (3, 16, 16)
        for i in range(3):
            want = legrad_official(ref, pixels[i], temb[i:i + 1], layers)["final"][0]
            g_i = got[i]
            g_i = (g_i - g_i.min()) / (g_i.max() - g_i.min())
            assert torch.allclose(g_i, want, atol=1e-4), (layers, i, float((g_i - want).abs().max()))


def test_mil_loss():
    """train.mil_loss scores an (image, prompt) pair by its best token: an image whose one token
    matches the prompt beats one whose tokens do not; the value-path embeddings are unit vectors of
    the projection's size, one per patch token."""
    torch = pytest.importorskip("torch")
    tc = pytest.importorskip("tinyclip")
    train = pytest.importorskip("train")
    t = torch.eye(4)[:2]                                   # 2 prompts in a 4-d embedding space
    dense = torch.zeros(2, 3, 4)
    dense[:, :, 2] = 1.0                                   # every token points elsewhere ...
    dense[0, 1] = torch.tensor([1.0, 0, 0, 0])             # ... but image 0's token 1 matches prompt 0
    dense[1, 2] = torch.tensor([0, 1.0, 0, 0])             # and image 1's token 2 matches prompt 1
    pos = torch.tensor([[True, False], [False, True]])
    good = train.mil_loss(dense, t, pos, 10.0)
    bad = train.mil_loss(dense, t, ~pos, 10.0)
    assert good < 0.01 and bad > 5.0, (good, bad)
    model = _tiny_model(torch, tc)
    outs, vals = [], []
    model.vision_tokens(torch.randn(2, 3, 16, 16), keep_out=outs, keep_v=vals)
    for kind in ("value", "resid"):
        e = train.dense_embeddings(model, 2, outs, vals, kind)
        assert e.shape == (2, 16, 16)
        assert torch.allclose(e.norm(dim=-1), torch.ones(2, 16), atol=1e-5)


def test_attention_mil_loss():
    """train.attention_mil_loss: a red circle and a red square share a colour (embedding axis 0) and
    differ in shape (axes 1, 2).  With clean tokens each prompt's spatial ranking favours its own
    object and the loss is small.  With a weak circle token and a square token that also leans to
    'circle', the red circle's ranking prefers the square (what a confused map does); the pooled
    embedding then reads as a red square and the loss is large."""
    torch = pytest.importorskip("torch")
    train = pytest.importorskip("train")
    F = torch.nn.functional
    t = F.normalize(torch.tensor([[1.0, 1.0, 0.0, 0.0], [1.0, 0.0, 1.0, 0.0]]), dim=-1)   # red circle, red square
    tok = lambda *v: F.normalize(torch.tensor(v), dim=-1)
    pos = torch.tensor([[True, True]])
    clean = torch.stack([tok(1.0, 1.2, 0.0, 0.0), tok(1.0, 0.0, 1.2, 0.0), tok(0.0, 0.0, 0.0, 1.0)])[None]
    good = train.attention_mil_loss(clean, t, pos, 50.0)
    confused = torch.stack([tok(1.0, 0.3, 0.0, 0.8), tok(1.0, 0.1, 0.3, 0.0), tok(0.0, 0.0, 0.0, 1.0)])[None]
    assert int((confused[0] @ t[0]).argmax()) == 1          # the red circle's best token is the square
    bad = train.attention_mil_loss(confused, t, pos, 50.0)
    assert good < 0.05 and bad > 1.0, (good, bad)
    # Relabelling both prompts and objects leaves the loss unchanged.
    assert torch.isclose(train.attention_mil_loss(clean[:, [1, 0, 2]], t[[1, 0]], pos, 50.0), good)


def test_evaluate_peak_place():
    """samples/evaluate.py's miss breakdown puts a map's maximum in the right place, by hand-made cases."""
    pytest.importorskip("torch")
    evaluate = pytest.importorskip("evaluate")
    mask = np.zeros((10, 10), np.uint8)
    mask[2:5, 2:5] = 1          # the target: red square
    mask[6:9, 6:9] = 2          # red circle: same colour
    mask[0:2, 7:10] = 3         # blue square: same shape
    objs = [{"object": "1", "colour": "red", "shape": "square"},
            {"object": "2", "colour": "red", "shape": "circle"},
            {"object": "3", "colour": "blue", "shape": "square"}]

    def at(y, x):
        m = np.zeros((10, 10), np.float32)
        m[y, x] = 1.0
        return evaluate.peak_place(m, mask, objs[0], objs)

    assert at(3, 3) == "object"
    assert at(3, 6) == "background <= 3 px"      # 2 px right of the square's edge column 4
    assert at(9, 0) == "background > 3 px"       # distance to (4, 2) is sqrt(25 + 4)
    assert at(7, 7) == "same colour"
    assert at(0, 8) == "same shape"
    objs[1]["colour"] = "green"
    assert at(7, 7) == "other object"
