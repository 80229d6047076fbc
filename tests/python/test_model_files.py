"""Reading model files through legrad_models: FIFOs are refused at once (opening one for reading
would wait for a writer forever) and never hold up another connection's registration; Git LFS
pointers and PyTorch checkpoints get messages that say what to do; connections registering the
same files at the same moment share one load.  Messages are checked verbatim."""
import gc
import json
import os
import shutil
import subprocess
import sys
import threading

from conftest import EXT, TINY_HF, TINY_SINGLE, connect, one, raises

LFS = ("version https://git-lfs.github.com/spec/v1\n"
       "oid sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n"
       "size 598641023\n")


def torch_hint(name):
    return ("convert it once, in its directory: python3 -c \"import torch, safetensors.torch as st; "
            f"sd = torch.load('{name}', map_location='cpu'); sd = sd.get('state_dict', sd); "
            "st.save_file({k: v.contiguous() for k, v in sd.items()}, 'model.safetensors')\" "
            "(docs/checkpoints.md)")


# Runs in a child process so that a registration that blocks fails the test (timeout) instead of
# hanging the suite.  Thread A registers the FIFO roles on its own connection while thread B
# registers and uses a good model on another; prints what each saw as JSON.
CHILD = r"""
import json, sqlite3, sys, threading
ext, good, roles = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])

def connect():
    db = sqlite3.connect(":memory:", check_same_thread=False)
    db.enable_load_extension(True)
    db.load_extension(ext)
    return db

out = {"fifo": {}, "good": None}
start = threading.Barrier(2)

def fifo_worker():
    db = connect()
    start.wait()
    for role, path in roles.items():
        try:
            db.execute("INSERT INTO legrad_models(name, path) VALUES (?, ?)", (role, path))
            out["fifo"][role] = "registered"
        except sqlite3.Error as e:
            out["fifo"][role] = str(e)

def good_worker():
    db = connect()
    start.wait()
    for k in range(5):
        db.execute("INSERT OR REPLACE INTO legrad_models(name, path) VALUES ('g', ?)", (good,))
    out["good"] = db.execute("SELECT count(*) FROM legrad_models").fetchone()[0]

threads = [threading.Thread(target=fifo_worker), threading.Thread(target=good_worker)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps(out))
"""


def test_fifos_refused_promptly_while_another_connection_registers(tmp_path):
    weights = tmp_path / "file" / "model.safetensors"
    only = tmp_path / "only" / "weights.safetensors"
    vocab_dir = tmp_path / "vocab"
    for p in (weights.parent, only.parent):
        p.mkdir()
    shutil.copytree(TINY_HF, vocab_dir)
    shutil.copy(os.path.join(os.path.dirname(TINY_HF), "..", "tokenizer", "tiny", "merges.txt"),
                vocab_dir / "merges.txt")
    for p in (weights, only, vocab_dir / "vocab.json"):
        os.mkfifo(p)
    roles = {"weights": str(weights), "only": str(only.parent), "vocab": str(vocab_dir)}
    try:
        r = subprocess.run([sys.executable, "-c", CHILD, EXT, TINY_HF, json.dumps(roles)],
                           capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        raise AssertionError("registering a FIFO blocked (the child did not finish in 120 s)")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["good"] == 1
    assert out["fifo"] == {
        "weights": f"legrad_models: cannot load model 'weights': '{weights}' is a FIFO, not a model "
                   "directory or a regular file",
        "only": f"legrad_models: cannot load model 'only': '{only}' is a FIFO, not a regular file",
        "vocab": f"legrad_models: cannot load model 'vocab': {vocab_dir}: tokenizer: "
                 f"'{vocab_dir / 'vocab.json'}' is a FIFO, not a regular file",
    }


def test_git_lfs_pointer(db, tmp_path):
    shutil.copytree(TINY_HF, tmp_path / "m")
    (tmp_path / "m" / "model.safetensors").write_text(LFS)
    path = tmp_path / "m" / "model.safetensors"
    want = (f"'{path}' is a Git LFS pointer, not the weights: run `git lfs pull` in that repository "
            "(or download the file itself)")
    raises(db, "INSERT INTO legrad_models(name, path) VALUES ('m', ?)", (str(tmp_path / "m"),),
           "legrad_models: cannot load model 'm': " + want)
    raises(db, "INSERT INTO legrad_models(name, path) VALUES ('m', ?)", (str(path),),
           "legrad_models: cannot load model 'm': " + want)


def test_pytorch_checkpoints(db, tmp_path):
    d = tmp_path / "hf"
    d.mkdir()
    (d / "pytorch_model.bin").write_bytes(b"PK\x03\x04\x14\x00\x00\x00\x00\x00archive/data.pkl")
    shutil.copy(os.path.join(TINY_HF, "config.json"), d / "config.json")
    raises(db, "INSERT INTO legrad_models(name, path) VALUES ('m', ?)", (str(d),),
           f"legrad_models: cannot load model 'm': {d}: no .safetensors checkpoint, only the "
           f"PyTorch checkpoint pytorch_model.bin: {torch_hint('pytorch_model.bin')}")
    raises(db, "INSERT INTO legrad_models(name, path) VALUES ('m', ?)", (str(d / "pytorch_model.bin"),),
           f"legrad_models: cannot load model 'm': '{d / 'pytorch_model.bin'}' is a PyTorch checkpoint "
           f"(a zip archive), not safetensors: {torch_hint('pytorch_model.bin')}")
    oc = tmp_path / "oc"
    oc.mkdir()
    (oc / "open_clip_pytorch_model.bin").write_bytes(b"PK\x03\x04")
    raises(db, "INSERT INTO legrad_models(name, path) VALUES ('m', ?)", (str(oc),),
           f"legrad_models: cannot load model 'm': {oc}: no .safetensors checkpoint, only the "
           f"PyTorch checkpoint open_clip_pytorch_model.bin: "
           f"{torch_hint('open_clip_pytorch_model.bin')}")
    # a legacy (non-zip) torch.save file renamed to .safetensors
    renamed = tmp_path / "old.safetensors"
    renamed.write_bytes(bytes([0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a,
                               0xa8, 0x50, 0x19]) + b".")
    raises(db, "INSERT INTO legrad_models(name, path) VALUES ('m', ?)", (str(renamed),),
           f"legrad_models: cannot load model 'm': '{renamed}' is a PyTorch checkpoint (a pickle), "
           f"not safetensors: {torch_hint('old.safetensors')}")
    assert one(db, "SELECT count(*) FROM legrad_models") == 0


def _loaded(db):
    text = one(db, "SELECT legrad_debug()")
    return int(text.rsplit("models loaded in this process: ", 1)[1])


def test_same_files_registered_at_once_load_once(tmp_path):
    """Eight connections registering the same (private) files at the same moment: one load, one
    shared model, every registration succeeds."""
    path = tmp_path / "m.safetensors"
    shutil.copy(TINY_SINGLE, path)
    gc.collect()
    gc.disable()
    try:
        probe = connect()
        n0 = _loaded(probe)
        conns = [connect(check_same_thread=False) for _ in range(8)]
        start = threading.Barrier(len(conns))
        errors = []

        def work(c):
            try:
                start.wait()
                c.execute("INSERT INTO legrad_models(name, path) VALUES ('m', ?)", (str(path),))
            except Exception as e:  # reported below
                errors.append(repr(e))

        threads = [threading.Thread(target=work, args=(c,)) for c in conns]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert _loaded(probe) == n0 + 1
        assert len({one(c, "SELECT fingerprint FROM legrad_models") for c in conns}) == 1
        for c in conns:
            c.close()
        assert _loaded(probe) == n0
    finally:
        gc.enable()


def test_failed_load_by_many_at_once(tmp_path):
    """Connections waiting on a load that fails each report the error themselves."""
    path = tmp_path / "bad.safetensors"
    path.write_text(LFS)
    conns = [connect(check_same_thread=False) for _ in range(4)]
    start = threading.Barrier(len(conns))
    errors = []

    def work(c):
        start.wait()
        try:
            c.execute("INSERT INTO legrad_models(name, path) VALUES ('m', ?)", (str(path),))
        except Exception as e:  # expected
            errors.append(str(e))

    threads = [threading.Thread(target=work, args=(c,)) for c in conns]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [f"legrad_models: cannot load model 'm': '{path}' is a Git LFS pointer, not the "
                      "weights: run `git lfs pull` in that repository (or download the file itself)"] * 4
    for c in conns:
        c.close()
