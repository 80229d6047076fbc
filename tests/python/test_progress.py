"""legrad_progress(): progress lines on stderr, checked in the plain sqlite3 shell (no timing is
asserted: a fractional interval makes every call after the first print a line)."""
import json
import os
import re
import shutil
import subprocess

from conftest import EXT, IMAGES, ROOT, SAMPLE, has_sample, one, raises

import pytest

LINE = re.compile(r"legrad: ([\d,]+) calls( \(([\d,]+) failed\))?, \d+\.\d calls/s, "
                  r"\d\d:\d\d:\d\d elapsed(, ~\d\d:\d\d:\d\d left of ([\d,]+)| of ([\d,]+))?")


def shell(sql, env=None):
    """Runs sql in `sqlite3 :memory:` with the extension and the sample model; (stdout, stderr)."""
    if not shutil.which("sqlite3"):
        pytest.skip("the sqlite3 shell is not installed")
    if not has_sample():
        pytest.skip("samples/model is absent (shipped by the sample-model issue)")
    e = dict(os.environ, **(env or {}))
    e.pop("LEGRAD_MODEL", None)
    r = subprocess.run(["sqlite3", "-batch", "-cmd", ".load " + EXT, ":memory:"],
                       input="INSERT INTO legrad_models(name, path) VALUES ('default', '%s');\n%s"
                       % (SAMPLE, sql), capture_output=True, text=True, cwd=ROOT, env=e)
    return r.stdout, r.stderr


BATCH = """
CREATE TABLE photos(id INTEGER PRIMARY KEY, img BLOB);
INSERT INTO photos(img) VALUES (readfile('%(d)s/grey_70x50.png')), (x'00'),
  (readfile('%(d)s/jpeg_baseline_96x72.jpg')), (readfile('%(d)s/grey_70x50.png')),
  (readfile('%(d)s/jpeg_progressive_96x72.jpg'));
SELECT count(legrad(img, 'a cat', -2, '{"cache": false, "on_error": "null"}')) FROM photos;
""" % {"d": IMAGES}


def test_legrad_progress():
    out, err = shell("SELECT legrad_progress(0.000001, 5) IS NOT NULL;\n" + BATCH +
                     "SELECT legrad_progress(0);\n")
    lines = err.splitlines()
    # The first call starts the clock; each later one is more than a microsecond after the last line.
    assert len(lines) == 4, err
    m = [LINE.fullmatch(x) for x in lines]
    assert all(m), err
    assert [x.group(1) for x in m] == ["2", "3", "4", "5"]
    assert all(x.group(3) == "1" for x in m)                        # the bad row, counted as failed
    assert all(x.group(5) == "5" for x in m[:-1]) and m[-1].group(6) == "5"  # nothing left at the end
    final = json.loads(out.splitlines()[-1])
    assert final["every"] == 0 and final["total"] == 5
    assert final["calls"] == 5 and final["failed"] == 1 and final["elapsed"] >= 0
    # Off: no lines.
    out, err = shell("SELECT legrad_progress(0) IS NOT NULL;\n" + BATCH)
    assert err == ""


def test_legrad_progress_env():
    """$LEGRAD_PROGRESS="seconds[,total]" turns progress on for every new connection."""
    out, err = shell(BATCH, env={"LEGRAD_PROGRESS": "0.000001,1000"})
    lines = err.splitlines()
    assert len(lines) == 4 and all(LINE.fullmatch(x) for x in lines), err
    assert lines[-1].startswith("legrad: 5 calls (1 failed), ") and lines[-1].endswith(" of 1,000")
    out, err = shell(BATCH, env={"LEGRAD_PROGRESS": ""})
    assert err == ""


def test_legrad_progress_function(db):
    assert json.loads(one(db, "SELECT legrad_progress()")) == {
        "every": 0, "total": 0, "calls": 0, "failed": 0, "elapsed": 0}
    assert json.loads(one(db, "SELECT legrad_progress(10, 100000)"))["total"] == 100000
    assert json.loads(one(db, "SELECT legrad_progress(2.5)")) == {
        "every": 2.5, "total": 0, "calls": 0, "failed": 0, "elapsed": 0}
    assert json.loads(one(db, "SELECT legrad_progress(3, NULL)"))["every"] == 3
    raises(db, "SELECT legrad_progress('often')", (),
           "legrad_progress(): argument 1 (every_seconds) must be a number of seconds between "
           "progress lines (e.g. 10; 0 turns progress off)")
    raises(db, "SELECT legrad_progress(-1)", (),
           "legrad_progress(): argument 1 (every_seconds) must be a number of seconds between "
           "progress lines (e.g. 10; 0 turns progress off)")
    raises(db, "SELECT legrad_progress(1, 2.5)", (),
           "legrad_progress(): argument 2 (expected_total) must be a non-negative INTEGER number of "
           "calls (or NULL when unknown)")
