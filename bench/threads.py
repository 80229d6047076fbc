"""BLAS threads per workload: wall and CPU time of a batch of legrad() calls through the sqlite3 shell
with 1 thread, 2 threads and the automatic policy (ext/threads.c), in one process or in two
processes at once (two connections competing for the cores).  docs/benchmarks.md "BLAS threads".

Usage (repository root, after `make`):

    /usr/bin/python3 bench/make_vit_b16.py          # once: bench/models/vit_b16 (~300 MB)
    nice /usr/bin/python3 bench/threads.py [REPEATS]   # default 3; prints a Markdown table

Workloads (legrad(img, prompt, -2, '{"cache": false}') over the sample model's held-out images):
  sample      samples/model at its native 64 px     0.11 GFLOP per forward, 200 calls per process
  sample-256  samples/model with {"size": 256}      ~2.5 GFLOP per forward, 16 calls per process
  vit-b16     bench/models/vit_b16 at 224 px        35 GFLOP per forward, 4 calls per process
Each run is a fresh `sqlite3` process that registers the model, computes one warm-up map, then
times the batch with `.timer on` (wall = real, CPU = user + sys of the process).  Processes "2t"
instead runs two connections in two threads of one Python process (the in-process rule of the
policy: a connection computing while another one does uses 1 thread); wall only.  "threads" sets
OPENBLAS_NUM_THREADS (1, 2) or leaves every thread variable unset (auto).  Reported: the median over
REPEATS of the calls per second of all processes together, and the wall and CPU milliseconds per
call.  The load average (`uptime`) is printed before each workload: on a shared machine the numbers
swing with it, so compare rows measured together.
"""
import os
import re
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGES = os.path.join(ROOT, "samples", "heldout", "images")
WORKLOADS = [  # name, model path, options, calls per process
    ("sample", os.path.join(ROOT, "samples", "model"), '{"cache": false}', 200),
    ("sample-256", os.path.join(ROOT, "samples", "model"), '{"cache": false, "size": 256}', 16),
    ("vit-b16", os.path.join(ROOT, "bench", "models", "vit_b16"), '{"cache": false}', 4),
]
THREAD_VARS = ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS", "LEGRAD_THREADS")
TIMER = re.compile(r"Run Time: real ([\d.]+) user ([\d.]+) sys ([\d.]+)")


def script(model, opts, n):
    first = os.path.join(IMAGES, "000000.png")
    return "\n".join([
        "INSERT INTO legrad_models(name, path) VALUES ('default', '%s');" % model,
        "SELECT length(legrad(readfile('%s'), 'a green circle', -2, '%s'));" % (first, opts),
        ".timer on",
        "SELECT count(legrad(data, 'a green circle', -2, '%s')) FROM (SELECT data FROM fsdir('%s') "
        "WHERE name LIKE '%%.png' ORDER BY name LIMIT %d);" % (opts, IMAGES, n),
        ".timer off", "SELECT legrad_debug();", ""])


def run(model, opts, n, threads, procs):
    """Starts procs shell processes at once; returns (calls/s of all, wall ms/call, CPU ms/call, why)."""
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}
    env.pop("LEGRAD_MODEL", None)
    if threads != "auto":
        env["OPENBLAS_NUM_THREADS"] = str(threads)
    ps = [subprocess.Popen(["sqlite3", "-batch", "-cmd", ".load " + os.path.join(ROOT, "legrad0"),
                            ":memory:"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, env=env) for _ in range(procs)]
    outs = [p.communicate(script(model, opts, n)) for p in ps]
    walls, cpus, why = [], [], ""
    for out, err in outs:
        m = TIMER.search(out)
        if not m:
            sys.exit("threads.py: no timing in the shell output:\n" + out + err)
        walls.append(float(m.group(1)))
        cpus.append(float(m.group(2)) + float(m.group(3)))
        w = re.search(r"^threads: (.*)$", out, re.M)
        why = w.group(1) if w else ""
    return procs * n / max(walls), 1000 * max(walls) / n, 1000 * statistics.mean(cpus) / n, why


THREADED = r"""
import os, sqlite3, sys, threading, time
ext, model, opts, images, n = sys.argv[1:6]
files = sorted(f for f in os.listdir(images) if f.endswith(".png"))[:int(n)]
blobs = [open(os.path.join(images, f), "rb").read() for f in files]
def conn():
    db = sqlite3.connect(":memory:", check_same_thread=False)
    db.enable_load_extension(True); db.load_extension(ext)
    db.execute("INSERT INTO legrad_models(name, path) VALUES ('default', ?)", (model,))
    db.execute("CREATE TABLE imgs(img BLOB)")
    db.executemany("INSERT INTO imgs VALUES (?)", [(b,) for b in blobs])
    db.execute("SELECT legrad(?, 'a green circle', -2, ?)", (blobs[0], opts)).fetchall()  # warm-up
    return db
dbs = [conn(), conn()]
q = "SELECT count(legrad(img, 'a green circle', -2, ?)) FROM imgs"
t0 = time.monotonic()
ts = [threading.Thread(target=lambda d=d: d.execute(q, (opts,)).fetchall()) for d in dbs]
for t in ts: t.start()
for t in ts: t.join()
wall = time.monotonic() - t0
print(wall, dbs[0].execute("SELECT legrad_debug()").fetchone()[0])
"""


def run_threaded(model, opts, n, threads):
    """Two connections in two threads of one process; returns (calls/s, wall ms/call, None, why)."""
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}
    env.pop("LEGRAD_MODEL", None)
    if threads != "auto":
        env["OPENBLAS_NUM_THREADS"] = str(threads)
    r = subprocess.run(["/usr/bin/python3", "-c", THREADED, os.path.join(ROOT, "legrad0"), model,
                        opts, IMAGES, str(n)], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        sys.exit("threads.py: the threaded run failed:\n" + r.stderr)
    wall = float(r.stdout.split()[0])
    w = re.search(r"^threads: (.*)$", r.stdout, re.M)
    return 2 * n / wall, 1000 * wall / n, None, w.group(1) if w else ""


def main():
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    print("| workload | processes | threads | calls/s (all) | wall ms/call | CPU ms/call | choice |")
    print("|---|---|---|---|---|---|---|")
    for name, model, opts, n in WORKLOADS:
        if not os.path.isdir(model):
            print("| %s | skipped: %s is absent (bench/make_vit_b16.py) |||||" % (name, model))
            continue
        load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
        print("| %s: `%s` |||||||" % (name, load))
        for procs in (1, 2, "2t"):
            for threads in (1, 2, "auto"):
                if procs == "2t":
                    res = [run_threaded(model, opts, n, threads) for _ in range(repeats)]
                else:
                    res = [run(model, opts, n, threads, procs) for _ in range(repeats)]
                rate = statistics.median(r[0] for r in res)
                wall = statistics.median(r[1] for r in res)
                cpu = "%.1f" % statistics.median(r[2] for r in res) if res[0][2] is not None else ""
                print("| %s | %s | %s | %.1f | %.1f | %s | %s |" % (
                    name, procs, threads, rate, wall, cpu, res[-1][3] if threads == "auto" else ""),
                    flush=True)
        time.sleep(1)


if __name__ == "__main__":
    main()
