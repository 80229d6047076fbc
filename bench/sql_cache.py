"""SQL-level benchmark of the extension: map compute cost vs cache-hit throughput, and the resident
memory of 1 vs 4 connections that register the same model (weights shared in the process).

Usage (repository root, after `make`):

    OPENBLAS_NUM_THREADS=1 /usr/bin/python3 bench/sql_cache.py [MODEL_DIR ...]

Default models: samples/model, plus bench/models/vit_b16 when present (a ViT-B/16-shaped random
model: /usr/bin/python3 tests/reference/make_models.py --bench bench/models/vit_b16).  Prints one
line per measurement; docs/benchmarks.md records the numbers with the machine.

Method
  compute    SELECT legrad(img, prompt, -2, '{"cache": false}') FROM imgs: one statement over N
             distinct images in a table, time per map, after a one-row warm-up (the workspace is
             allocated once per connection; the constant prompt is embedded once per statement).
  miss       the same with the cache on, on a fresh file database in autocommit mode: compute +
             hash + one INSERT (and its commit, with the default synchronous=FULL) per map.
  hit        the same query again: every row is a cache hit (hash + SELECT + blob copy).
  large hit  64 rows of the same large JPEG (../shared/data/images, skipped when absent): all hits
             but the first; the image hash reads every byte.
  rss        VmRSS of a child process after 1 or 4 connections each registered the model and
             computed one map, minus VmRSS before loading the extension; and for 4 connections
             that register 4 hard-linked copies of the directory (different real paths: the
             registry cannot share them), the cost without sharing.
"""
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXT = os.environ.get("LEGRAD_TEST_EXT", os.path.join(ROOT, "legrad0"))
IMAGES = os.path.join(ROOT, "samples", "heldout", "images")
LARGE = os.path.join(ROOT, "..", "shared", "data", "images", "cats_remote_control.jpeg")


def connect(path):
    db = sqlite3.connect(path, isolation_level=None)
    db.enable_load_extension(True)
    db.load_extension(EXT)
    return db


def images(n):
    names = sorted(os.listdir(IMAGES))[:n]
    out = []
    for name in names:
        with open(os.path.join(IMAGES, name), "rb") as f:
            out.append(f.read())
    return out


def run(db, n, opts):
    """Seconds per map of one statement over the first n rows of imgs (constant prompt: its text
    embedding is computed once per statement)."""
    t, c = time.perf_counter(), time.process_time()
    rows = db.execute("SELECT legrad(img, 'a red circle', -2, ?) FROM imgs WHERE id <= ?",
                      (opts, n)).fetchall()
    assert len(rows) == n
    return (time.perf_counter() - t) / n, (time.process_time() - c) / n


def bench_large_hit(model, path, n=64):
    """Cache-hit cost for a large encoded image: the content hash reads every byte."""
    with open(path, "rb") as f:
        img = f.read()
    db = connect(":memory:")
    db.execute("INSERT INTO legrad_models(name, path) VALUES ('default', ?)", (model,))
    db.execute("CREATE TABLE imgs(id INTEGER PRIMARY KEY, img BLOB)")
    db.executemany("INSERT INTO imgs(img) VALUES (?)", [(img,)] * n)
    run(db, 1, '{"cache": true}')  # the one miss
    hit = run(db, n, '{"cache": true}')
    print("%s: cache hit with a %d-byte JPEG: %.3f ms/map = %.0f maps/s"
          % (os.path.relpath(model, ROOT), len(img), hit[0] * 1e3, 1 / hit[0]))


def bench_model(model, n):
    imgs = images(n)
    tmp = tempfile.mkdtemp()
    db = connect(os.path.join(tmp, "bench.db"))
    db.execute("INSERT INTO legrad_models(name, path) VALUES ('default', ?)", (model,))
    db.execute("CREATE TABLE imgs(id INTEGER PRIMARY KEY, img BLOB)")
    db.executemany("INSERT INTO imgs(img) VALUES (?)", [(i,) for i in imgs])
    L, W, S = db.execute("SELECT layers, width, image_size FROM legrad_models").fetchone()
    run(db, 1, '{"cache": false}')  # warm-up: workspace allocation
    compute = run(db, len(imgs), '{"cache": false}')
    miss = run(db, len(imgs), '{"cache": true}')
    hit = run(db, len(imgs), '{"cache": true}')
    hits = db.execute("SELECT json_extract(legrad_cache_stats(), '$.hits')").fetchone()[0]
    assert hits == len(imgs), hits
    size = os.path.getsize(os.path.join(tmp, "bench.db"))
    print("%s (L=%d, width=%d, %dpx), %d images, wall (cpu) per map: compute %.2f (%.2f) ms = "
          "%.1f maps/s; miss+store %.2f (%.2f) ms; hit %.3f (%.3f) ms = %.0f maps/s, %.0fx faster "
          "than compute; db %d bytes"
          % (os.path.relpath(model, ROOT), L, W, S, len(imgs), compute[0] * 1e3, compute[1] * 1e3,
             1 / compute[0], miss[0] * 1e3, miss[1] * 1e3, hit[0] * 1e3, hit[1] * 1e3, 1 / hit[0],
             compute[0] / hit[0], size))


CHILD = r"""
import sqlite3, sys
def rss():
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS:'):
            return int(line.split()[1])
ext, img, models = sys.argv[1], sys.argv[2], sys.argv[3:]
data = open(img, 'rb').read()
sqlite3.connect(':memory:')
before = rss()
conns = []
for model in models:
    db = sqlite3.connect(':memory:')
    db.enable_load_extension(True)
    db.load_extension(ext)
    db.execute("INSERT INTO legrad_models(name, path) VALUES ('default', ?)", (model,))
    db.execute("SELECT legrad(?, 'a red circle', -2, '{\"cache\": false}')", (data,)).fetchone()
    conns.append(db)
print(rss() - before)
"""


def copies(model, n):
    """n hard-linked copies of the model directory: same bytes, different real paths, so the
    registry cannot share them (the baseline without sharing)."""
    tmp = tempfile.mkdtemp(dir=os.path.dirname(model))
    out = []
    for k in range(n):
        d = os.path.join(tmp, "copy%d" % k)
        os.mkdir(d)
        for f in os.listdir(model):
            if os.path.isfile(os.path.join(model, f)):
                os.link(os.path.join(model, f), os.path.join(d, f))
        out.append(d)
    return tmp, out


def bench_rss(model):
    img = os.path.join(IMAGES, sorted(os.listdir(IMAGES))[0])
    out = {}
    tmp, dirs = copies(model, 4)
    for key, models in (("1", [model]), ("4", [model] * 4), ("4 copies", dirs)):
        r = subprocess.run([sys.executable, "-c", CHILD, EXT, img] + models,
                           capture_output=True, text=True, check=True)
        out[key] = int(r.stdout.strip())
    shutil.rmtree(tmp)
    size = sum(os.path.getsize(os.path.join(model, f)) for f in os.listdir(model)
               if f.endswith(".safetensors")) if os.path.isdir(model) else os.path.getsize(model)
    print("%s: RSS growth with 1 connection %.1f MiB, 4 connections sharing the weights %.1f MiB, "
          "4 connections on 4 distinct copies of the files %.1f MiB (checkpoint files %.1f MiB)"
          % (os.path.relpath(model, ROOT), out["1"] / 1024, out["4"] / 1024,
             out["4 copies"] / 1024, size / 2**20))


def main():
    models = sys.argv[1:] or [os.path.join(ROOT, "samples", "model")] + \
        [p for p in [os.path.join(ROOT, "bench", "models", "vit_b16")] if os.path.isdir(p)]
    for m in models:
        big = "vit_b16" in m
        bench_model(m, 8 if big else 64)
        bench_rss(m)
        if os.path.isfile(LARGE) and not big:
            bench_large_hit(m, LARGE)


if __name__ == "__main__":
    main()
