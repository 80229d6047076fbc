"""One bad row does not sink a batch: {"on_error": "null"}, legrad_failures, legrad_failures_clear(),
legrad_image_hash() and the "failures" counter of legrad_cache_stats()."""
import json
import re
import sqlite3

from conftest import connect, image, one, raises

import pytest

GOOD = image("grey_70x50.png")
GOOD2 = image()  # jpeg_baseline_96x72.jpg
TRUNCATED_PNG = GOOD[:60]          # signature + IHDR (70 x 50), then nothing
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 \x18\x00\x00\x00\x30\x01\x00\x9d\x01\x2a\x80\x02\xe0\x01" + b"\x00" * 8
NULL_OPT = '{"on_error": "null"}'


def batch(db):
    """A table of good and bad images: ids 2 (truncated PNG), 4 (WebP) and 5 (empty) are bad."""
    db.execute("CREATE TABLE photos(id INTEGER PRIMARY KEY, img BLOB)")
    db.executemany("INSERT INTO photos(img) VALUES (?)",
                   [(GOOD,), (TRUNCATED_PNG,), (GOOD2,), (WEBP,), (b"",)])


def failures(db):
    cur = db.execute("SELECT * FROM legrad_failures")
    cols = [d[0] for d in cur.description]
    return [dict(zip(cols, r)) for r in cur.fetchall()]


def test_image_hash_is_the_cache_key(tmp_path):
    """legrad_image_hash() is the image column of legrad_cache (a file database: an in-memory one
    keeps its cache private)."""
    from conftest import SAMPLE, has_sample
    if not has_sample():
        pytest.skip("samples/model is absent")
    path = str(tmp_path / "maps.db")
    db = connect(path)
    db.execute("INSERT INTO legrad_models(name, path) VALUES ('default', ?)", (SAMPLE,))
    assert one(db, "SELECT legrad(?, 'a cat') IS NOT NULL", GOOD) == 1
    db.close()  # closing writes the queued map
    db = sqlite3.connect(path)
    assert [r[0] for r in db.execute("SELECT image FROM legrad_cache")] == [
        one(connect(":memory:"), "SELECT legrad_image_hash(?)", GOOD)]
    db.close()


def test_legrad_failures(sdb):
    batch(sdb)
    rows = sdb.execute("SELECT id, legrad(img, 'a cat', -2, ?) FROM photos", (NULL_OPT,)).fetchall()
    assert [r[0] for r in rows if r[1] is None] == [2, 4, 5]
    assert all(isinstance(r[1], bytes) for r in rows if r[0] in (1, 3))
    f = failures(sdb)
    assert [x["seq"] for x in f] == [1, 2, 3]
    assert {x["function"] for x in f} == {"legrad"} and {x["action"] for x in f} == {"null"}
    assert {x["prompt"] for x in f} == {"a cat"}
    assert [(x["image_bytes"], x["image_format"], x["image_width"], x["image_height"]) for x in f] == [
        (60, "png", 70, 50), (len(WEBP), "webp", 640, 480), (0, "unknown", None, None)]
    for x in f:
        assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", x["time"])
    # legrad_image_hash() finds the row (that it is the cache's key: test_image_hash_is_the_cache_key).
    for x, bad_id in zip(f, (2, 4, 5)):
        assert one(sdb, "SELECT id FROM photos WHERE legrad_image_hash(img) = ?",
                   x["image_hash"]) == bad_id
        assert x["message"].endswith("hash %s]" % x["image_hash"])
    assert f[0]["message"] == (
        "legrad(): argument 1 (image) could not be decoded: PNG image is truncated (its IDAT chunk announces 3351 bytes, 19 remain) "
        "[image: 60 bytes, png 70x50, hash %s]" % f[0]["image_hash"])
    assert f[1]["message"] == (
        "legrad(): argument 1 (image) could not be decoded: cannot decode the WebP image (invalid "
        "or truncated RIFF/WebP structure) [image: %d bytes, webp 640x480, hash %s]" % (len(WEBP), f[1]["image_hash"]))
    assert f[2]["message"] == (
        "legrad(): argument 1 (image) must be a BLOB of encoded image bytes, found an empty BLOB "
        "[image: 0 bytes, unknown, hash %s]" % f[2]["image_hash"])
    assert json.loads(one(sdb, "SELECT legrad_cache_stats()"))["failures"] == 3


def test_on_error_default_stops_with_the_row_identified(sdb):
    batch(sdb)
    h = one(sdb, "SELECT legrad_image_hash(?)", TRUNCATED_PNG)
    raises(sdb, "SELECT id, legrad(img, 'a cat') FROM photos", (),
           "legrad(): argument 1 (image) could not be decoded: PNG image is truncated (its "
           "IDAT chunk announces 3351 bytes, 19 remain) [image: 60 bytes, png 70x50, hash %s]" % h)
    raises(sdb, "SELECT legrad(img, 'a cat', -2, '{\"on_error\": \"error\"}') FROM photos WHERE id = 2",
           (), "legrad(): argument 1 (image) could not be decoded: PNG image is truncated (its "
           "IDAT chunk announces 3351 bytes, 19 remain) [image: 60 bytes, png 70x50, hash %s]" % h)
    # Recorded too, as a failure that stopped its statement.
    assert [(x["action"], x["image_hash"]) for x in failures(sdb)] == [("error", h), ("error", h)]


def test_on_error_every_computing_function(sdb):
    batch(sdb)
    q = ("SELECT id, clip_image_embedding(img, ?1) IS NULL, clip_similarity(img, 'a', ?1) IS NULL "
         "FROM photos")
    assert sdb.execute(q, (NULL_OPT,)).fetchall() == [
        (1, 0, 0), (2, 1, 1), (3, 0, 0), (4, 1, 1), (5, 1, 1)]
    rows = sdb.execute("SELECT id, count(layer) FROM photos LEFT JOIN legrad_layers(photos.img, "
                       "'a', 'all', ?) GROUP BY id", (NULL_OPT,)).fetchall()
    layers = one(sdb, "SELECT layers FROM legrad_models")
    assert rows == [(1, layers), (2, 0), (3, layers), (4, 0), (5, 0)]
    # Text functions take the option too (the tokenizer refuses almost nothing).
    assert one(sdb, "SELECT clip_text_embedding('a', ?) IS NOT NULL", NULL_OPT) == 1
    assert one(sdb, "SELECT clip_tokenize('a', ?)", NULL_OPT).startswith("[")
    counts = dict(((r[0], r[1]) for r in sdb.execute(
        "SELECT function, count(*) FROM legrad_failures GROUP BY function")))
    assert counts == {"clip_image_embedding": 3, "clip_similarity": 3, "legrad_layers": 3}
    sim = [x for x in failures(sdb) if x["function"] == "clip_similarity"]
    assert {x["prompt"] for x in sim} == {"a"}
    emb = [x for x in failures(sdb) if x["function"] == "clip_image_embedding"]
    assert {x["prompt"] for x in emb} == {None}
    raises(sdb, "SELECT clip_image_embedding(img) FROM photos", (),
           "clip_image_embedding(): argument 1 (image) could not be decoded: PNG image is "
           "truncated (its IDAT chunk announces 3351 bytes, 19 remain) [image: 60 bytes, png 70x50, hash %s]"
           % one(sdb, "SELECT legrad_image_hash(?)", TRUNCATED_PNG))


def test_on_error_every_method(sdb):
    """legrad_explain() ends its rows like legrad(): every method of the table gives NULL for a bad
    row under {"on_error": "null"}, records it, and counts the call for legrad_progress()."""
    batch(sdb)
    names = [r[0] for r in sdb.execute("SELECT name FROM legrad_methods ORDER BY name")]
    assert {"legrad", "raw_attention", "rollout"} <= set(names)
    for name in names:
        sdb.execute("SELECT legrad_progress(1000)")  # counting on, no lines within the test
        rows = sdb.execute("SELECT id, legrad_explain(img, 'a cat', ?, ?) IS NULL FROM photos",
                           (name, NULL_OPT)).fetchall()
        assert rows == [(1, 0), (2, 1), (3, 0), (4, 1), (5, 1)], name
        p = json.loads(one(sdb, "SELECT legrad_progress(0)"))
        assert (p["calls"], p["failed"]) == (5, 3), name
    f = failures(sdb)
    assert len(f) == 3 * len(names)
    assert {x["function"] for x in f} == {"legrad_explain"} and {x["action"] for x in f} == {"null"}
    assert [x["image_bytes"] for x in f[:3]] == [60, len(WEBP), 0]
    # The default stops the statement with the row identified, for every method.
    for name in names:
        raises(sdb, "SELECT legrad_explain(img, 'a cat', ?) FROM photos", (name,),
               "legrad_explain(): argument 1 (image) could not be decoded: PNG image is "
               "truncated (its IDAT chunk announces 3351 bytes, 19 remain) [image: 60 bytes, png 70x50, hash %s]"
               % one(sdb, "SELECT legrad_image_hash(?)", TRUNCATED_PNG))
    assert [x["action"] for x in failures(sdb)[-len(names):]] == ["error"] * len(names)
    # A query error stays an error.
    raises(sdb, "SELECT legrad_explain(?, 'a', 'rollout', '{\"on_error\": \"skip\"}')", (GOOD,),
           "legrad_explain(): argument 4 (options): \"on_error\" must be \"error\" (the default: "
           "a row that fails stops the statement) or \"null\" (it gives NULL and is listed in "
           "legrad_failures), found \"skip\"")


def test_on_error_keeps_query_errors(sdb):
    """Mistakes in the query itself are errors whatever on_error says."""
    raises(sdb, "SELECT legrad('cat.jpg', 'a', -2, ?)", (NULL_OPT,),
           "legrad(): argument 1 (image) must be a BLOB of encoded image bytes, found TEXT; pass the "
           "file's bytes (shell: readfile('path'); Python: open(path, 'rb').read())")
    raises(sdb, "SELECT legrad(?, 'a', 1.5, ?)", (GOOD, NULL_OPT),
           "legrad(): argument 3 (layers) must be an INTEGER layer_index (e.g. -2) or TEXT like "
           "'all', '0-11' or '9,10,11', found REAL")
    raises(sdb, "SELECT clip_image_embedding(?, '{\"model\": \"nope\", \"on_error\": \"null\"}')",
           (GOOD,), "clip_image_embedding(): unknown model 'nope' (registered: default)")
    for bad, found in (('"skip"', '"skip"'), ("1", "a non-string")):
        raises(sdb, "SELECT legrad(?, 'a', -2, '{\"on_error\": %s}')" % bad, (GOOD,),
               "legrad(): argument 4 (options): \"on_error\" must be \"error\" (the default: a row "
               "that fails stops the statement) or \"null\" (it gives NULL and is listed in "
               "legrad_failures), found %s" % found)
    assert failures(sdb) == []


def test_legrad_failures_clear(db):
    """The ring keeps the last 10,000 failures; clear and DELETE empty it, the counter stays."""
    n = 10005
    got = db.execute("WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < ?) "
                     "SELECT count(clip_image_embedding(CAST(printf('%d', i) AS BLOB), ?)) FROM s",
                     (n, NULL_OPT)).fetchone()
    assert got == (0,)
    assert db.execute("SELECT count(*), min(seq), max(seq) FROM legrad_failures").fetchone() == (
        10000, 6, n)
    db.execute("DELETE FROM legrad_failures WHERE seq < 100")
    assert one(db, "SELECT min(seq) FROM legrad_failures") == 100
    assert one(db, "SELECT legrad_failures_clear()") == 10000 - 94
    assert one(db, "SELECT count(*) FROM legrad_failures") == 0
    assert json.loads(one(db, "SELECT legrad_cache_stats()"))["failures"] == n
    # seq keeps counting after a clear.
    db.execute("SELECT clip_image_embedding(x'00', ?)", (NULL_OPT,)).fetchall()
    assert one(db, "SELECT seq FROM legrad_failures") == n + 1
    with pytest.raises(sqlite3.Error, match="only DELETE is supported"):
        db.execute("UPDATE legrad_failures SET message = 'x'")


def test_legrad_image_hash(db):
    h = one(db, "SELECT legrad_image_hash(?)", GOOD)
    assert re.fullmatch(r"[0-9a-f]{32}", h)
    assert h != one(db, "SELECT legrad_image_hash(?)", TRUNCATED_PNG)
    assert one(db, "SELECT legrad_image_hash(NULL)") is None
    assert re.fullmatch(r"[0-9a-f]{32}", one(db, "SELECT legrad_image_hash(x'')"))
    raises(db, "SELECT legrad_image_hash('a.png')", (),
           "legrad_image_hash(): argument 1 (image) must be a BLOB of encoded image bytes, found TEXT")


def test_failures_are_per_connection(sdb):
    other = connect()
    sdb.execute("SELECT legrad(x'00', 'a', -2, ?)", (NULL_OPT,)).fetchall()
    assert one(sdb, "SELECT count(*) FROM legrad_failures") == 1
    assert one(other, "SELECT count(*) FROM legrad_failures") == 0
    other.close()
