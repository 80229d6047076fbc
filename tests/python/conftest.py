"""pytest fixtures for the sqlite-legrad extension (run with /usr/bin/python3 -m pytest tests/python).

The extension is loaded from $LEGRAD_TEST_EXT (tests/run.sh exports it; the sanitizer pass points it
at build/asan/legrad0.so), default ./legrad0 in the repository root.

Models used:
  SAMPLE  samples/model: the trained sample CLIP with its own tokenizer (text + vision).  Tests that
          need text (legrad, legrad_layers, clip_text_embedding, ...) use it and skip when absent.
  TINY_*  tests/fixtures/models/*: small random models without a tokenizer (vision-only tests,
          registry tests).
Images: the small committed fixtures of tests/fixtures/image/in.
"""
import os
import sqlite3

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXT = os.environ.get("LEGRAD_TEST_EXT", os.path.join(ROOT, "legrad0"))
SAMPLE = os.path.join(ROOT, "samples", "model")
MODELS = os.path.join(ROOT, "tests", "fixtures", "models")
TINY_HF = os.path.join(MODELS, "tiny_qg_hf")
TINY_OC = os.path.join(MODELS, "tiny_qg_oc")
TINY_VIS = os.path.join(MODELS, "tiny_vis_hf")
TINY_SINGLE = os.path.join(MODELS, "tiny_single.safetensors")
IMAGES = os.path.join(ROOT, "tests", "fixtures", "image", "in")

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def read(path):
    with open(path, "rb") as f:
        return f.read()


def image(name="jpeg_baseline_96x72.jpg"):
    return read(os.path.join(IMAGES, name))


def connect(path=":memory:", **kw):
    """A new connection with the extension loaded."""
    db = sqlite3.connect(path, **kw)
    db.enable_load_extension(True)
    db.load_extension(EXT)
    db.enable_load_extension(False)
    return db


def has_sample():
    return os.path.isfile(os.path.join(SAMPLE, "config.json")) or os.path.isdir(SAMPLE)


@pytest.fixture
def db():
    conn = connect()
    yield conn
    conn.close()


@pytest.fixture
def sdb(db):
    """A connection with samples/model registered as 'default' (skips when it is absent)."""
    if not has_sample():
        pytest.skip("samples/model is absent (shipped by the sample-model issue)")
    db.execute("INSERT INTO legrad_models(name, path) VALUES ('default', ?)", (SAMPLE,))
    return db


def one(db, sql, *args):
    """The single value of a one-row, one-column query."""
    return db.execute(sql, args).fetchone()[0]


def raises(db, sql, args, message):
    """Asserts that sql fails with exactly message."""
    with pytest.raises(sqlite3.Error) as e:
        db.execute(sql, args).fetchall()
    assert str(e.value) == message
