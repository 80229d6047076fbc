"""The BLAS thread policy (ext/threads.c) as legrad_debug() reports it, in the sqlite3 shell with
controlled environment variables.  Only the choice is checked, never a time."""
import os
import re
import shutil
import subprocess

from conftest import EXT, ROOT, SAMPLE, has_sample

import pytest

VARS = ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS", "LEGRAD_THREADS")


def threads_line(env, compute=True, options="{}"):
    """The "threads:" line of legrad_debug() after one image forward (or none)."""
    if not shutil.which("sqlite3"):
        pytest.skip("the sqlite3 shell is not installed")
    if not has_sample():
        pytest.skip("samples/model is absent (shipped by the sample-model issue)")
    e = {k: v for k, v in os.environ.items() if k not in VARS and k != "LEGRAD_MODEL"}
    e.update(env)
    sql = "INSERT INTO legrad_models(name, path) VALUES ('default', '%s');\n" % SAMPLE
    if compute:
        sql += ("SELECT length(clip_image_embedding(readfile('tests/fixtures/image/in/grey_70x50.png'), "
                "'%s')) > 0;\n" % options)
    sql += "SELECT legrad_debug();\n"
    r = subprocess.run(["sqlite3", "-batch", "-cmd", ".load " + EXT, ":memory:"], input=sql,
                       capture_output=True, text=True, cwd=ROOT, env=e)
    assert r.returncode == 0, r.stderr
    return re.search(r"^threads: (.*)$", r.stdout, re.M).group(1), \
        int(re.search(r"^blas: .*, threads (\d+)$", r.stdout, re.M).group(1))


def test_blas_threads_auto_small_model():
    line, blas = threads_line({})
    assert re.fullmatch(r"1 \(auto: \d+\.\d\d GFLOP per forward < 2\)", line)
    assert blas == 1


def test_blas_threads_auto_large_input():
    """At 256 px the sample model's forward passes the threshold: one thread per idle core."""
    line, blas = threads_line({}, options='{"size": 256}')
    m = re.fullmatch(r"(\d+) \(auto: (\d+\.\d\d) GFLOP per forward, (\d+) cores, load (\d+\.\d\d) of "
                     r"which 0 ours\)", line)
    assert m, line
    want, gflop, cores, load = int(m.group(1)), float(m.group(2)), int(m.group(3)), float(m.group(4))
    assert gflop >= 2 and want == blas
    assert want == max(1, min(cores, int(cores - load + 0.5)))


def test_blas_threads_legrad_threads_wins():
    assert threads_line({"LEGRAD_THREADS": "2", "OPENBLAS_NUM_THREADS": "1"}) == ("2 (LEGRAD_THREADS=2)", 2)


def test_blas_threads_user_env_left_alone():
    line, blas = threads_line({"OPENBLAS_NUM_THREADS": "2"})
    assert line == "2 (OPENBLAS_NUM_THREADS=2, left to OpenBLAS)" and blas == 2
    line, blas = threads_line({"OMP_NUM_THREADS": "1"})
    assert line == "1 (OMP_NUM_THREADS=1, left to OpenBLAS)" and blas == 1
    # An invalid LEGRAD_THREADS is ignored (the next rule decides).
    line, _ = threads_line({"LEGRAD_THREADS": "many", "OPENBLAS_NUM_THREADS": "1"})
    assert line == "1 (OPENBLAS_NUM_THREADS=1, left to OpenBLAS)"


def test_blas_threads_before_any_computation():
    line, _ = threads_line({}, compute=False)
    assert re.fullmatch(r"auto \(no computation yet on this connection; \d+ cores; auto: 1 thread "
                        r"under 2 GFLOP per forward or while connections compute at once, else one "
                        r"per idle core\)", line)
