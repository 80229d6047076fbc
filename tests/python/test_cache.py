"""The persistent map cache: hits return byte-identical blobs verified against the request,
{"cache": false} bypasses it, maps are written by the extension's own connection (never inside the
user's transaction) so an interrupted, failing or rolled-back statement keeps every map it computed,
read-only databases compute without caching, and a legrad_cache the extension did not create is
refused."""
import json
import os
import sqlite3
import time

import pytest

from conftest import SAMPLE, connect, has_sample, image, one

IMG = image()
IMG2 = image("grey_70x50.png")
HELDOUT = os.path.join(os.path.dirname(SAMPLE), "heldout", "images")
NO_SKIP = {"locked": 0, "full": 0, "readonly": 0, "io": 0, "refused": 0}


def stats(db):
    return json.loads(one(db, "SELECT legrad_cache_stats()"))


def flushed(db, timeout=20.0):
    """Waits until the connection's queued maps are written (or skipped); returns the stats."""
    end = time.time() + timeout
    while True:
        s = stats(db)
        if s["pending"] == 0 or time.time() > end:
            return s
        time.sleep(0.05)


def heldout(n):
    """The first n held-out sample images (skips when samples/heldout is absent)."""
    if not os.path.isdir(HELDOUT):
        pytest.skip("samples/heldout/images is absent")
    names = sorted(os.listdir(HELDOUT))[:n]
    out = []
    for name in names:
        with open(os.path.join(HELDOUT, name), "rb") as f:
            out.append(f.read())
    return out


def open_file_db(path, journal="delete"):
    db = connect(path)
    db.execute("PRAGMA journal_mode=%s" % journal).fetchall()
    db.execute("INSERT INTO legrad_models(name, path) VALUES ('default', ?)", (SAMPLE,))
    db.commit()
    return db


@pytest.fixture(params=["delete", "wal"])
def fdb(tmp_path, request):
    """A file database (rollback journal, then WAL) with the sample model registered."""
    if not has_sample():
        pytest.skip("samples/model is absent (shipped by the sample-model issue)")
    path = str(tmp_path / "maps.db")
    db = open_file_db(path, request.param)
    yield db, path
    db.close()


def test_legrad_cache_stats(fdb):
    db, _ = fdb
    assert stats(db) == {"hits": 0, "misses": 0, "writes": 0, "rows": 0, "bytes": 0,
                         "pending": 0, "mismatches": 0, "skipped": NO_SKIP, "failures": 0}
    a = one(db, "SELECT legrad(?, 'a cat')", IMG)
    s = stats(db)
    assert (s["hits"], s["misses"], s["rows"], s["bytes"]) == (0, 1, 1, len(a))
    s = flushed(db)
    assert (s["writes"], s["rows"], s["pending"], s["bytes"]) == (1, 1, 0, len(a))
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
    flushed(db)
    # Prove a hit is served from the table: plant another image's map under the key (same model,
    # layers, size and options, so it passes the check against the request).
    other = one(db, "SELECT legrad(?, 'a dog', 'all', '{\"cache\": false}')", IMG2)
    db.execute("UPDATE legrad_cache SET map = ?", (other,))
    db.commit()
    assert one(db, "SELECT legrad(?, 'a dog', 'all')", IMG) == other


def test_mismatched_cache_row_is_not_returned(fdb):
    """A valid map of another layer set or relu flag stored under a key is a miss, recomputed."""
    db, _ = fdb
    a = one(db, "SELECT legrad(?, 'a cat')", IMG)
    flushed(db)
    for wrong in (one(db, "SELECT legrad(?, 'a cat', 'all', '{\"cache\": false}')", IMG),
                  one(db, "SELECT legrad(?, 'a cat', -2, '{\"cache\": false, \"relu\": false}')",
                      IMG),
                  one(db, "SELECT legrad(?, 'a cat', -2, '{\"cache\": false, \"size\": 128}')",
                      IMG)):
        assert wrong != a
        db.execute("UPDATE legrad_cache SET map = ?", (wrong,))
        db.commit()
        before = stats(db)
        assert one(db, "SELECT legrad(?, 'a cat')", IMG) == a
        after = flushed(db)
        assert after["mismatches"] == before["mismatches"] + 1
        assert after["hits"] == before["hits"]
        assert one(db, "SELECT map FROM legrad_cache") == a  # overwritten


def test_cache_key_separates_arguments(fdb):
    db, _ = fdb
    for args in [(IMG, "a cat", -2, None), (IMG2, "a cat", -2, None), (IMG, "a dog", -2, None),
                 (IMG, "a cat", "all", None), (IMG, "a cat", -2, '{"relu": false}'),
                 (IMG, "a cat", -2, '{"resize": "squash"}')]:
        db.execute("SELECT legrad(?, ?, ?, ?)", args).fetchall()
    flushed(db)
    assert one(db, "SELECT count(*) FROM legrad_cache") == 6
    assert stats(db)["hits"] == 0


def test_cache_bypass(fdb):
    db, _ = fdb
    one(db, "SELECT legrad(?, 'a cat', -2, '{\"cache\": false}')", IMG)
    s = stats(db)
    assert (s["hits"], s["misses"], s["writes"], s["rows"], s["pending"]) == (0, 0, 0, 0, 0)
    rows = db.execute("SELECT * FROM legrad_layers(?, 'a cat', 'all', '{\"cache\": false}')",
                      (IMG,)).fetchall()
    assert rows and stats(db)["rows"] == 0


def test_cache_option_values(fdb):
    db, _ = fdb
    with pytest.raises(sqlite3.OperationalError,
                       match=r'legrad\(\): argument 4 \(options\): "cache" must be true, false or '
                             r'"strict"'):
        one(db, "SELECT legrad(?, 'a cat', -2, '{\"cache\": \"yes\"}')", IMG)


def test_legrad_layers_cache(fdb):
    db, _ = fdb
    first = db.execute("SELECT layer, score, map FROM legrad_layers(?, 'a cat', 'all')",
                       (IMG,)).fetchall()
    L = len(first)
    assert flushed(db)["writes"] == L
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
    assert one(db, "SELECT legrad_cache_clear()") == 2  # queued maps are cleared too
    db.commit()
    assert stats(db)["rows"] == 0
    db.execute("SELECT legrad(?, 'a cat'), legrad(?, 'a cat')", (IMG, IMG2)).fetchall()
    flushed(db)
    assert one(db, "SELECT legrad_cache_clear()") == 2
    db.commit()
    assert stats(db)["rows"] == 0


def test_read_only_database(fdb):
    db, path = fdb
    a = one(db, "SELECT legrad(?, 'a cat')", IMG)
    flushed(db)
    ro = connect("file:%s?mode=ro" % path, uri=True)
    # Registering writes the connection's temp schema only: it works on a read-only file.
    ro.execute("INSERT INTO legrad_models(name, path) VALUES ('default', ?)", (SAMPLE,))
    assert one(ro, "SELECT legrad(?, 'a cat')", IMG) == a  # read from the cache
    b = one(ro, "SELECT legrad(?, 'a dog')", IMG)          # computed, not stored, no error
    s = stats(ro)
    assert b is not None and s["writes"] == 0 and s["rows"] == 1
    assert s["skipped"]["readonly"] == 1
    with pytest.raises(sqlite3.OperationalError, match=r"could not be stored in legrad_cache "
                                                       r"\(readonly: the database is read-only"):
        one(ro, "SELECT legrad(?, 'a bird', -2, '{\"cache\": \"strict\"}')", IMG)
    assert one(db, "SELECT count(*) FROM legrad_cache") == 1
    q = connect(path)
    q.execute("INSERT INTO legrad_models(name, path) VALUES ('default', ?)", (SAMPLE,))
    q.execute("PRAGMA query_only = 1")
    assert one(q, "SELECT legrad(?, 'a bird')", IMG) is not None
    assert stats(q)["writes"] == 0 and stats(q)["skipped"]["readonly"] == 1


def test_read_only_database_without_table(tmp_path):
    if not has_sample():
        pytest.skip("samples/model is absent")
    path = str(tmp_path / "empty.db")
    sqlite3.connect(path).execute("CREATE TABLE t(x)").connection.commit()
    os.chmod(path, 0o444)
    ro = connect("file:%s?mode=ro" % path, uri=True)
    ro.execute("INSERT INTO legrad_models(name, path) VALUES ('default', ?)", (SAMPLE,))
    assert one(ro, "SELECT legrad(?, 'a cat')", IMG) is not None
    assert stats(ro)["rows"] == 0


def test_in_memory_database_private_cache(sdb):
    """An in-memory main database gets a private in-memory cache: hits work, no table appears in
    the user's schema, and the user's transaction is untouched."""
    sdb.commit()
    sdb.execute("CREATE TABLE u(x)")
    sdb.execute("INSERT INTO u VALUES (1)")
    assert sdb.in_transaction
    a = one(sdb, "SELECT legrad(?, 'a cat')", IMG)
    assert one(sdb, "SELECT legrad(?, 'a cat')", IMG) == a
    s = stats(sdb)
    assert (s["hits"], s["misses"], s["writes"], s["rows"], s["bytes"]) == (1, 1, 1, 1, len(a))
    assert one(sdb, "SELECT count(*) FROM sqlite_schema WHERE name = 'legrad_cache'") == 0
    sdb.rollback()
    assert one(sdb, "SELECT count(*) FROM u") == 0
    assert stats(sdb)["rows"] == 1


def test_failure_mid_statement_keeps_computed_maps(fdb):
    db, _ = fdb
    db.execute("CREATE TABLE imgs(id INTEGER PRIMARY KEY, img BLOB)")
    db.executemany("INSERT INTO imgs(img) VALUES (?)", [(IMG,), (IMG2,), (b"not an image",), (IMG,)])
    db.commit()
    with pytest.raises(sqlite3.OperationalError, match="could not be decoded"):
        db.execute("SELECT id, legrad(img, 'a cat') FROM imgs ORDER BY id").fetchall()
    # The two maps computed before the failure are cached, complete and valid.
    flushed(db)
    rows = db.execute("SELECT map FROM legrad_cache").fetchall()
    assert len(rows) == 2
    for (m,) in rows:
        assert json.loads(one(db, "SELECT legrad_map_info(?)", m))["layers"]
    want = {one(db, "SELECT legrad(?, 'a cat', -2, '{\"cache\": false}')", i) for i in (IMG, IMG2)}
    assert {r[0] for r in rows} == want


def _imgs_table(db, n, bad_at=None):
    imgs = heldout(n)
    if bad_at is not None:
        imgs[bad_at] = b"not an image"
    db.execute("CREATE TABLE imgs(id INTEGER PRIMARY KEY, img BLOB, m BLOB)")
    db.executemany("INSERT INTO imgs(id, img) VALUES (?, ?)", list(enumerate(imgs, 1)))
    db.execute("CREATE TABLE maps(id INTEGER, m BLOB)")
    db.commit()


STOPPED = {
    "insert": "INSERT INTO maps SELECT id, legrad(img, 'a cat') FROM imgs WHERE stop(id) "
              "ORDER BY id",
    "ctas": "CREATE TABLE maps2 AS SELECT id, legrad(img, 'a cat') AS m FROM imgs WHERE stop(id) "
            "ORDER BY id",
    "update": "UPDATE imgs SET m = legrad(img, 'a cat') WHERE stop(id)",
    "select": "SELECT id, legrad(img, 'a cat') FROM imgs WHERE stop(id) ORDER BY id",
}


@pytest.mark.parametrize("kind", sorted(STOPPED))
@pytest.mark.parametrize("explicit", [False, True], ids=["autocommit", "begin"])
def test_interrupted_statement_keeps_maps(fdb, kind, explicit):
    """sqlite3_interrupt at row 4 (what Ctrl-C does in the shell): the maps computed before the
    statement stopped stay cached, whatever the statement and whether it ran inside BEGIN; a re-run computes only
    the missing ones."""
    db, path = fdb
    _imgs_table(db, 6)
    armed = [True]

    def stop(i):
        if armed[0] and i == 4:
            db.interrupt()
        return 1
    db.create_function("stop", 1, stop)
    if explicit:
        db.execute("BEGIN")
    with pytest.raises(sqlite3.OperationalError, match="interrupted"):
        db.execute(STOPPED[kind]).fetchall()
    if explicit:
        db.rollback()
    # Rows 1-3 computed, and row 4 too when its call ran before SQLite noticed the interrupt.
    s = stats(db)
    computed = s["misses"]
    assert 3 <= computed <= 4 and s["rows"] == computed
    armed[0] = False
    db.execute("DROP TABLE IF EXISTS maps2")
    db.execute(STOPPED[kind]).fetchall()
    db.commit()
    s = flushed(db)
    assert (s["misses"], s["hits"], s["rows"], s["writes"]) == (6, computed, 6, 6)
    assert s["skipped"] == NO_SKIP
    # Another connection sees every map.
    assert sqlite3.connect(path).execute("SELECT count(*) FROM legrad_cache").fetchone()[0] == 6


def test_failing_insert_select_in_transaction_keeps_maps(fdb):
    """A bad image at row 4 of an INSERT ... SELECT inside BEGIN: the user's ROLLBACK undoes their
    rows and keeps the three computed maps; the re-run (bad row fixed) computes only the rest."""
    db, _ = fdb
    _imgs_table(db, 5, bad_at=3)
    db.execute("BEGIN")
    db.execute("INSERT INTO maps VALUES (0, NULL)")
    with pytest.raises(sqlite3.OperationalError, match="could not be decoded"):
        db.execute("INSERT INTO maps SELECT id, legrad(img, 'a cat') FROM imgs ORDER BY id")
    db.rollback()
    assert one(db, "SELECT count(*) FROM maps") == 0
    assert stats(db)["rows"] == 3
    db.execute("UPDATE imgs SET img = ? WHERE id = 4", (IMG,))
    db.execute("INSERT INTO maps SELECT id, legrad(img, 'a cat') FROM imgs ORDER BY id")
    db.commit()
    s = flushed(db)
    # misses: 3 computed, the bad row, then rows 4 and 5; the first three are hits.
    assert (s["misses"], s["hits"], s["rows"], s["skipped"]) == (6, 3, 5, NO_SKIP)


def test_constraint_failure_keeps_maps(fdb):
    db, _ = fdb
    _imgs_table(db, 4)
    db.execute("CREATE TABLE uniq(m BLOB, k INTEGER UNIQUE)")
    db.commit()
    with pytest.raises(sqlite3.IntegrityError):
        db.execute("INSERT INTO uniq SELECT legrad(img, 'a cat'), min(id, 3) FROM imgs ORDER BY id")
    db.rollback()
    assert stats(db)["rows"] == 4
    assert flushed(db)["writes"] == 4


def test_rollback_keeps_the_cache(fdb):
    db, path = fdb
    db.execute("CREATE TABLE maps(id INTEGER, m BLOB)")
    db.commit()
    db.execute("BEGIN")
    db.execute("INSERT INTO maps SELECT 1, legrad(?, 'a cat')", (IMG,))
    db.execute("ROLLBACK")
    assert one(db, "SELECT count(*) FROM maps") == 0
    s = flushed(db)
    assert (s["rows"], s["writes"]) == (1, 1)
    assert sqlite3.connect(path).execute("SELECT count(*) FROM legrad_cache").fetchone()[0] == 1


def test_cache_written_during_select_of_same_db(fdb):
    """Maps computed while the outer SELECT still steps over a table of the same database are
    found again by later rows of the same statement."""
    db, path = fdb
    db.execute("CREATE TABLE imgs(id INTEGER PRIMARY KEY, img BLOB)")
    db.executemany("INSERT INTO imgs(img) VALUES (?)", [(IMG,), (IMG2,)] * 3)
    db.commit()
    out = db.execute("SELECT legrad(img, 'a cat') FROM imgs ORDER BY id").fetchall()
    assert len({r[0] for r in out}) == 2
    s = flushed(db)
    assert (s["misses"], s["hits"], s["rows"], s["writes"]) == (2, 4, 2, 2)
    other = sqlite3.connect(path)  # another connection sees committed rows
    assert other.execute("SELECT count(*) FROM legrad_cache").fetchone()[0] == 2


def test_damaged_cache_row_is_recomputed(fdb):
    """A stored blob that does not decode is not a hit: the map is computed again and the row
    overwritten (for legrad() and for the per-layer rows of legrad_layers())."""
    db, _ = fdb
    a = one(db, "SELECT legrad(?, 'a cat')", IMG)
    rows = db.execute("SELECT layer, score, map FROM legrad_layers(?, 'a cat')", (IMG,)).fetchall()
    flushed(db)
    db.execute("UPDATE legrad_cache SET map = x'4c47524d0000'")
    db.commit()
    before = stats(db)
    assert one(db, "SELECT legrad(?, 'a cat')", IMG) == a
    assert db.execute("SELECT layer, score, map FROM legrad_layers(?, 'a cat')",
                      (IMG,)).fetchall() == rows
    after = flushed(db)
    assert after["hits"] == before["hits"] and after["misses"] == before["misses"] + 3
    assert one(db, "SELECT count(*) FROM legrad_cache WHERE length(map) = 6") == 0


def test_cache_write_keeps_last_insert_rowid_and_changes(fdb):
    db, _ = fdb
    db.execute("CREATE TABLE t(x)")
    db.execute("INSERT INTO t VALUES (1), (2), (3)")
    db.commit()
    rowid = one(db, "SELECT last_insert_rowid()")
    total = one(db, "SELECT total_changes()")
    one(db, "SELECT legrad(?, 'a cat')", IMG)
    assert flushed(db)["writes"] == 1
    assert one(db, "SELECT last_insert_rowid()") == rowid == 3
    assert one(db, "SELECT total_changes()") == total


@pytest.mark.parametrize("journal", ["delete", "wal"])
def test_full_database_inside_begin_keeps_the_transaction(tmp_path, journal):
    """max_page_count reached inside the user's BEGIN: legrad() returns its map, the user's
    transaction is exactly as it was (their ROLLBACK undoes their insert), and the failed cache
    write is counted as "full"."""
    if not has_sample():
        pytest.skip("samples/model is absent")
    db = open_file_db(str(tmp_path / "full.db"), journal)
    db.execute("CREATE TABLE u(x)")
    db.commit()
    db.execute("BEGIN")
    db.execute("INSERT INTO u VALUES (1)")
    pages = one(db, "PRAGMA page_count")
    db.execute("PRAGMA max_page_count = %d" % pages)
    assert one(db, "SELECT legrad(?, 'a cat')", IMG) is not None
    assert db.in_transaction and one(db, "SELECT count(*) FROM u") == 1
    db.execute("INSERT INTO u VALUES (2)")
    db.rollback()
    assert one(db, "SELECT count(*) FROM u") == 0
    s = flushed(db)
    assert s["skipped"]["full"] == 1 and s["writes"] == 0 and s["rows"] == 0
    db.close()


def test_strict_cache_raises(tmp_path):
    if not has_sample():
        pytest.skip("samples/model is absent")
    db = open_file_db(str(tmp_path / "strict.db"), "wal")
    # The table does not exist yet and the file may not grow: the write fails, and says so.
    db.execute("PRAGMA max_page_count = %d" % one(db, "PRAGMA page_count"))
    with pytest.raises(sqlite3.OperationalError,
                       match=r"legrad\(\): the map could not be stored in legrad_cache \(full: "):
        one(db, "SELECT legrad(?, 'a dog', 'all', '{\"cache\": \"strict\"}')", IMG)
    assert stats(db)["skipped"]["full"] == 1
    db.execute("PRAGMA max_page_count = 1000000")
    a = one(db, "SELECT legrad(?, 'a cat', -2, '{\"cache\": \"strict\"}')", IMG)
    s = stats(db)
    assert (s["writes"], s["pending"], s["rows"]) == (1, 0, 1)  # written before returning
    assert one(db, "SELECT legrad(?, 'a cat', -2, '{\"cache\": \"strict\"}')", IMG) == a
    db.close()
    # In rollback-journal mode a statement that reads the database holds the lock a commit needs.
    rb = open_file_db(str(tmp_path / "strict_rb.db"), "delete")
    rb.execute("CREATE TABLE imgs(img BLOB)")
    rb.execute("INSERT INTO imgs VALUES (?)", (IMG,))
    rb.commit()
    with pytest.raises(sqlite3.OperationalError, match="journal_mode=WAL"):
        rb.execute("SELECT legrad(img, 'a cat', -2, '{\"cache\": \"strict\"}') FROM imgs").fetchall()
    rb.close()


@pytest.mark.parametrize("trusted", [1, 0], ids=["trusted_schema_on", "trusted_schema_off"])
@pytest.mark.parametrize("hostile", ["trigger", "columns", "view", "index"])
def test_foreign_legrad_cache_is_refused(tmp_path, trusted, hostile):
    """A database that arrives with its own legrad_cache: the extension neither reads nor writes it
    (no trigger fires), and says why."""
    if not has_sample():
        pytest.skip("samples/model is absent")
    path = str(tmp_path / "given.db")
    g = sqlite3.connect(path)
    # Built with the extension's exact DDL, then altered.
    ddl = ("CREATE TABLE legrad_cache(model TEXT NOT NULL, image TEXT NOT NULL, prompt TEXT NOT "
           "NULL, layers TEXT NOT NULL, size INTEGER NOT NULL, resize TEXT NOT NULL, options TEXT "
           "NOT NULL, method TEXT NOT NULL, map BLOB NOT NULL, created TEXT NOT NULL DEFAULT "
           "CURRENT_TIMESTAMP, PRIMARY KEY(model, image, prompt, layers, size, resize, options, "
           "method))")
    g.execute("CREATE TABLE log(x)")
    if hostile == "view":
        g.execute("CREATE VIEW legrad_cache AS SELECT 1 AS model")
        why = "it is a view"
    elif hostile == "columns":
        g.execute("CREATE TABLE legrad_cache(model, image, prompt, layers, size, resize, options, "
                  "method, map, created)")
        why = "its columns or constraints differ"
    else:
        g.execute(ddl)
        if hostile == "trigger":
            g.execute("CREATE TRIGGER x AFTER INSERT ON legrad_cache BEGIN INSERT INTO log "
                      "VALUES ('fired'); END")
            why = "it has a trigger 'x'"
        else:
            g.execute("CREATE INDEX i ON legrad_cache(prompt)")
            why = "it has an index 'i'"
    g.commit()
    g.close()
    db = open_file_db(path)
    db.execute("PRAGMA trusted_schema = %d" % trusted)
    msg = ("legrad(): the table main.legrad_cache was not created by this extension (%s" % why)
    with pytest.raises(sqlite3.OperationalError) as e:
        one(db, "SELECT legrad(?, 'a cat')", IMG)
    assert str(e.value).startswith(msg)
    assert str(e.value).endswith(': drop or rename it, or pass {"cache": false}')
    with pytest.raises(sqlite3.OperationalError, match="legrad_layers"):
        db.execute("SELECT * FROM legrad_layers(?, 'a cat')", (IMG,)).fetchall()
    assert one(db, "SELECT legrad(?, 'a cat', -2, '{\"cache\": false}')", IMG) is not None
    db.close()
    assert sqlite3.connect(path).execute("SELECT count(*) FROM log").fetchone()[0] == 0
