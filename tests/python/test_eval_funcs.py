"""Evaluation protocols through SQL (ext/eval_funcs.c): legrad_seg_eval, legrad_seg_image and
legrad_point_counts against tests/fixtures/eval/*.json (tests/reference/ref_metrics.py: Chefer's
utils/metrices.py semantics, sklearn AP), plus the frames, the errors and sql/openimages_pmiou.sql."""
import json
import math
import os
import sys

import pytest
from PIL import Image

from conftest import ROOT, one, raises
from test_metric_funcs import mask_png, to_frame

FIX = os.path.join(ROOT, "tests", "fixtures", "eval")
sys.path.insert(0, os.path.join(ROOT, "tests", "reference"))


def load(name):
    path = os.path.join(FIX, name)
    if not os.path.isfile(path):
        pytest.skip("%s absent (run tests/reference/ref_metrics.py)" % path)
    with open(path) as f:
        return json.load(f)


def seg_opts(case):
    o = {"threshold": "mean" if case["threshold"] is None else case["threshold"]}
    if case["label"] is not None:
        o["label"] = case["label"]
    if case.get("ignore") is not None:
        o["ignore"] = case["ignore"]
    return json.dumps(o)


def case_mask(case):
    """The case's mask as a PNG (16-bit when it holds ids above 255)."""
    big = max(max(r) for r in case["mask"]) > 255
    return mask_png(case["mask"], mode="I;16" if big else "L")


COUNTS = ("pixel_correct", "pixel_labeled", "inter_bg", "union_bg", "inter_fg", "union_fg")


def test_legrad_seg_image(db):
    data = load("seg_cases.json")
    for case in data["cases"]:
        m = one(db, "SELECT legrad_map_from_grid(?)", json.dumps(case["grid"]))
        got = json.loads(one(db, "SELECT legrad_seg_image(?, ?, ?)", m, case_mask(case),
                             seg_opts(case)))
        want = case["expected"]
        assert {k: got[k] for k in COUNTS} == {k: want[k] for k in COUNTS}, case["name"]
        assert abs(got["ap"] - want["ap"]) <= 1e-6, (case["name"], got["ap"], want["ap"])


def test_legrad_seg_eval(db):
    data = load("seg_cases.json")
    db.execute("CREATE TABLE rows(map BLOB, mask BLOB, options TEXT)")
    for case in data["cases"]:
        db.execute("INSERT INTO rows SELECT legrad_map_from_grid(?), ?, ?",
                   (json.dumps(case["grid"]), case_mask(case), seg_opts(case)))
    db.execute("INSERT INTO rows VALUES (NULL, NULL, NULL)")          # skipped, like avg()
    got = json.loads(one(db, "SELECT legrad_seg_eval(map, mask, options) FROM rows"))
    for k, v in data["summary"].items():
        assert abs(got[k] - v) <= 1e-6, (k, got[k], v)
    # the aggregate equals sums of the per-image counts
    per = db.execute("SELECT legrad_seg_image(map, mask, options) FROM rows WHERE map IS NOT NULL")
    per = [json.loads(r[0]) for r in per]
    for k in COUNTS:
        assert got[k] == sum(p[k] for p in per), k
    assert got["images"] == len(per)
    empty = json.loads(one(db, "SELECT legrad_seg_eval(map, mask) FROM rows WHERE 0"))
    assert empty["images"] == 0 and empty["miou"] is None and empty["map"] is None


def test_seg_frames(db):
    import numpy as np
    import ref_metrics
    rng = np.random.default_rng(3)
    # model frame with a recorded crop: the mask goes through the frame as in legrad_iou
    opts = {"patch": 16, "frame": {"source": [64, 48], "mode": "crop"}}
    fm = one(db, "SELECT legrad_map_from_grid('[[0,1],[2,5]]', ?)", json.dumps(opts))
    frame = json.loads(one(db, "SELECT legrad_map_info(?)", fm))["frame"]
    mask = [[1 if x >= 40 and y >= 10 else 0 for x in range(64)] for y in range(48)]
    fin = np.array(json.loads(one(db, "SELECT legrad_map_json(?)", fm)), np.float32)
    framed = np.array(to_frame(mask, frame))
    for thr in (None, 0.5):
        want = ref_metrics.chefer_image(fin, (framed != 0).astype(np.int64), thr)
        got = json.loads(one(db, "SELECT legrad_seg_image(?, ?, ?)", fm, mask_png(mask),
                             json.dumps({"threshold": "mean" if thr is None else thr})))
        assert {k: got[k] for k in COUNTS} == {k: want[k] for k in COUNTS}
        assert abs(got["ap"] - want["ap"]) <= 1e-6
    # squash224: a 224x224 map (patch 1: the final map is the grid) and a 300x200 mask squashed
    # with Pillow's NEAREST
    grid = ref_metrics.unit_map(rng, 224, 224)
    m = one(db, "SELECT legrad_map_from_grid(?)", json.dumps(grid.tolist()))
    src = np.zeros((200, 300), np.uint8)
    src[40:150, 120:260] = 1
    png = mask_png(src.tolist())
    sq = np.array(Image.fromarray(src, "L").resize((224, 224), Image.NEAREST))
    want = ref_metrics.chefer_image(grid, sq.astype(np.int64), None)
    got = json.loads(one(db, "SELECT legrad_seg_image(?, ?, '{\"frame\": \"squash224\"}')", m, png))
    assert {k: got[k] for k in COUNTS} == {k: want[k] for k in COUNTS}
    assert abs(got["ap"] - want["ap"]) <= 1e-6
    # a 14x14 grid with patch 16 is upsampled to its 224 input either way: squash224 with a 224 mask
    # equals the model frame
    g14 = json.dumps(rng.random((14, 14)).tolist())
    m14 = one(db, "SELECT legrad_map_from_grid(?, '{\"patch\": 16}')", g14)
    mk = mask_png(sq.tolist())
    assert one(db, "SELECT legrad_seg_image(?, ?)", m14, mk) == \
        one(db, "SELECT legrad_seg_image(?, ?, '{\"frame\": \"squash224\"}')", m14, mk)


def test_seg_errors(db):
    m = one(db, "SELECT legrad_map_from_grid('[[0,1,2,3]]')")
    mk = mask_png([[0, 0, 5, 5]])
    assert one(db, "SELECT legrad_seg_image(NULL, ?)", mk) is None
    assert one(db, "SELECT legrad_seg_image(?, NULL)", m) is None
    fn = "legrad_seg_image(): "
    raises(db, "SELECT legrad_seg_image(?, ?, '{\"label\": 1}')", (m, mk),
           fn + "argument 3 (label): label 1 does not occur in the mask (it holds 0 and 5); pass 5, or "
                "omit label to use every non-zero pixel")
    raises(db, "SELECT legrad_seg_image(?, ?, '{\"thresh\": 1}')", (m, mk),
           fn + "argument 3 (options): unknown key \"thresh\" (expected one of: threshold, label, frame, "
                "ignore)")
    raises(db, "SELECT legrad_seg_image(?, ?, '{\"ignore\": 5, \"label\": 5}')", (m, mk),
           fn + "argument 3 (options): \"ignore\" and \"label\" are both 5; the ignored id must differ "
                "from the foreground's")
    raises(db, "SELECT legrad_seg_image(?, ?, '{\"ignore\": -3}')", (m, mk),
           fn + "argument 3 (options): \"ignore\" must be an object id in 0..65535 or null (no pixel is "
                "ignored), found an out-of-range or fractional number")
    raises(db, "SELECT legrad_seg_image(?, ?, '{\"threshold\": 2}')", (m, mk),
           fn + "argument 3 (options): \"threshold\" must be \"mean\" or a number in [0, 1] (the "
                "min-max map's units), found a number outside [0, 1]")
    raises(db, "SELECT legrad_seg_image(?, ?, '{\"frame\": \"crop\"}')", (m, mk),
           fn + "argument 3 (options): \"frame\" must be \"model\" (the map's own frame) or "
                "\"squash224\" (Chefer's 224x224 squash)")
    raises(db, "SELECT legrad_seg_image(?, 'mask.png')", (m,),
           fn + "argument 2 (mask) must be a PNG BLOB of object ids, found TEXT; pass the file's bytes "
                "(shell: readfile('path'); Python: open(path, 'rb').read())")
    raises(db, "SELECT legrad_seg_eval(map, mask, '{\"label\": 9}') FROM (SELECT ? AS map, ? AS mask)",
           (m, mk), "legrad_seg_eval(): argument 3 (label): label 9 does not occur in the mask (it holds "
                    "0 and 5); pass 5, or omit label to use every non-zero pixel")
    raises(db, "SELECT legrad_seg_eval(x'00', ?)", (mk,),
           "legrad_seg_eval(): argument 1 (map) is not a legrad map blob: expected magic 'LGRM', found 00")


def point_map(db, case):
    opts = {"patch": 1}
    if case["frame"]:
        opts["frame"] = {"source": case["frame"]["source"], "mode": case["frame"]["mode"]}
    m = one(db, "SELECT legrad_map_from_grid(?, ?)", json.dumps(case["grid"]), json.dumps(opts))
    assert json.loads(one(db, "SELECT legrad_map_info(?)", m))["frame"] == case["frame"]
    return m


def test_legrad_point_counts(db):
    for case in load("point_cases.json")["cases"]:
        m = point_map(db, case)
        thr = {"threshold": "mean" if case["threshold"] is None else case["threshold"]}
        got = json.loads(one(db, "SELECT legrad_point_counts(?, ?, ?)", m, json.dumps(case["points"]),
                             json.dumps(thr)))
        assert got == case["expected"], case["name"]
        if case["threshold"] == 0.5:   # the default
            assert one(db, "SELECT legrad_point_counts(?, ?)", m, json.dumps(case["points"])) == \
                json.dumps(got, separators=(",", ":"))


def test_point_errors(db):
    m = one(db, "SELECT legrad_map_from_grid('[[0,1],[2,3]]')")
    fn = "legrad_point_counts(): "
    assert one(db, "SELECT legrad_point_counts(?, NULL)", m) is None
    assert json.loads(one(db, "SELECT legrad_point_counts(?, '[]')", m))["tp"] == 0
    raises(db, "SELECT legrad_point_counts(?, '[{\"x\":0.5,\"y\":1.5,\"yesno\":\"yes\"}]')", (m,),
           fn + "argument 2 (points): point 0: x and y must lie in [0, 1] (normalised to the original "
                "image), found (0.5, 1.5)")
    raises(db, "SELECT legrad_point_counts(?, '[{\"x\":0.5,\"y\":0.5,\"yesno\":\"maybe\"}]')", (m,),
           fn + "argument 2 (points): point 0: \"yesno\" must be \"yes\", \"no\" or \"unsure\" (the CSV's "
                "EstimatedYesNo), found \"maybe\"")
    raises(db, "SELECT legrad_point_counts(?, '[{\"X\":0.5,\"Y\":0.5}]')", (m,),
           fn + "argument 2 (points): point 0 must be an object with numbers \"x\" and \"y\" and a "
                "string \"yesno\"")
    raises(db, "SELECT legrad_point_counts(?, '{}')", (m,),
           fn + "argument 2 (points) must be a JSON array like '[{\"x\":0.5,\"y\":0.25,\"yesno\":\"yes\"}]', "
                "found '{}'")
    raises(db, "SELECT legrad_point_counts(?, '[]', '{\"frame\": \"model\"}')", (m,),
           fn + "argument 3 (options): unknown key \"frame\" (expected one of: threshold)")


def test_openimages_pmiou_sql(db):
    """sql/openimages_pmiou.sql on the fixture's point cases, one class per case's threshold-0.5
    variant, two images per class."""
    cases = [c for c in load("point_cases.json")["cases"] if c["threshold"] == 0.5]
    db.execute("CREATE TABLE oi_points(image_id TEXT, class TEXT, x REAL, y REAL, yesno TEXT)")
    db.execute("CREATE TABLE oi_maps(image_id TEXT, class TEXT, map BLOB)")
    want = {}
    for i, case in enumerate(cases):
        cls = "/m/%02d" % (i // 2)
        img = "img%d" % i
        db.execute("INSERT INTO oi_maps VALUES (?, ?, ?)", (img, cls, point_map(db, case)))
        db.executemany("INSERT INTO oi_points VALUES (?, ?, ?, ?, ?)",
                       [(img, cls, p["x"], p["y"], p["yesno"]) for p in case["points"]])
        acc = want.setdefault(cls, [0, 0, 0])
        for j, k in enumerate(("tp", "fp", "fn")):
            acc[j] += case["expected"][k]
    with open(os.path.join(ROOT, "sql", "openimages_pmiou.sql")) as f:
        db.executescript(f.read())
    got = dict((r[0], r[1]) for r in db.execute("SELECT class, iou FROM oi_class_iou"))
    ious = {c: tp / (tp + fp + fn) for c, (tp, fp, fn) in want.items() if tp + fp + fn}
    assert set(got) == set(want)
    for c, v in ious.items():
        assert math.isclose(got[c], v, rel_tol=1e-12), c
    pm = one(db, "SELECT 100 * avg(iou) FROM oi_class_iou")
    assert math.isclose(pm, 100 * sum(ious.values()) / len(ious), rel_tol=1e-12)
