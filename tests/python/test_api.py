"""The extension's public surface: the exact function and module list, version and debug text, and a
coverage check that every registered function and module has a test."""
import glob
import os
import re
import sqlite3

from conftest import ROOT, connect, one

# (name, narg, flags) of every function the extension registers.  flags: d = deterministic,
# i = innocuous, o = direct-only (pragma_function_list's 'flags' column).
FUNCTIONS = {
    # models, maps, embeddings (legrad_func.c, clip_funcs.c, legrad0.c)
    ("clip_image_embedding", 1, "do"), ("clip_image_embedding", 2, "do"),
    ("clip_similarity", 2, "do"), ("clip_similarity", 3, "do"),
    ("clip_text_embedding", 1, "do"), ("clip_text_embedding", 2, "do"),
    ("clip_tokenize", 1, "do"), ("clip_tokenize", 2, "do"),
    ("legrad", -1, "do"),
    ("legrad_explain", -1, "do"),
    ("legrad_cache_clear", 0, "o"),
    ("legrad_cache_stats", 0, "o"),
    ("legrad_debug", 0, "i"),
    ("legrad_version", 0, "di"),
    # failures and progress (failures.c, progress.c)
    ("legrad_failures_clear", 0, "o"), ("legrad_image_hash", 1, "di"),
    ("legrad_progress", 0, "o"), ("legrad_progress", 1, "o"), ("legrad_progress", 2, "o"),
    # map blob functions (map_funcs.c) and metrics (metric_funcs.c): pure
    ("legrad_map_info", 1, "di"), ("legrad_map_grid", 1, "di"),
    ("legrad_map_json", 1, "di"), ("legrad_map_json", 3, "di"),
    ("legrad_map_png", 1, "di"), ("legrad_map_png", 2, "di"), ("legrad_map_png", 3, "di"),
    ("legrad_map_png", 4, "di"),
    ("legrad_map_from_grid", 1, "di"), ("legrad_map_from_grid", 2, "di"),
    ("legrad_iou", 2, "di"), ("legrad_iou", 3, "di"), ("legrad_iou", 4, "di"),
    ("legrad_pointing", 2, "di"), ("legrad_pointing", 3, "di"),
    ("legrad_mass_in", 2, "di"), ("legrad_mass_in", 3, "di"),
    ("legrad_seg_eval", 2, "di"), ("legrad_seg_eval", 3, "di"),
    ("legrad_seg_image", 2, "di"), ("legrad_seg_image", 3, "di"),
    ("legrad_point_counts", 2, "di"), ("legrad_point_counts", 3, "di"),
    ("legrad_frame_coverage", 2, "di"), ("legrad_frame_coverage", 3, "di"),
}
MODULES = {"legrad_failures", "legrad_layers", "legrad_methods", "legrad_models"}

DETERMINISTIC, DIRECTONLY, INNOCUOUS = 0x800, 0x80000, 0x200000


def _flags(f):
    return ("d" if f & DETERMINISTIC else "") + ("i" if f & INNOCUOUS else "") + \
           ("o" if f & DIRECTONLY else "")


def _functions(db):
    return {(n, a, f) for n, a, f in db.execute(
        "SELECT name, narg, flags FROM pragma_function_list WHERE builtin = 0")}


def test_function_list():
    plain = sqlite3.connect(":memory:")
    before = {(n, a) for n, a, _ in _functions(plain)}
    db = connect()
    added = {(n, a, _flags(f)) for n, a, f in _functions(db) if (n, a) not in before}
    assert added == FUNCTIONS


def test_module_list():
    plain = sqlite3.connect(":memory:")
    before = {r[0] for r in plain.execute("SELECT name FROM pragma_module_list")}
    db = connect()
    after = {r[0] for r in db.execute("SELECT name FROM pragma_module_list")}
    assert after - before == MODULES


def test_legrad_version(db):
    assert re.fullmatch(r"v\d+\.\d+\.\d+", one(db, "SELECT legrad_version()"))


def test_legrad_debug(db):
    text = one(db, "SELECT legrad_debug()")
    keys = [line.split(":", 1)[0] for line in text.splitlines()]
    assert keys == ["version", "build", "blas", "threads", "sqlite", "zlib", "cjson", "utf8proc",
                    "libjpeg-turbo", "libwebp", "stb_image", "image decoding interruptible",
                    "models loaded in this process"]
    interruptible = sqlite3.sqlite_version_info >= (3, 41, 0)
    assert ("image decoding interruptible: yes" in text) == interruptible
    assert "sqlite: " + sqlite3.sqlite_version in text
    assert re.search(r"blas: OpenBLAS.*, threads \d+", text)


def test_every_function_and_module_has_a_test():
    """Every registered function and module has a test_<name> in tests/python."""
    source = ""
    for path in glob.glob(os.path.join(ROOT, "tests", "python", "test_*.py")):
        with open(path) as f:
            source += f.read()
    names = {n for n, _, _ in FUNCTIONS} | MODULES
    missing = [n for n in sorted(names) if not re.search(r"def test_%s\b" % n, source)]
    assert missing == []
