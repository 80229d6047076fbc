"""Four threads with their own connections produce identical maps (weights shared, workspaces
per connection)."""
import sqlite3
import threading

from conftest import SAMPLE, TINY_HF, connect, has_sample, image

import pytest


def test_four_threads_identical_maps():
    if not has_sample():
        pytest.skip("samples/model is absent (shipped by the sample-model issue)")
    imgs = [image(), image("grey_70x50.png"), image("jpeg_progressive_96x72.jpg")]
    results, errors = {}, []

    def work(k):
        try:
            db = connect(check_same_thread=False)
            db.execute("INSERT INTO legrad_models(name, path) VALUES ('default', ?)", (SAMPLE,))
            out = []
            for _ in range(2):
                for img in imgs:
                    out.append(db.execute("SELECT legrad(?, 'a photo of a cat', 'all', "
                                          "'{\"cache\": false}')", (img,)).fetchone()[0])
                    out.append(db.execute("SELECT clip_image_embedding(?)", (img,)).fetchone()[0])
            results[k] = out
            db.close()
        except Exception as e:  # reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert results[0] == results[1] == results[2] == results[3]
    assert results[0][:6] == results[0][6:]


# ---- several writers into one file database -------------------------------------------------

import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
HELDOUT = os.path.join(os.path.dirname(SAMPLE), "heldout", "images")


def _heldout(n):
    if not has_sample() or not os.path.isdir(HELDOUT):
        pytest.skip("samples/model or samples/heldout/images is absent")
    out = []
    for name in sorted(os.listdir(HELDOUT))[:n]:
        with open(os.path.join(HELDOUT, name), "rb") as f:
            out.append(f.read())
    return out


def _flushed(db, timeout=20.0):
    end = time.time() + timeout
    while True:
        s = json.loads(db.execute("SELECT legrad_cache_stats()").fetchone()[0])
        if s["pending"] == 0 or time.time() > end:
            return s
        time.sleep(0.05)


def _new_file_db(path, journal, imgs):
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=%s" % journal).fetchall()
    db.execute("CREATE TABLE imgs(id INTEGER PRIMARY KEY, img BLOB)")
    db.executemany("INSERT INTO imgs(img) VALUES (?)", [(i,) for i in imgs])
    db.commit()
    db.close()


NO_SKIP = {"locked": 0, "full": 0, "readonly": 0, "io": 0, "refused": 0}


@pytest.mark.parametrize("journal", ["delete", "wal"])
def test_four_threads_one_file_cache(tmp_path, journal):
    """Four threads, each with its own connection, compute into one file: every distinct map lands
    in legrad_cache, nothing is skipped, no 'database is locked' reaches a thread."""
    imgs = _heldout(6)
    path = str(tmp_path / "shared.db")
    _new_file_db(path, journal, imgs)
    errors, skipped = [], []

    def work(k):
        try:
            db = connect(path, check_same_thread=False)
            db.execute("INSERT INTO legrad_models(name, path) VALUES ('default', ?)", (SAMPLE,))
            db.commit()
            # A shared prompt (the same keys in every thread) and one of the thread's own, both as
            # one multi-row statement over the same database and as one call per statement.
            db.execute("SELECT count(legrad(img, 'a shared prompt')) FROM imgs").fetchall()
            for img in imgs:
                db.execute("SELECT legrad(?, ?)", (img, "thread %d" % k)).fetchall()
            skipped.append(_flushed(db)["skipped"])
            db.close()
        except Exception as e:  # reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert skipped == [NO_SKIP] * 4
    db = sqlite3.connect(path)
    assert db.execute("SELECT count(*) FROM legrad_cache").fetchone()[0] == len(imgs) * 5


PROCESS = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from conftest import SAMPLE, connect
from test_threads import _flushed
db = connect(sys.argv[2])
db.execute("INSERT INTO legrad_models(name, path) VALUES ('default', ?)", (SAMPLE,))
db.commit()
db.execute("SELECT count(legrad(img, 'a shared prompt')) FROM imgs").fetchall()
db.execute("SELECT count(legrad(img, ?)) FROM imgs", ("process " + sys.argv[3],)).fetchall()
print(json.dumps(_flushed(db)))
db.close()
"""


@pytest.mark.parametrize("journal", ["delete", "wal"])
def test_two_processes_one_file_cache(tmp_path, journal):
    imgs = _heldout(8)
    path = str(tmp_path / "shared.db")
    _new_file_db(path, journal, imgs)
    procs = [subprocess.Popen([sys.executable, "-c", PROCESS, HERE, path, str(k)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for k in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
        assert json.loads(out)["skipped"] == NO_SKIP
    db = sqlite3.connect(path)
    assert db.execute("SELECT count(*) FROM legrad_cache").fetchone()[0] == len(imgs) * 3


def test_registration_needs_no_write_on_main(tmp_path):
    """INSERT INTO legrad_models writes the connection's temp schema: eight threads register while
    another connection holds the database's write lock, with no busy timeout, and none fails."""
    if not has_sample():
        pytest.skip("samples/model is absent")
    path = str(tmp_path / "reg.db")
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("CREATE TABLE t(x)")
    blocker.execute("BEGIN IMMEDIATE")
    blocker.execute("INSERT INTO t VALUES (1)")
    errors = []

    def work(k):
        try:
            db = connect(path, check_same_thread=False, timeout=0)
            db.execute("INSERT INTO legrad_models(name, path) VALUES (?, ?)", ("m%d" % k, SAMPLE))
            db.commit()
            assert db.execute("SELECT name FROM legrad_models").fetchall() == [("m%d" % k,)]
            db.close()
        except Exception as e:  # reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    blocker.execute("COMMIT")
    assert errors == []


def test_loading_twice_keeps_the_models():
    if not has_sample():
        pytest.skip("samples/model is absent")
    from conftest import EXT
    db = connect()
    db.execute("INSERT INTO legrad_models(name, path) VALUES ('mine', ?)", (SAMPLE,))
    db.commit()
    db.enable_load_extension(True)
    db.load_extension(EXT)
    db.enable_load_extension(False)
    assert db.execute("SELECT name FROM legrad_models").fetchall() == [("mine",)]
    assert db.execute("SELECT legrad(?, 'a cat', -2, '{\"model\": \"mine\"}')",
                      (image(),)).fetchone()[0] is not None
    db.close()


KILLED = r"""
import sys, time
sys.path.insert(0, sys.argv[1])
from conftest import SAMPLE, connect
db = connect(sys.argv[2])
db.execute("INSERT INTO legrad_models(name, path) VALUES ('default', ?)", (SAMPLE,))
db.commit()
db.execute("SELECT count(legrad(img, 'a cat')) FROM imgs").fetchall()
print("computed", flush=True)
time.sleep(60)
"""


@pytest.mark.parametrize("journal", ["delete", "wal"])
def test_maps_are_written_without_closing(tmp_path, journal):
    """The flusher writes queued maps within its tick while the connection stays open and idle:
    a kill -9 after that loses nothing."""
    imgs = _heldout(5)
    path = str(tmp_path / "killed.db")
    _new_file_db(path, journal, imgs)
    p = subprocess.Popen([sys.executable, "-c", KILLED, HERE, path], stdout=subprocess.PIPE,
                         text=True)
    try:
        assert p.stdout.readline().strip() == "computed"
        db = sqlite3.connect(path)
        end, rows = time.time() + 20, 0
        while time.time() < end:
            rows = db.execute("SELECT count(*) FROM sqlite_schema WHERE name = 'legrad_cache'")\
                .fetchone()[0] and db.execute("SELECT count(*) FROM legrad_cache").fetchone()[0]
            if rows == len(imgs):
                break
            time.sleep(0.05)
        assert rows == len(imgs)
    finally:
        p.kill()
        p.wait()
    assert db.execute("SELECT count(*) FROM legrad_cache").fetchone()[0] == len(imgs)
