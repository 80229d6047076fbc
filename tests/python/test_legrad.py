"""legrad() and legrad_layers(): maps, layer selection, options, and verbatim error messages."""
import json
import sqlite3

import pytest

from conftest import SAMPLE, TINY_HF, connect, image, one, raises

IMG = image()


def info(db, blob):
    return json.loads(one(db, "SELECT legrad_map_info(?)", blob))


def grid(db, blob):
    return json.loads(one(db, "SELECT legrad_map_grid(?)", blob))


def model_shape(db):
    return db.execute("SELECT layers, patch, image_size, fingerprint FROM legrad_models "
                      "WHERE name = 'default'").fetchone()


def test_legrad(sdb):
    L, P, S, fp = model_shape(sdb)
    m = one(sdb, "SELECT legrad(?, 'a photo of a cat')", IMG)
    assert isinstance(m, bytes)
    i = info(sdb, m)
    assert i["layers"] == [L - 2, L - 1]
    assert (i["grid"], i["patch"], i["method"]) == ([S // P, S // P], P, "legrad")
    assert i["fingerprint"] == fp
    g = grid(sdb, m)
    assert len(g) == S // P and all(len(r) == S // P for r in g)
    # Deterministic: the same call gives the same bytes (without the cache too).
    assert one(sdb, "SELECT legrad(?, 'a photo of a cat', -2, '{\"cache\": false}')", IMG) == m


def test_legrad_null_inputs(sdb):
    assert one(sdb, "SELECT legrad(NULL, 'a cat')") is None
    assert one(sdb, "SELECT legrad(?, NULL)", IMG) is None


def test_legrad_layers_argument(sdb):
    L = model_shape(sdb)[0]
    q = "SELECT legrad(?, 'a cat', ?, '{\"cache\": false}')"
    assert one(sdb, q, IMG, 0) == one(sdb, q, IMG, "all")
    assert one(sdb, q, IMG, -2) == one(sdb, q, IMG, "%d,%d" % (L - 2, L - 1))
    assert one(sdb, q, IMG, -2) == one(sdb, q, IMG, "%d-%d" % (L - 2, L - 1))
    assert one(sdb, q, IMG, None) == one(sdb, q, IMG, -2)
    assert info(sdb, one(sdb, q, IMG, "0"))["layers"] == list(range(L))
    assert info(sdb, one(sdb, q, IMG, "%d-%d" % (L - 1, L - 1)))["layers"] == [L - 1]


def test_legrad_is_the_sum_of_legrad_layers(sdb):
    total = grid(sdb, one(sdb, "SELECT legrad(?, 'a cat', 'all')", IMG))
    rows = sdb.execute("SELECT layer, map FROM legrad_layers(?, 'a cat', 'all')", (IMG,)).fetchall()
    L = model_shape(sdb)[0]
    assert [r[0] for r in rows] == list(range(L))
    per = [grid(sdb, r[1]) for r in rows]
    for y in range(len(total)):
        for x in range(len(total)):
            s = sum(p[y][x] for p in per)
            assert total[y][x] == pytest.approx(s, rel=1e-5, abs=1e-9)


def test_legrad_options(sdb):
    _, P, S, _ = model_shape(sdb)
    big = one(sdb, "SELECT legrad(?, 'a cat', -2, json_object('size', ?))", IMG, 2 * S)
    assert info(sdb, big)["grid"] == [2 * S // P, 2 * S // P]
    crop = one(sdb, "SELECT legrad(?, 'a cat', -2, '{\"resize\": \"crop\"}')", IMG)
    squash = one(sdb, "SELECT legrad(?, 'a cat', -2, '{\"resize\": \"squash\"}')", IMG)
    assert crop != squash
    assert info(sdb, squash)["frame"]["mode"] == "squash"
    norelu = one(sdb, "SELECT legrad(?, 'a cat', -2, '{\"relu\": false}')", IMG)
    assert info(sdb, norelu)["flags"]["relu"] is False
    assert info(sdb, crop)["flags"]["relu"] is True
    named = one(sdb, "SELECT legrad(?, 'a cat', -2, '{\"model\": \"default\"}')", IMG)
    assert named == one(sdb, "SELECT legrad(?, 'a cat')", IMG)


def test_legrad_errors(sdb):
    L, P, S, _ = model_shape(sdb)
    q = "SELECT legrad(?, ?, ?, ?)"
    raises(sdb, q, ("cat.jpg", "a", -2, None),
           "legrad(): argument 1 (image) must be a BLOB of encoded image bytes, found TEXT; pass "
           "the file's bytes (shell: readfile('path'); Python: open(path, 'rb').read())")
    raises(sdb, q, (7, "a", -2, None),
           "legrad(): argument 1 (image) must be a BLOB of encoded image bytes, found INTEGER")
    raises(sdb, q, (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "a", -2, None),
           "legrad(): argument 1 (image) could not be decoded: cannot read the WebP header "
           "(bitstream error) [image: 16 bytes, webp, hash c1501c02d12e8f3f8b420a9893bcae58]")
    raises(sdb, q, (b"-- SQL text, not an image", "a", -2, None),
           "legrad(): argument 1 (image) could not be decoded: not a JPEG, PNG, WebP, BMP or GIF "
           "image (unrecognised header, 25 bytes) [image: 25 bytes, unknown, hash "
           "377fca434876b405a17940c81ecfecd8]")
    raises(sdb, q, (IMG, b"a cat", -2, None), "legrad(): argument 2 (text) must be TEXT, found BLOB")
    raises(sdb, q, (IMG, "a", 1.5, None),
           "legrad(): argument 3 (layers) must be an INTEGER layer_index (e.g. -2) or TEXT like "
           "'all', '0-11' or '9,10,11', found REAL")
    raises(sdb, q, (IMG, "a", L, None),
           "legrad(): argument 3 (layers): layer_index %d is out of range for a model with %d "
           "layers (expected %d..%d)" % (L, L, -L, L - 1))
    raises(sdb, q, (IMG, "a", -2, "size=448"),
           "legrad(): argument 4 (options) must be a JSON object like '{\"size\": 448}', found "
           "'size=448'")
    raises(sdb, q, (IMG, "a", -2, '{"sise": 448}'),
           "legrad(): argument 4 (options): unknown key \"sise\" (expected one of: model, size, "
           "resize, relu, cache, on_error)")
    raises(sdb, q, (IMG, "a", -2, '{"size": "big"}'),
           "legrad(): argument 4 (options): \"size\" must be a positive integer image side in "
           "pixels (e.g. 224 or 448), found a non-number")
    raises(sdb, q, (IMG, "a", -2, '{"size": %d}' % (S + 1)),
           "legrad(): argument 4 (options): \"size\" must be a multiple of the model's patch size "
           "%d, at most %d, found %d" % (P, 64 * P, S + 1))
    raises(sdb, q, (IMG, "a", -2, '{"resize": "stretch"}'),
           "legrad(): argument 4 (options): \"resize\" must be \"crop\" or \"squash\", found "
           "\"stretch\"")
    raises(sdb, q, (IMG, "a", -2, '{"relu": "yes"}'),
           "legrad(): argument 4 (options): \"relu\" must be true or false")
    raises(sdb, "SELECT legrad(?)", (IMG,),
           "legrad(): expected 2 to 4 arguments (image, text [, layers [, options]])")
    with pytest.raises(sqlite3.OperationalError) as e:
        sdb.execute(q, (IMG, "a", "99", None)).fetchall()
    assert str(e.value).startswith("legrad(): argument 3 (layers): ")


def test_legrad_vision_only_model(db):
    db.execute("INSERT INTO legrad_models(name, path) VALUES ('default', ?)", (TINY_HF,))
    with pytest.raises(sqlite3.OperationalError) as e:
        db.execute("SELECT legrad(?, 'a cat')", (IMG,)).fetchall()
    assert str(e.value).startswith("legrad(): argument 2 (text): the model loaded from '%s' has no " % TINY_HF)


def test_legrad_layers(sdb):
    L = model_shape(sdb)[0]
    cur = sdb.execute("SELECT * FROM legrad_layers(?, 'a photo of a cat')", (IMG,))
    assert [d[0] for d in cur.description] == ["layer", "score", "map"]
    rows = cur.fetchall()
    assert [r[0] for r in rows] == [L - 2, L - 1]
    for layer, score, m in rows:
        i = info(sdb, m)
        assert i["layers"] == [layer] and i["flags"]["single_layer"] is True
        assert i["score"] == pytest.approx(score, rel=1e-6)
        assert -1.0 <= score <= 1.0
    # Named hidden columns work as the arguments, and the options reach the computation.
    named = sdb.execute("SELECT layer FROM legrad_layers WHERE image = ? AND text = 'a cat' "
                        "AND layers = 'all' AND options = '{\"cache\": false}'", (IMG,)).fetchall()
    assert [r[0] for r in named] == list(range(L))
    assert sdb.execute("SELECT * FROM legrad_layers(NULL, 'a cat')").fetchall() == []
    # Joined with a table: one row per (image, layer).
    sdb.execute("CREATE TABLE imgs(id INTEGER PRIMARY KEY, img BLOB)")
    sdb.execute("INSERT INTO imgs(img) VALUES (?), (?)", (IMG, image("grey_70x50.png")))
    n = one(sdb, "SELECT count(*) FROM imgs, legrad_layers(imgs.img, 'a cat', 'all')")
    assert n == 2 * L


def test_legrad_layers_errors(sdb):
    with pytest.raises(sqlite3.OperationalError) as e:
        sdb.execute("SELECT * FROM legrad_layers").fetchall()
    assert str(e.value) == ("legrad_layers(): argument 1 (image) is missing; usage: "
                            "legrad_layers(image, text [, layers [, options]])")
    with pytest.raises(sqlite3.OperationalError) as e:
        sdb.execute("SELECT * FROM legrad_layers(?)", (IMG,)).fetchall()
    assert str(e.value) == ("legrad_layers(): argument 2 (text) is missing; usage: "
                            "legrad_layers(image, text [, layers [, options]])")
    raises(sdb, "SELECT * FROM legrad_layers('x.jpg', 'a')", (),
           "legrad_layers(): argument 1 (image) must be a BLOB of encoded image bytes, found TEXT; "
           "pass the file's bytes (shell: readfile('path'); Python: open(path, 'rb').read())")
    raises(sdb, "SELECT * FROM legrad_layers(?, 'a', -2, '{\"x\":1}')", (IMG,),
           "legrad_layers(): argument 4 (options): unknown key \"x\" (expected one of: model, size, "
           "resize, relu, cache, on_error)")


def test_legrad_reuses_the_forward_across_prompts_correctly(sdb):
    """A call on the image of the previous call (another prompt) reuses the connection's last
    forward; interleaving images, prompts, sizes, resize modes and embeddings (which overwrite the
    workspace) must give the maps of fresh connections."""
    imgs = [IMG, image("grey_70x50.png")]
    calls = [(0, "a cat", "{}"), (0, "a dog", "{}"), (1, "a cat", "{}"), (0, "a cat", "{}"),
             (0, "a cat", '{"resize": "squash"}'), (0, "a dog", "{}"), (1, "a dog", '{"size": 128}'),
             (1, "a cat", "{}")]
    got = []
    for i, p, o in calls:
        opts = json.dumps(dict(json.loads(o), cache=False))
        got.append(one(sdb, "SELECT legrad(?, ?, 'all', ?)", imgs[i], p, opts))
        one(sdb, "SELECT clip_image_embedding(?)", imgs[1 - i])  # overwrites the workspace
        got.append(one(sdb, "SELECT legrad(?, ?, 'all', ?)", imgs[i], p, opts))
    for k, (i, p, o) in enumerate(calls):
        fresh = connect()
        fresh.execute("INSERT INTO legrad_models(name, path) VALUES ('default', ?)", (SAMPLE,))
        want = one(fresh, "SELECT legrad(?, ?, 'all', ?)", imgs[i], p,
                   json.dumps(dict(json.loads(o), cache=False)))
        assert got[2 * k] == want and got[2 * k + 1] == want, (i, p, o)
