"""The persistent map cache: hits return byte-identical blobs, {"cache": false} bypasses it, read-only
databases compute without caching and without error, and a failure in the middle of a statement
leaves only complete rows."""
import json
import os
import sqlite3

import pytest

from conftest import SAMPLE, connect, has_sample, image, one

IMG = image()
IMG2 = image("grey_70x50.png")


def stats(db):
    return json.loads(one(db, "SELECT legrad_cache_stats()"))


@pytest.fixture
def fdb(tmp_path):
    """A file database with the sample model registered."""
    if not has_sample():
        pytest.skip("samples/model is absent (shipped by the sample-model issue)")
    path = str(tmp_path / "maps.db")
    db = connect(path)
    db.execute("INSERT INTO legrad_models(name, path) VALUES ('default', ?)", (SAMPLE,))
    yield db, path
    db.close()


def test_legrad_cache_stats(fdb):
    db, _ = fdb
    assert stats(db) == {"hits": 0, "misses": 0, "writes": 0, "rows": 0, "bytes": 0, "failures": 0}
    a = one(db, "SELECT legrad(?, 'a cat')", IMG)
    s = stats(db)
    assert (s["hits"], s["misses"], s["writes"], s["rows"]) == (0, 1, 1, 1)
    assert s["bytes"] == len(a)
    b = one(db, "SELECT legrad(?, 'a cat')", IMG)
    assert b == a
    assert stats(db)["hits"] == 1
    # The table has the documented key columns and the exact blob.
    row = db.execute("SELECT model, prompt, layers, size, resize, options, method, map FROM "
                     "legrad_cache").fetchone()
    fp, L, S = db.execute("SELECT fingerprint, layers, image_size FROM legrad_models").fetchone()
    assert row == (fp, "a cat", "%d,%d" % (L - 2, L - 1), S, row[4], "relu=1", "legrad", a)


def test_cache_hit_is_byte_identical_and_used(fdb):
    db, _ = fdb
    a = one(db, "SELECT legrad(?, 'a dog', 'all')", IMG)
    fresh = one(db, "SELECT legrad(?, 'a dog', 'all', '{\"cache\": false}')", IMG)
    assert a == fresh
    # Prove a hit is served from the table: plant a different (valid) blob under the key.
    other = one(db, "SELECT legrad(?, 'a dog', 'all', '{\"cache\": false}')", IMG2)
    db.execute("UPDATE legrad_cache SET map = ?", (other,))
    assert one(db, "SELECT legrad(?, 'a dog', 'all')", IMG) == other


def test_cache_key_separates_arguments(fdb):
    db, _ = fdb
    for args in [(IMG, "a cat", -2, None), (IMG2, "a cat", -2, None), (IMG, "a dog", -2, None),
                 (IMG, "a cat", "all", None), (IMG, "a cat", -2, '{"relu": false}'),
                 (IMG, "a cat", -2, '{"resize": "squash"}')]:
        db.execute("SELECT legrad(?, ?, ?, ?)", args).fetchall()
    assert one(db, "SELECT count(*) FROM legrad_cache") == 6
    assert stats(db)["hits"] == 0


def test_cache_bypass(fdb):
    db, _ = fdb
    one(db, "SELECT legrad(?, 'a cat', -2, '{\"cache\": false}')", IMG)
    assert stats(db) == {"hits": 0, "misses": 0, "writes": 0, "rows": 0, "bytes": 0, "failures": 0}
    rows = db.execute("SELECT * FROM legrad_layers(?, 'a cat', 'all', '{\"cache\": false}')",
                      (IMG,)).fetchall()
    assert rows and stats(db)["rows"] == 0


def test_legrad_layers_cache(fdb):
    db, _ = fdb
    first = db.execute("SELECT layer, score, map FROM legrad_layers(?, 'a cat', 'all')",
                       (IMG,)).fetchall()
    L = len(first)
    assert stats(db)["writes"] == L
    again = db.execute("SELECT layer, score, map FROM legrad_layers(?, 'a cat', 'all')",
                       (IMG,)).fetchall()
    assert again == first
    assert stats(db)["hits"] == L
    # Per-layer rows are shared by any layer set.
    last = db.execute("SELECT layer, score, map FROM legrad_layers(?, 'a cat', ?)",
                      (IMG, str(L - 1))).fetchall()
    assert last == first[-1:]


def test_legrad_cache_clear(fdb):
    db, _ = fdb
    assert one(db, "SELECT legrad_cache_clear()") == 0  # no table yet
    db.execute("SELECT legrad(?, 'a cat'), legrad(?, 'a cat')", (IMG, IMG2)).fetchall()
    assert one(db, "SELECT legrad_cache_clear()") == 2
    assert stats(db)["rows"] == 0


def test_read_only_database(fdb):
    db, path = fdb
    a = one(db, "SELECT legrad(?, 'a cat')", IMG)
    db.commit()
    ro = connect("file:%s?mode=ro" % path, uri=True)
    # The eponymous legrad_models belongs to the read-only main schema: registering needs the
    # documented temp instance.
    with pytest.raises(sqlite3.OperationalError, match="attempt to write a readonly database"):
        ro.execute("INSERT INTO legrad_models(name, path) VALUES ('default', ?)", (SAMPLE,))
    ro.execute("CREATE VIRTUAL TABLE temp.legrad_models USING legrad_models")
    ro.execute("INSERT INTO legrad_models(name, path) VALUES ('default', ?)", (SAMPLE,))
    assert one(ro, "SELECT legrad(?, 'a cat')", IMG) == a  # read from the cache
    b = one(ro, "SELECT legrad(?, 'a dog')", IMG)          # computed, not stored, no error
    assert b is not None and stats(ro)["writes"] == 0 and stats(ro)["rows"] == 1
    assert one(db, "SELECT count(*) FROM legrad_cache") == 1
    q = connect(path)
    q.execute("INSERT INTO legrad_models(name, path) VALUES ('default', ?)", (SAMPLE,))
    q.execute("PRAGMA query_only = 1")
    assert one(q, "SELECT legrad(?, 'a bird')", IMG) is not None
    assert stats(q)["writes"] == 0


def test_read_only_database_without_table(tmp_path):
    if not has_sample():
        pytest.skip("samples/model is absent")
    path = str(tmp_path / "empty.db")
    sqlite3.connect(path).execute("CREATE TABLE t(x)").connection.commit()
    os.chmod(path, 0o444)
    ro = connect("file:%s?mode=ro" % path, uri=True)
    ro.execute("CREATE VIRTUAL TABLE temp.legrad_models USING legrad_models")
    ro.execute("INSERT INTO legrad_models(name, path) VALUES ('default', ?)", (SAMPLE,))
    assert one(ro, "SELECT legrad(?, 'a cat')", IMG) is not None
    assert stats(ro)["rows"] == 0


def test_failure_mid_statement_leaves_complete_rows(fdb):
    db, _ = fdb
    db.execute("CREATE TABLE imgs(id INTEGER PRIMARY KEY, img BLOB)")
    db.executemany("INSERT INTO imgs(img) VALUES (?)", [(IMG,), (IMG2,), (b"not an image",), (IMG,)])
    db.commit()
    with pytest.raises(sqlite3.OperationalError, match="could not be decoded"):
        db.execute("SELECT id, legrad(img, 'a cat') FROM imgs ORDER BY id").fetchall()
    # The two maps computed before the failure are cached, complete and valid.
    rows = db.execute("SELECT map FROM legrad_cache").fetchall()
    assert len(rows) == 2
    for (m,) in rows:
        assert json.loads(one(db, "SELECT legrad_map_info(?)", m))["layers"]
    want = {one(db, "SELECT legrad(?, 'a cat', -2, '{\"cache\": false}')", i) for i in (IMG, IMG2)}
    assert {r[0] for r in rows} == want


def test_failure_inside_a_write_statement_rolls_back(fdb):
    """Inside an INSERT ... SELECT that fails, the statement's own rows and the cache rows written
    during it are undone together (explicit transaction rolled back)."""
    db, _ = fdb
    db.execute("CREATE TABLE maps(id INTEGER, m BLOB)")
    db.commit()
    db.execute("BEGIN")
    db.execute("INSERT INTO maps SELECT 1, legrad(?, 'a cat')", (IMG,))
    with pytest.raises(sqlite3.OperationalError):
        db.execute("INSERT INTO maps SELECT 2, legrad(x'00', 'a cat')")
    db.execute("ROLLBACK")
    assert one(db, "SELECT count(*) FROM maps") == 0
    assert stats(db)["rows"] == 0  # the table itself was created in the rolled-back transaction
    # Committed, the cache rows of an INSERT ... SELECT are kept with it.
    db.execute("INSERT INTO maps SELECT 3, legrad(?, 'a cat')", (IMG,))
    db.commit()
    assert one(db, "SELECT m FROM maps") == one(db, "SELECT map FROM legrad_cache")


def test_cache_written_during_select_of_same_db(fdb):
    """Writes happen while the outer SELECT is still stepping over a table of the same database."""
    db, path = fdb
    db.execute("CREATE TABLE imgs(id INTEGER PRIMARY KEY, img BLOB)")
    db.executemany("INSERT INTO imgs(img) VALUES (?)", [(IMG,), (IMG2,)] * 3)
    db.commit()
    out = db.execute("SELECT legrad(img, 'a cat') FROM imgs ORDER BY id").fetchall()
    assert len({r[0] for r in out}) == 2
    s = stats(db)
    assert (s["misses"], s["hits"], s["rows"]) == (2, 4, 2)
    other = sqlite3.connect(path)  # another connection sees committed rows
    assert other.execute("SELECT count(*) FROM legrad_cache").fetchone()[0] == 2


def test_damaged_cache_row_is_recomputed(fdb):
    """A stored blob that does not decode is not a hit: the map is computed again and the row
    overwritten (for legrad() and for the per-layer rows of legrad_layers())."""
    db, _ = fdb
    a = one(db, "SELECT legrad(?, 'a cat')", IMG)
    rows = db.execute("SELECT layer, score, map FROM legrad_layers(?, 'a cat')", (IMG,)).fetchall()
    db.execute("UPDATE legrad_cache SET map = x'4c47524d0000'")
    db.commit()
    before = stats(db)
    assert one(db, "SELECT legrad(?, 'a cat')", IMG) == a
    assert db.execute("SELECT layer, score, map FROM legrad_layers(?, 'a cat')",
                      (IMG,)).fetchall() == rows
    after = stats(db)
    assert after["hits"] == before["hits"] and after["misses"] == before["misses"] + 3
    assert one(db, "SELECT count(*) FROM legrad_cache WHERE length(map) = 6") == 0


def test_cache_write_keeps_last_insert_rowid(fdb):
    db, _ = fdb
    db.execute("CREATE TABLE t(x)")
    db.execute("INSERT INTO t VALUES (1), (2), (3)")
    rowid = one(db, "SELECT last_insert_rowid()")
    one(db, "SELECT legrad(?, 'a cat')", IMG)
    assert stats(db)["writes"] == 1
    assert one(db, "SELECT last_insert_rowid()") == rowid == 3
