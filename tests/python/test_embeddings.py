"""clip_image_embedding, clip_text_embedding, clip_similarity, clip_tokenize."""
import json
import math
import sqlite3
import struct

import pytest

from conftest import SAMPLE, TINY_HF, TINY_VIS, connect, image, one, raises

IMG = image()


def connect_sample():
    """A fresh connection with the sample model as 'default'."""
    c = connect()
    c.execute("INSERT INTO legrad_models(name, path) VALUES ('default', ?)", (SAMPLE,))
    return c


def floats(blob):
    return struct.unpack("%df" % (len(blob) // 4), blob)


def test_clip_image_embedding(db):
    db.execute("INSERT INTO legrad_models(name, path) VALUES ('default', ?), ('vis', ?)",
               (TINY_HF, TINY_VIS))
    e = one(db, "SELECT clip_image_embedding(?)", IMG)
    v = floats(e)
    assert len(v) == 32
    assert math.sqrt(sum(x * x for x in v)) == pytest.approx(1.0, abs=1e-5)
    # tiny_vis_hf is tiny_gelu's vision tower: a different model, a different embedding.
    assert one(db, "SELECT clip_image_embedding(?, '{\"model\": \"vis\"}')", IMG) != e
    big = one(db, "SELECT clip_image_embedding(?, '{\"size\": 64, \"resize\": \"squash\"}')", IMG)
    assert len(big) == 128 and big != e
    assert one(db, "SELECT clip_image_embedding(NULL)") is None
    raises(db, "SELECT clip_image_embedding('a.png')", (),
           "clip_image_embedding(): argument 1 (image) must be a BLOB of encoded image bytes, found "
           "TEXT; pass the file's bytes (shell: readfile('path'); Python: open(path, 'rb').read())")
    raises(db, "SELECT clip_image_embedding(?, '{\"relu\": true}')", (IMG,),
           "clip_image_embedding(): argument 2 (options): unknown key \"relu\" (expected one of: "
           "model, size, resize, on_error)")


def test_clip_image_embedding_webp(db):
    """A WebP embeds exactly like a PNG holding the pixels Pillow decodes from it (lossy RGB and
    lossy RGBA, whose alpha makes the resize premultiplied in both formats)."""
    import io
    import os

    from PIL import Image
    db.execute("INSERT INTO legrad_models(name, path) VALUES ('default', ?)", (TINY_HF,))
    webp_dir = os.path.join(os.path.dirname(__file__), "..", "fixtures", "image", "webp")
    for name in ("lossy_rgb", "lossy_rgba"):
        with open(os.path.join(webp_dir, name + ".webp"), "rb") as f:
            webp = f.read()
        png = io.BytesIO()
        Image.open(io.BytesIO(webp)).save(png, "PNG")  # RGB or RGBA, as Pillow opened it
        q = "SELECT clip_image_embedding(?, '{\"size\": 32}')"
        assert one(db, q, webp) == one(db, q, png.getvalue()), name


def test_clip_text_embedding(sdb):
    e = one(sdb, "SELECT clip_text_embedding('a photo of a cat')")
    v = floats(e)
    assert len(v) == one(sdb, "SELECT embed_dim FROM legrad_models")
    assert math.sqrt(sum(x * x for x in v)) == pytest.approx(1.0, abs=1e-5)
    assert one(sdb, "SELECT clip_text_embedding('a photo of a dog')") != e
    assert one(sdb, "SELECT clip_text_embedding(NULL)") is None
    # A constant prompt over many rows gives the same bytes as one call.
    rows = sdb.execute("SELECT clip_text_embedding('a photo of a cat') FROM "
                       "(SELECT 1 UNION ALL SELECT 2 UNION ALL SELECT 3)").fetchall()
    assert {r[0] for r in rows} == {e}
    raises(sdb, "SELECT clip_text_embedding(x'00')", (),
           "clip_text_embedding(): argument 1 (text) must be TEXT, found BLOB")
    raises(sdb, "SELECT clip_text_embedding('a', '{\"size\": 224}')", (),
           "clip_text_embedding(): argument 2 (options): unknown key \"size\" (expected one of: "
           "model, on_error)")


def test_clip_similarity(sdb):
    s = one(sdb, "SELECT clip_similarity(?, 'a photo of a cat')", IMG)
    i = floats(one(sdb, "SELECT clip_image_embedding(?)", IMG))
    t = floats(one(sdb, "SELECT clip_text_embedding('a photo of a cat')"))
    assert s == pytest.approx(sum(a * b for a, b in zip(i, t)), abs=1e-5)
    assert -1.0 <= s <= 1.0
    assert one(sdb, "SELECT clip_similarity(NULL, 'a')") is None
    assert one(sdb, "SELECT clip_similarity(?, NULL)", IMG) is None
    raises(sdb, "SELECT clip_similarity(?, 'a', '{\"cache\": false}')", (IMG,),
           "clip_similarity(): argument 3 (options): unknown key \"cache\" (expected one of: "
           "model, size, resize, on_error)")


def test_embedding_reuses_the_forward_of_the_same_image(sdb):
    """Image x prompt queries reuse the previous row's forward (and its embedding): the results
    must be the bytes a fresh connection computes, whatever ran before on the same workspace."""
    other = image("grey_70x50.png")
    fresh = one(connect_sample(), "SELECT clip_image_embedding(?)", IMG)
    # A legrad() call leaves IMG's forward in the workspace; the embedding must still be exact.
    sdb.execute("SELECT legrad(?, 'a photo of a cat', -2, '{\"cache\": false}')", (IMG,)).fetchall()
    assert one(sdb, "SELECT clip_image_embedding(?)", IMG) == fresh
    # Alternating images, repeated prompts: every similarity equals its own one-off computation.
    rows = sdb.execute(
        "SELECT clip_similarity(i, p) FROM (SELECT ? AS i UNION ALL SELECT ?) "
        "CROSS JOIN (SELECT 'a red circle' AS p UNION ALL SELECT 'a blue square')",
        (IMG, other)).fetchall()
    singles = [one(connect_sample(), "SELECT clip_similarity(?, ?)", i, p)
               for i in (IMG, other) for p in ("a red circle", "a blue square")]
    assert [r[0] for r in rows] == singles


def test_clip_tokenize(sdb):
    ids = json.loads(one(sdb, "SELECT clip_tokenize('a photo of a cat')"))
    assert len(ids) >= 3
    assert ids[0] != ids[-1] and all(isinstance(x, int) for x in ids)
    assert json.loads(one(sdb, "SELECT clip_tokenize('')")) == [ids[0], ids[-1]]
    # JSON subtype: usable directly by json functions.
    assert one(sdb, "SELECT json_array_length(clip_tokenize('a photo of a cat'))") == len(ids)
    assert one(sdb, "SELECT clip_tokenize(NULL)") is None


def test_text_functions_need_a_tokenizer(db):
    db.execute("INSERT INTO legrad_models(name, path) VALUES ('default', ?)", (TINY_VIS,))
    with pytest.raises(sqlite3.OperationalError) as e:
        db.execute("SELECT clip_text_embedding('a')").fetchall()
    assert str(e.value).startswith("clip_text_embedding(): argument 1 (text): the model loaded from ")
