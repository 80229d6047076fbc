#!/usr/bin/python3
"""Times SELECT count(legrad(img, '...')) FROM t over the held-out sample images on a file
database with an empty cache, in autocommit and inside one BEGIN ... COMMIT, for one or more builds
of the extension (docs/benchmarks.md, "Cache writes").

  OPENBLAS_NUM_THREADS=1 /usr/bin/python3 scripts/bench_cache.py [-n 200] [-r 3] ./legrad0 /tmp/old/legrad0

Each run uses a fresh database file in a temporary directory (rollback journal, the default, and
WAL), so every call misses and writes one map.  The time includes closing the connection (the
extension writes its last queued maps there).  Prints one line per build, mode and journal: the
median wall and CPU (process) seconds of the runs and the maps stored."""
import argparse
import os
import sqlite3
import statistics
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(ext, imgs, journal, explicit):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "bench.db")
        db = sqlite3.connect(path, isolation_level=None)
        db.execute("PRAGMA journal_mode=%s" % journal).fetchall()
        db.execute("CREATE TABLE t(id INTEGER PRIMARY KEY, img BLOB)")
        db.executemany("INSERT INTO t(img) VALUES (?)", [(i,) for i in imgs])
        db.enable_load_extension(True)
        db.load_extension(ext)
        db.execute("INSERT INTO legrad_models(name, path) VALUES ('default', ?)",
                   (os.path.join(ROOT, "samples", "model"),))
        t0, c0 = time.perf_counter(), time.process_time()
        if explicit:
            db.execute("BEGIN")
        n = db.execute("SELECT count(legrad(img, 'a green circle')) FROM t").fetchone()[0]
        if explicit:
            db.execute("COMMIT")
        db.close()
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        rows = sqlite3.connect(path).execute("SELECT count(*) FROM legrad_cache").fetchone()[0]
        assert n == len(imgs)
        return dt, cpu, rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("builds", nargs="+", help="extension paths (as for load_extension)")
    ap.add_argument("-n", type=int, default=200, help="images")
    ap.add_argument("-r", type=int, default=3, help="runs per configuration (median)")
    a = ap.parse_args()
    hd = os.path.join(ROOT, "samples", "heldout", "images")
    imgs = []
    for name in sorted(os.listdir(hd))[:a.n]:
        with open(os.path.join(hd, name), "rb") as f:
            imgs.append(f.read())
    for ext in a.builds:
        for journal in ("delete", "wal"):
            for explicit in (False, True):
                res = [run(ext, imgs, journal, explicit) for _ in range(a.r)]
                print("%-28s %-6s %-10s wall %6.2f s  cpu %6.2f s  %d maps stored" % (
                    ext, journal, "BEGIN" if explicit else "autocommit",
                    statistics.median(r[0] for r in res), statistics.median(r[1] for r in res),
                    res[0][2]))


if __name__ == "__main__":
    main()
