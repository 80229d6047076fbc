"""legrad_models: INSERT loads, DELETE unloads, SELECT lists; default-model resolution; weights
shared between connections; exact error messages."""
import gc
import os
import shutil
import sqlite3

import pytest

from conftest import (SAMPLE, TINY_HF, TINY_OC, TINY_SINGLE, TINY_VIS, connect, has_sample, image,
                      one, raises)

COLS = ["name", "path", "family", "layers", "width", "heads", "patch", "image_size", "embed_dim",
        "has_text", "params", "fingerprint"]


def test_legrad_models(db):
    db.execute("INSERT INTO legrad_models(name, path) VALUES ('hf', ?)", (TINY_HF,))
    db.execute("INSERT INTO temp.legrad_models(name, path) VALUES ('vis', ?)", (TINY_VIS,))
    cur = db.execute("SELECT * FROM legrad_models")
    assert [d[0] for d in cur.description] == COLS
    rows = cur.fetchall()
    assert [r[0] for r in rows] == ["hf", "vis"]
    hf = dict(zip(COLS, rows[0]))
    assert hf["path"] == TINY_HF
    assert (hf["family"], hf["layers"], hf["width"], hf["heads"], hf["patch"], hf["image_size"],
            hf["embed_dim"], hf["has_text"]) == ("clip", 3, 64, 4, 8, 32, 32, 1)
    assert hf["params"] > 0 and len(hf["fingerprint"]) == 32
    assert dict(zip(COLS, rows[1]))["has_text"] == 0
    db.execute("DELETE FROM legrad_models WHERE name = 'hf'")
    assert [r[0] for r in db.execute("SELECT name FROM legrad_models")] == ["vis"]


def test_same_weights_same_fingerprint_across_layouts(db):
    """HF and OpenCLIP layouts of the same weights load to the same fingerprint."""
    db.execute("INSERT INTO legrad_models(name, path) VALUES ('hf', ?), ('oc', ?)",
               (TINY_HF, TINY_OC))
    fp = [r[0] for r in db.execute("SELECT fingerprint FROM legrad_models ORDER BY name")]
    assert fp[0] == fp[1]


def test_single_safetensors_file(db):
    db.execute("INSERT INTO legrad_models(name, path) VALUES ('one', ?)", (TINY_SINGLE,))
    assert one(db, "SELECT layers FROM legrad_models WHERE name = 'one'") == 2


def test_null_name_is_default(db):
    db.execute("INSERT INTO legrad_models(path) VALUES (?)", (TINY_HF,))
    assert one(db, "SELECT name FROM legrad_models") == "default"


def test_duplicate_name_and_replace(db):
    db.execute("INSERT INTO legrad_models(name, path) VALUES ('m', ?)", (TINY_HF,))
    raises(db, "INSERT INTO legrad_models(name, path) VALUES ('m', ?)", (TINY_VIS,),
           "legrad_models: a model named 'm' is already registered (DELETE it first, or use "
           "INSERT OR REPLACE)")
    db.execute("INSERT OR REPLACE INTO legrad_models(name, path) VALUES ('m', ?)", (TINY_VIS,))
    assert db.execute("SELECT name, path FROM legrad_models").fetchall() == [("m", TINY_VIS)]


def test_insert_errors(db):
    raises(db, "INSERT INTO legrad_models(name, path) VALUES ('x', '/nonexistent/model')", (),
           "legrad_models: cannot load model 'x': cannot open '/nonexistent/model': no such file "
           "or directory")
    raises(db, "INSERT INTO legrad_models(name, path) VALUES ('x', 42)", (),
           "legrad_models: path must be the TEXT path of a model directory or .safetensors file, "
           "found INTEGER")
    raises(db, "INSERT INTO legrad_models(name, path) VALUES ('', ?)", (TINY_HF,),
           "legrad_models: name must be a non-empty TEXT, found an empty string")
    raises(db, "INSERT INTO legrad_models(name, path, layers) VALUES ('x', ?, 3)", (TINY_HF,),
           "legrad_models: column 'layers' is read-only (it describes the loaded model); INSERT "
           "only name and path")
    db.execute("INSERT INTO legrad_models(name, path) VALUES ('m', ?)", (TINY_HF,))
    raises(db, "UPDATE legrad_models SET name = 'n'", (),
           "legrad_models: UPDATE is not supported; DELETE the model and INSERT it again")
    assert one(db, "SELECT count(*) FROM legrad_models") == 1


def test_directonly_refuses_triggers_and_views(tmp_path):
    db = connect(str(tmp_path / "t.db"))
    db.execute("CREATE TABLE paths(p)")
    db.execute("CREATE TRIGGER tr AFTER INSERT ON paths BEGIN "
               "INSERT INTO legrad_models(name, path) VALUES ('t', new.p); END")
    with pytest.raises(sqlite3.OperationalError, match="unsafe use of virtual table"):
        db.execute("INSERT INTO paths VALUES (?)", (TINY_HF,))
    db.execute("CREATE VIEW v AS SELECT legrad(x'00', 'a') AS m")
    with pytest.raises(sqlite3.OperationalError, match="unsafe use of legrad"):
        db.execute("SELECT * FROM v").fetchall()


def test_unknown_model_lists_registered(db):
    raises(db, "SELECT clip_image_embedding(?, '{\"model\": \"nope\"}')", (image(),),
           "clip_image_embedding(): unknown model 'nope' (no models are registered; register one "
           "with INSERT INTO legrad_models(name, path) VALUES ('name', '/path/to/model'))")
    db.execute("INSERT INTO legrad_models(name, path) VALUES ('a', ?), ('b', ?)",
               (TINY_HF, TINY_VIS))
    raises(db, "SELECT legrad(?, 'x', -2, '{\"model\": \"nope\"}')", (image(),),
           "legrad(): unknown model 'nope' (registered: a, b)")


def test_default_model_from_environment(db, monkeypatch):
    monkeypatch.setenv("LEGRAD_MODEL", TINY_VIS)
    e = one(db, "SELECT clip_image_embedding(?)", image())
    assert len(e) == 32 * 4
    monkeypatch.setenv("LEGRAD_MODEL", "/nonexistent/model")
    db2 = connect()
    raises(db2, "SELECT clip_image_embedding(?)", (image(),),
           "clip_image_embedding(): cannot load the default model $LEGRAD_MODEL: cannot open "
           "'/nonexistent/model': no such file or directory")


def test_default_model_is_the_sample(db, monkeypatch):
    monkeypatch.delenv("LEGRAD_MODEL", raising=False)
    if not has_sample():
        with pytest.raises(sqlite3.OperationalError, match="no default model: none is registered "
                           "under the name 'default', .LEGRAD_MODEL is not set, and the sample "
                           "model was not found at .*samples/model; register one with"):
            db.execute("SELECT clip_image_embedding(?)", (image(),)).fetchall()
        return
    ref = connect()
    ref.execute("INSERT INTO legrad_models(name, path) VALUES ('s', ?)", (SAMPLE,))
    want = one(ref, "SELECT clip_image_embedding(?, '{\"model\": \"s\"}')", image())
    assert one(db, "SELECT clip_image_embedding(?)", image()) == want


def test_registered_default_wins(db, monkeypatch):
    monkeypatch.setenv("LEGRAD_MODEL", TINY_VIS)
    db.execute("INSERT INTO legrad_models(name, path) VALUES ('default', ?)", (TINY_HF,))
    a = one(db, "SELECT clip_image_embedding(?)", image())
    db.execute("INSERT INTO legrad_models(name, path) VALUES ('hf', ?)", (TINY_HF,))
    assert a == one(db, "SELECT clip_image_embedding(?, '{\"model\":\"hf\"}')", image())


def _loaded(db):
    text = one(db, "SELECT legrad_debug()")
    return int(text.rsplit("models loaded in this process: ", 1)[1])


def test_weights_shared_between_connections(tmp_path):
    """Four connections registering the same files hold one copy: the process-wide count of loaded
    models grows by one, unloading in one connection keeps the others working, and the last
    connection to let go frees it.  (A private copy of the files makes the count independent of
    other tests' connections.)"""
    path = tmp_path / "m"
    shutil.copytree(TINY_HF, path)
    gc.collect()  # no other test's connection may close (and unload) while we count
    gc.disable()
    try:
        _check_shared(path)
    finally:
        gc.enable()


def _check_shared(path):
    probe = connect()
    n0 = _loaded(probe)
    conns = [connect() for _ in range(4)]
    for c in conns:
        c.execute("INSERT INTO legrad_models(name, path) VALUES ('m', ?)", (str(path),))
    assert _loaded(probe) == n0 + 1
    fps = {one(c, "SELECT fingerprint FROM legrad_models") for c in conns}
    assert len(fps) == 1
    conns[0].execute("DELETE FROM legrad_models")
    conns[0].close()
    e = [one(c, "SELECT clip_image_embedding(?, '{\"model\":\"m\"}')", image()) for c in conns[1:]]
    assert e[0] == e[1] == e[2]
    for c in conns[1:]:
        c.close()
    assert _loaded(probe) == n0


def test_changed_files_load_afresh(tmp_path):
    """The registry key includes sizes and mtimes: rewritten files are not served from memory."""
    path = tmp_path / "m"
    shutil.copytree(TINY_HF, path)
    a, b = connect(), connect()
    gc.collect()
    gc.disable()
    try:
        a.execute("INSERT INTO legrad_models(name, path) VALUES ('m', ?)", (str(path),))
        n = _loaded(a)
        os.utime(path / "model.safetensors", (1, 1))
        b.execute("INSERT INTO legrad_models(name, path) VALUES ('m', ?)", (str(path),))
        assert _loaded(a) == n + 1
    finally:
        gc.enable()
