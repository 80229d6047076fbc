"""Metric SQL functions (ext/metric_funcs.c): legrad_iou, legrad_pointing, legrad_mass_in on maps
built with legrad_map_from_grid() and masks written with Pillow; expected values computed here from
legrad_map_json() and the mask brought into the map's frame in Python."""
import io
import json
import math

from PIL import Image

from conftest import one, raises

def mask_png(rows, mode="L"):
    """PNG of object ids from a list of rows."""
    h, w = len(rows), len(rows[0])
    im = Image.new(mode, (w, h))
    for y in range(h):
        for x in range(w):
            im.putpixel((x, y), rows[y][x])
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def to_frame(mask, frame):
    """The mask in the map's frame: nearest neighbour by pixel centres (engine/eval/metrics.c rule)."""
    src_w, src_h = frame["source"]
    rw, rh = frame["resize"]
    cx, cy = frame["crop"]
    size = frame["size"]
    out = []
    for y in range(size):
        sy = min(((2 * (y + cy) + 1) * src_h) // (2 * rh), src_h - 1)
        out.append([mask[sy][min(((2 * (x + cx) + 1) * src_w) // (2 * rw), src_w - 1)]
                    for x in range(size)])
    return out


def expected(fin, mask, label=None, threshold=None):
    """(iou, pointing, mass_in) computed in Python."""
    vals = [v for row in fin for v in row]
    ids = [v for row in mask for v in row]
    obj = [(i != 0) if label is None else (i == label) for i in ids]
    thr = sum(vals) / len(vals) if threshold is None else threshold
    fg = [v > thr for v in vals]
    inter = sum(a and b for a, b in zip(fg, obj))
    union = sum(a or b for a, b in zip(fg, obj))
    iou = inter / union if union else None
    best = max(range(len(vals)), key=lambda i: (vals[i], -i))
    mass = sum(v for v, o in zip(vals, obj) if o) / sum(vals)
    return iou, int(obj[best]), mass


def test_legrad_iou(db):
    m = one(db, "SELECT legrad_map_from_grid('[[0,1,2,3]]')")      # final map 0, 1/3, 2/3, 1
    mk = mask_png([[0, 0, 5, 5]])
    assert one(db, "SELECT legrad_iou(?, ?)", m, mk) == 1.0           # mean 0.5: x = 2, 3
    assert one(db, "SELECT legrad_iou(?, ?, 0.9)", m, mk) == 0.5      # only x = 3
    assert one(db, "SELECT legrad_iou(?, ?, NULL, 5)", m, mk) == 1.0
    assert one(db, "SELECT legrad_iou(?, ?, 'mean', 5)", m, mk) == 1.0
    assert one(db, "SELECT legrad_iou(?, ?, 0, 5)", m, mk) == 2 / 3      # x = 1, 2, 3 above 0
    assert one(db, "SELECT legrad_iou(?, ?, 1)", m, mask_png([[0, 0, 0, 0]])) is None  # empty union
    assert one(db, "SELECT legrad_iou(NULL, ?)", mk) is None
    assert one(db, "SELECT legrad_iou(?, NULL)", m) is None
    # a recorded crop frame: the 64x48 mask goes through resize 42x32 + crop (5, 0)
    opts = {"patch": 16, "frame": {"source": [64, 48], "mode": "crop"}}
    fm = one(db, "SELECT legrad_map_from_grid('[[0,1],[2,5]]', ?)", json.dumps(opts))
    frame = json.loads(one(db, "SELECT legrad_map_info(?)", fm))["frame"]
    mask = [[(1 if x >= 40 else 0) + (2 if y >= 30 else 0) for x in range(64)] for y in range(48)]
    fin = json.loads(one(db, "SELECT legrad_map_json(?)", fm))
    framed = to_frame(mask, frame)
    for label in (None, 1, 2, 3):
        for thr in (None, 0.25, 0.7):
            want = expected(fin, framed, label, thr)[0]
            got = one(db, "SELECT legrad_iou(?, ?, ?, ?)", fm, mask_png(mask), thr, label)
            assert (got is None and want is None) or math.isclose(got, want, rel_tol=1e-12), \
                (label, thr, got, want)
    # no frame, square input, mask of another size: squashed to the input size
    sm = one(db, "SELECT legrad_map_from_grid('[[0,1],[2,3]]', '{\"patch\":2}')")
    big = [[1 if x >= 4 else 0 for x in range(8)] for _ in range(8)]
    fin = json.loads(one(db, "SELECT legrad_map_json(?)", sm))
    small = [[row[2 * x + 1] for x in range(4)] for row in big[1::2]]
    assert one(db, "SELECT legrad_iou(?, ?)", sm, mask_png(big)) == expected(fin, small)[0]
    # 16-bit masks carry ids above 255
    m16 = mask_png([[0, 0, 300, 300]], mode="I;16")
    assert one(db, "SELECT legrad_iou(?, ?, NULL, 300)", m, m16) == 1.0
    fn = "legrad_iou(): "
    raises(db, "SELECT legrad_iou(?, 'mask.png')", (m,),
           fn + "argument 2 (mask) must be a PNG BLOB of object ids, found TEXT; pass the file's bytes "
                "(shell: readfile('path'); Python: open(path, 'rb').read())")
    raises(db, "SELECT legrad_iou(?, ?, NULL, -1)", (m, mk),
           fn + "argument 4 (label) must be an object id in 0..65535 or NULL, found -1")
    raises(db, "SELECT legrad_iou(?, ?)", (fm, mk),
           fn + "argument 2 (mask) is 4x1 but the map was computed on a 64x48 image")
    raises(db, "SELECT legrad_iou(?, ?)", (m, mask_png([[0, 1], [1, 0]])),
           fn + "argument 2 (mask) is 2x2; the map records no frame and its input is 4x1, so the "
                "mask must be 4x1")
    big = one(db, "SELECT legrad_map_from_grid(?, '{\"patch\":128}')", json.dumps([[0.5] * 64] * 64))
    raises(db, "SELECT legrad_iou(?, ?)", (big, mk),
           fn + "the map's 8192x8192 input exceeds the limit of 16777216 pixels")
    raises(db, "SELECT legrad_iou(x'00', ?)", (mk,),
           fn + "argument 1 (map) is not a legrad map blob: expected magic 'LGRM', found 00")
    raises(db, "SELECT legrad_iou(?, x'00112233')", (m,),
           fn + "argument 2 (mask) could not be decoded: mask: not a PNG (expected an 8- or 16-bit "
                "greyscale PNG of object ids)")


def test_legrad_pointing(db):
    m = one(db, "SELECT legrad_map_from_grid('[[0,1,2,3]]')")
    assert one(db, "SELECT legrad_pointing(?, ?)", m, mask_png([[0, 0, 0, 9]])) == 1
    assert one(db, "SELECT legrad_pointing(?, ?)", m, mask_png([[9, 9, 9, 0]])) == 0
    assert one(db, "SELECT legrad_pointing(?, ?, 9)", m, mask_png([[0, 0, 4, 9]])) == 1
    assert one(db, "SELECT legrad_pointing(?, ?, 4)", m, mask_png([[0, 0, 4, 9]])) == 0
    assert one(db, "SELECT legrad_pointing(?, NULL)", m) is None
    raises(db, "SELECT legrad_pointing(?, ?, 2.5)", (m, mask_png([[0, 0, 0, 9]])),
           "legrad_pointing(): argument 3 (label) must be an object id in 0..65535 or NULL, found REAL")


def test_legrad_mass_in(db):
    m = one(db, "SELECT legrad_map_from_grid('[[0,1,2,3]]')")
    got = one(db, "SELECT legrad_mass_in(?, ?)", m, mask_png([[0, 0, 5, 5]]))
    assert math.isclose(got, (2 / 3 + 1) / 2, rel_tol=1e-6)
    assert one(db, "SELECT legrad_mass_in(legrad_map_from_grid('[[4,4]]'), ?)",
               mask_png([[1, 0]])) is None                 # constant map: all zeros, no mass
    raises(db, "SELECT legrad_mass_in(?, ?, 70000)", (m, mask_png([[0, 0, 5, 5]])),
           "legrad_mass_in(): argument 3 (label) must be an object id in 0..65535 or NULL, found 70000")


METRICS = [("legrad_iou", "SELECT legrad_iou(?, ?, NULL, ?)", 4),
           ("legrad_pointing", "SELECT legrad_pointing(?, ?, ?)", 3),
           ("legrad_mass_in", "SELECT legrad_mass_in(?, ?, ?)", 3),
           ("legrad_frame_coverage", "SELECT legrad_frame_coverage(?, ?, ?)", 3)]


def test_absent_label_is_an_error(db):
    """A label that does not occur in the mask names the ids present instead of scoring 0."""
    m = one(db, "SELECT legrad_map_from_grid('[[0,1,2,3]]')")
    binary = mask_png([[0, 0, 255, 255]])
    for fn, sql, pos in METRICS:
        raises(db, sql, (m, binary, 1),
               f"{fn}(): argument {pos} (label): label 1 does not occur in the mask (it holds 0 and "
               "255); pass 255, or omit label to use every non-zero pixel")
        raises(db, sql, (m, mask_png([[0, 3, 12, 0]]), 7),
               f"{fn}(): argument {pos} (label): label 7 does not occur in the mask (it holds 0, 3 and "
               "12); pass 3 or 12, or omit label to use every non-zero pixel")
        raises(db, sql, (m, mask_png([[0, 0, 0, 0]]), 1),
               f"{fn}(): argument {pos} (label): label 1 does not occur in the mask (it holds only 0: "
               "no object)")
        raises(db, sql, (m, mask_png([[5, 5, 5, 5]]), 0),
               f"{fn}(): argument {pos} (label): label 0 does not occur in the mask (it holds only 5); "
               "pass 5, or omit label to use every non-zero pixel")
    many = mask_png([list(range(1, 11))], mode="L")
    m10 = one(db, "SELECT legrad_map_from_grid(?)", json.dumps([list(range(10))]))
    raises(db, "SELECT legrad_pointing(?, ?, 20)", (m10, many),
           "legrad_pointing(): argument 3 (label): label 20 does not occur in the mask (it holds 1, 2, "
           "3, 4, 5, 6, 7, 8 and 2 more); pass one of its non-zero ids, or omit label to use every "
           "non-zero pixel")
    # present labels still work, and an all-background mask without a label has no object: NULL
    assert one(db, "SELECT legrad_pointing(?, ?, 255)", m, binary) == 1
    for fn, sql, pos in METRICS:
        assert one(db, sql, m, mask_png([[0, 0, 0, 0]]), None) is None, fn


def test_threshold_range(db):
    m = one(db, "SELECT legrad_map_from_grid('[[0,1,2,3]]')")
    mk = mask_png([[0, 0, 5, 5]])
    fn = "legrad_iou(): argument 3 (threshold) must be in [0, 1] or 'mean', found "
    raises(db, "SELECT legrad_iou(?, ?, 50)", (m, mk), fn + "50")
    raises(db, "SELECT legrad_iou(?, ?, 1.5)", (m, mk), fn + "1.5")
    raises(db, "SELECT legrad_iou(?, ?, -0.25)", (m, mk), fn + "-0.25")
    raises(db, "SELECT legrad_iou(?, ?, 'median')", (m, mk), fn + "'median'")
    raises(db, "SELECT legrad_iou(?, ?, x'00')", (m, mk), fn + "BLOB")
    assert one(db, "SELECT legrad_iou(?, ?, 1)", m, mk) == 0.0          # nothing above 1
    assert one(db, "SELECT legrad_iou(?, ?, 'mean')", m, mk) == one(db, "SELECT legrad_iou(?, ?)", m, mk)


def wide_case(db, mode):
    """A 8x8 grid (patch 8) on a 300x100 image; crop keeps source columns 100..199."""
    grid = [[float(x + y) for x in range(8)] for y in range(8)]
    return one(db, "SELECT legrad_map_from_grid(?, ?)", json.dumps(grid),
               json.dumps({"patch": 8, "frame": {"source": [300, 100], "mode": mode}}))


def test_legrad_frame_coverage(db):
    """The share of the object the crop kept; metrics of an object wholly outside the frame are NULL."""
    crop, squash = wide_case(db, "crop"), wide_case(db, "squash")
    # id 1: x < 60 (cut off by the crop), id 2: 90 <= x < 110 (half kept), id 3: 120 <= x < 180 (kept)
    ids = [[1 if x < 60 else 2 if 90 <= x < 110 else 3 if 120 <= x < 180 else 0 for x in range(300)]
           for _ in range(100)]
    mk = mask_png(ids)
    cov = "SELECT legrad_frame_coverage(?, ?, ?)"
    assert one(db, cov, crop, mk, 1) == 0.0
    assert one(db, cov, crop, mk, 2) == 0.5
    assert one(db, cov, crop, mk, 3) == 1.0
    assert one(db, "SELECT legrad_frame_coverage(?, ?)", crop, mk) == (10 * 100 + 60 * 100) / (140 * 100)
    assert one(db, cov, squash, mk, 1) == 1.0
    nofr = one(db, "SELECT legrad_map_from_grid('[[0,1],[2,3]]', '{\"patch\": 2}')")
    assert one(db, "SELECT legrad_frame_coverage(?, ?)", nofr, mask_png([[0, 1, 1, 0]] * 4)) == 1.0
    assert one(db, "SELECT legrad_frame_coverage(NULL, ?)", mk) is None
    assert one(db, "SELECT legrad_frame_coverage(?, NULL)", crop) is None
    # nothing of id 1 is in the frame: every metric is NULL, not 0
    for sql in ("SELECT legrad_iou(?, ?, NULL, 1)", "SELECT legrad_iou(?, ?, 0.5, 1)",
                "SELECT legrad_pointing(?, ?, 1)", "SELECT legrad_mass_in(?, ?, 1)"):
        assert one(db, sql, crop, mk) is None, sql
        assert one(db, sql, squash, mk) is not None, sql
    # id 2 is half inside: scored on the kept half, i.e. on the mask as brought into the frame
    frame = json.loads(one(db, "SELECT legrad_map_info(?)", crop))["frame"]
    fin = json.loads(one(db, "SELECT legrad_map_json(?)", crop))
    framed = to_frame(ids, frame)
    iou, hit, mass = expected(fin, framed, 2)
    assert math.isclose(one(db, "SELECT legrad_iou(?, ?, NULL, 2)", crop, mk), iou, rel_tol=1e-12)
    assert one(db, "SELECT legrad_pointing(?, ?, 2)", crop, mk) == hit
    assert math.isclose(one(db, "SELECT legrad_mass_in(?, ?, 2)", crop, mk), mass, rel_tol=1e-6)
    raises(db, "SELECT legrad_frame_coverage(?, ?)", (crop, mask_png([[0, 1]])),
           "legrad_frame_coverage(): argument 2 (mask) is 2x1 but the map was computed on a 300x100 "
           "image")
    raises(db, "SELECT legrad_frame_coverage(?, 'm.png')", (crop,),
           "legrad_frame_coverage(): argument 2 (mask) must be a PNG BLOB of object ids, found TEXT; "
           "pass the file's bytes (shell: readfile('path'); Python: open(path, 'rb').read())")
