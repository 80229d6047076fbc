"""Dataset importers (scripts/import_dataset.py): small files written here in the real datasets'
formats (a MAT v7.3 / HDF5 file with object references, a LUSSeg ImageNet-S tree with RGB masks,
OpenImages V7 CSVs, ImageNet validation folders); the imported tables are checked pixel by pixel,
and a second run must add nothing (resume)."""
import csv
import io
import os
import sqlite3
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT, connect

SCRIPT = os.path.join(ROOT, "scripts", "import_dataset.py")
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import import_dataset  # noqa: E402


def run(*args):
    """Run the importer in-process; returns (exit status, stderr text)."""
    err = io.StringIO()
    old, sys.stderr = sys.stderr, err
    try:
        rc = import_dataset.main([str(a) for a in args])
    finally:
        sys.stderr = old
    return rc, err.getvalue()


def pixels(blob):
    with Image.open(io.BytesIO(blob)) as im:
        return im.mode, np.asarray(im)


def rows(db_path, sql):
    with sqlite3.connect(db_path) as db:
        return db.execute(sql).fetchall()


def rgb_image(w, h, seed):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def save(array, path, **kw):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(array).save(path, **kw)


# --- 1. ImageNet-Segmentation gtsegs_ijcv.mat -------------------------------------------------

def write_gtsegs(path, images, masks):
    """A MAT v7.3 file laid out like gtsegs_ijcv.mat: HDF5 with a 512-byte userblock holding the
    MATLAB header; /value/img and /value/gt are (N, 1) object references into #refs#; each gt
    reference points to a (1, 1) reference to the mask; arrays stored transposed (MATLAB order)."""
    h5py = pytest.importorskip("h5py", reason="python3-h5py not installed (scripts/deps.sh test)")
    with h5py.File(path, "w", userblock_size=512) as f:
        refs = f.create_group("#refs#")
        value = f.create_group("value")
        value.attrs["MATLAB_class"] = np.bytes_(b"struct")
        img = value.create_dataset("img", (len(images), 1), dtype=h5py.ref_dtype)
        gt = value.create_dataset("gt", (len(images), 1), dtype=h5py.ref_dtype)
        for cell in (img, gt):
            cell.attrs["MATLAB_class"] = np.bytes_(b"cell")
        for i, (im, mk) in enumerate(zip(images, masks)):
            d = refs.create_dataset(f"img{i}", data=im.transpose(2, 1, 0))      # (3, W, H)
            d.attrs["MATLAB_class"] = np.bytes_(b"uint8")
            img[i, 0] = d.ref
            m = refs.create_dataset(f"mask{i}", data=mk.transpose(1, 0).astype(np.uint8))
            m.attrs["MATLAB_class"] = np.bytes_(b"logical")
            inner = refs.create_dataset(f"gt{i}", (1, 1), dtype=h5py.ref_dtype)
            inner.attrs["MATLAB_class"] = np.bytes_(b"cell")
            inner[0, 0] = m.ref
            gt[i, 0] = inner.ref
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Dec  7 00:00:00 2026 HDF5 schema 1.00 ."
    with open(path, "r+b") as f:
        f.write(header.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02" + b"IM")


def test_imagenet_seg(tmp_path):
    images = [rgb_image(7, 5, 1), rgb_image(4, 6, 2), rgb_image(3, 3, 3)]
    masks = [np.zeros((5, 7), np.uint8), np.zeros((6, 4), np.uint8), np.zeros((3, 3), np.uint8)]
    masks[0][1:4, 2:6] = 1
    masks[1][0, :] = 1                                   # masks[2] stays empty
    mat = tmp_path / "gtsegs_ijcv.mat"
    write_gtsegs(mat, images, masks)
    assert open(mat, "rb").read(10) == b"MATLAB 7.3"
    db = tmp_path / "seg.db"
    rc, err = run("imagenet-seg", "--db", db, "--limit", 2, mat)
    assert rc == 0, err
    assert rows(db, "SELECT name FROM images ORDER BY name") == [("0",), ("1",)]
    rc, err = run("imagenet-seg", "--db", db, "--batch", 1, mat)            # resume
    assert rc == 0, err
    assert "1 imported" in err
    got = rows(db, "SELECT name, image, mask, width, height, class FROM images ORDER BY name")
    assert [r[0] for r in got] == ["0", "1", "2"]
    for (name, img, mask, w, h, cls), im, mk in zip(got, images, masks):
        assert (w, h, cls) == (im.shape[1], im.shape[0], None)
        mode, px = pixels(img)
        assert mode == "RGB" and np.array_equal(px, im)                   # lossless
        mode, px = pixels(mask)
        assert mode == "L" and np.array_equal(px, mk)
    assert rows(db, "SELECT image, object, class FROM labels ORDER BY image") == [("0", 1, None),
                                                                             ("1", 1, None)]
    rc, err = run("imagenet-seg", "--db", db, mat)
    assert rc == 0 and "0 imported" in err
    assert rows(db, "SELECT count(*) FROM images") == [(3,)]


def test_imagenet_seg_layout_errors(tmp_path):
    h5py = pytest.importorskip("h5py", reason="python3-h5py not installed (scripts/deps.sh test)")
    bad = tmp_path / "bad.mat"
    with h5py.File(bad, "w") as f:
        f.create_dataset("value/img", data=np.zeros((2, 1)))
    rc, err = run("imagenet-seg", "--db", tmp_path / "x.db", bad)
    assert rc == 2
    assert "expected /value/img, a dataset of object references, found <HDF5 dataset" in err
    v5 = tmp_path / "v5.mat"
    v5.write_bytes(b"MATLAB 5.0 MAT-file" + b"\0" * 200)
    rc, err = run("imagenet-seg", "--db", tmp_path / "x.db", v5)
    assert rc == 2 and "expected a MAT v7.3 file (HDF5), found another format" in err
    rc, err = run("imagenet-seg", "--db", tmp_path / "x.db", tmp_path / "absent.mat")
    assert rc == 2 and "expected gtsegs_ijcv.mat (MAT v7.3) at" in err and "found nothing" in err


# --- 2. LUSSeg ImageNet-S ----------------------------------------------------------------------

WNIDS = ["n01443537", "n01491361", "n01531178"]          # sorted: ids 1, 2, 3


def rgb_mask(ids):
    """LUSSeg RGB mask: R = id % 256, G = id // 256."""
    out = np.zeros(ids.shape + (3,), np.uint8)
    out[..., 0] = ids % 256
    out[..., 1] = ids // 256
    return out


def write_lusseg(root):
    """ImageNetS-style tree: two images of class 1, one of class 3; ids 0, 1..3 and 1000 (ignore)."""
    cats = root / "ImageNetS_categories_im3.txt"
    cats.write_text("\n".join([WNIDS[2], WNIDS[0], WNIDS[1]]) + "\n")   # sorted by the importer
    names = root / "LOC_synset_mapping.txt"
    names.write_text(f"{WNIDS[0]} goldfish, Carassius auratus\n{WNIDS[1]} great white shark\n"
                     f"{WNIDS[2]} house finch, linnet\n")
    ids = {}
    for wnid, stem, seed in [(WNIDS[0], "ILSVRC2012_val_00000001", 1),
                             (WNIDS[0], "ILSVRC2012_val_00000002", 2),
                             (WNIDS[2], "ILSVRC2012_val_00000003", 3)]:
        h, w = 6, 8
        save(rgb_image(w, h, seed), str(root / "validation" / wnid / (stem + ".JPEG")), quality=95)
        m = np.zeros((h, w), np.int64)
        m[1:3, 1:4] = 1 + WNIDS.index(wnid)
        m[4:, 5:] = IGNORE if seed != 2 else 0
        if seed == 3:
            m[0, :] = 2                                   # a second class in the image
        save(rgb_mask(m), str(root / "validation-segmentation" / wnid / (stem + ".png")))
        ids[f"{wnid}/{stem}"] = m
    return cats, names, ids


IGNORE = 1000


def test_imagenet_s(tmp_path):
    cats, names, masks = write_lusseg(tmp_path)
    db = tmp_path / "s.db"
    rc, err = run("imagenet-s", "--db", db, "--limit", 1, tmp_path, "--categories", cats,
                  "--names", names)
    assert rc == 0, err
    assert rows(db, "SELECT count(*) FROM images") == [(1,)]
    rc, err = run("imagenet-s", "--db", db, tmp_path, "--categories", cats, "--names", names)
    assert rc == 0 and "2 imported" in err, err
    assert rows(db, "SELECT id, key, name FROM classes ORDER BY id") == [
        (1, WNIDS[0], "goldfish"), (2, WNIDS[1], "great white shark"), (3, WNIDS[2], "house finch")]
    got = rows(db, "SELECT name, image, mask, width, height, class FROM images ORDER BY name")
    assert [r[0] for r in got] == sorted(masks)
    for name, img, mask, w, h, cls in got:
        wnid, stem = name.split("/")
        assert img == (tmp_path / "validation" / wnid / (stem + ".JPEG")).read_bytes()  # as is
        assert (w, h, cls) == (8, 6, 1 + WNIDS.index(wnid))
        mode, px = pixels(mask)
        assert mode.startswith("I") and np.array_equal(px, masks[name])    # 16-bit class ids
    assert rows(db, "SELECT count(*) FROM images WHERE class IS NULL") == [(0,)]
    assert rows(db, "SELECT image, object, class, name FROM labels ORDER BY image, object") == [
        (f"{WNIDS[0]}/ILSVRC2012_val_00000001", 1, 1, "goldfish"),
        (f"{WNIDS[0]}/ILSVRC2012_val_00000002", 1, 1, "goldfish"),
        (f"{WNIDS[2]}/ILSVRC2012_val_00000003", 2, 2, "great white shark"),
        (f"{WNIDS[2]}/ILSVRC2012_val_00000003", 3, 3, "house finch")]


def test_imagenet_s_interrupted(tmp_path, monkeypatch):
    """An interruption while the third image is read keeps the two committed images, each with its
    labels; the rerun adds the third without duplicates."""
    cats, names, masks = write_lusseg(tmp_path)
    db = tmp_path / "s.db"
    real, calls = import_dataset.read_image_file, []

    def interrupted(path):
        calls.append(path)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(path)
    monkeypatch.setattr(import_dataset, "read_image_file", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run("imagenet-s", "--db", db, tmp_path, "--categories", cats, "--batch", 1)
    assert rows(db, "SELECT count(*) FROM images") == [(2,)]
    assert rows(db, "SELECT count(*) FROM labels") == [(2,)]
    monkeypatch.setattr(import_dataset, "read_image_file", real)
    rc, err = run("imagenet-s", "--db", db, tmp_path, "--categories", cats)
    assert rc == 0 and "3 images considered, 1 imported" in err, err
    assert rows(db, "SELECT count(*) FROM images") == [(3,)]
    assert rows(db, "SELECT count(*) FROM labels") == [(4,)]


def test_imagenet_s_merged_wnid(tmp_path):
    """ImageNet-S-919 merges n04356056 (sunglasses) into n04355933 (sunglass): a directory named
    after the merged wnid gets the class of the one it was merged into."""
    cats = tmp_path / "cats.txt"
    cats.write_text("n04355933\n")
    for wnid in ("n04355933", "n04356056"):
        save(rgb_image(4, 3, 0), str(tmp_path / "validation" / wnid / f"{wnid}_1.JPEG"))
        save(rgb_mask(np.ones((3, 4), np.int64)),
             str(tmp_path / "validation-segmentation" / wnid / f"{wnid}_1.png"))
    db = tmp_path / "s.db"
    assert run("imagenet-s", "--db", db, tmp_path, "--categories", cats)[0] == 0
    assert rows(db, "SELECT name, class FROM images ORDER BY name") == [("n04355933/n04355933_1", 1),
                                                                    ("n04356056/n04356056_1", 1)]


def test_imagenet_s_masks_work_with_the_metric_functions(tmp_path):
    """The stored 16-bit masks are what legrad_iou takes: a map covering exactly the object's
    columns and rows scores IoU 1 for that class id."""
    cats, names, _ = write_lusseg(tmp_path)
    db_path = tmp_path / "s.db"
    assert run("imagenet-s", "--db", db_path, tmp_path, "--categories", cats)[0] == 0
    try:
        db = connect()
    except sqlite3.OperationalError as e:
        pytest.skip(f"legrad0 extension not loadable: {e}")
    mask = rows(db_path, f"SELECT mask FROM images WHERE name = '{WNIDS[2]}/ILSVRC2012_val_00000003'")[0][0]
    # 6x8 mask; class 3 at rows 1-2, columns 1-3; the map (same 6x8 grid) is 1 there, 0 elsewhere
    grid = [[1 if 1 <= y <= 2 and 1 <= x <= 3 else 0 for x in range(8)] for y in range(6)]
    m = db.execute("SELECT legrad_map_from_grid(?)", (str(grid),)).fetchone()[0]
    assert db.execute("SELECT legrad_iou(?, ?, 0.5, 3)", (m, mask)).fetchone()[0] == 1.0
    assert db.execute("SELECT legrad_iou(?, ?, 0.5, 2)", (m, mask)).fetchone()[0] == 0.0
    db.close()


def test_imagenet_s_layout_errors(tmp_path):
    cats, names, _ = write_lusseg(tmp_path)
    rc, err = run("imagenet-s", "--db", tmp_path / "x.db", tmp_path / "validation", "--categories", cats)
    assert rc == 2 and "expected the images, validation/<wnid>/<name>.JPEG at" in err
    grey = tmp_path / "validation-segmentation" / WNIDS[0] / "ILSVRC2012_val_00000001.png"
    Image.new("L", (8, 6)).save(grey)
    rc, err = run("imagenet-s", "--db", tmp_path / "x.db", tmp_path, "--categories", cats)
    assert rc == 2 and "expected an RGB mask (id = R + 256*G), found mode L" in err
    save(rgb_mask(np.full((6, 8), 7)), str(grey))
    rc, err = run("imagenet-s", "--db", tmp_path / "x.db", tmp_path, "--categories", cats)
    assert rc == 2 and "expected class ids 0..3 or 1000, found [7]" in err
    cats.write_text("goldfish\n")
    rc, err = run("imagenet-s", "--db", tmp_path / "x.db", tmp_path, "--categories", cats)
    assert rc == 2 and "expected a WordNet id like n01440764 at the start of the line, found 'goldfish'" in err


# --- 3. OpenImages V7 points -------------------------------------------------------------------

def write_openimages(root):
    header = ["ImageId", "X", "Y", "Label", "EstimatedYesNo", "Source", "YesVotes", "NoVotes",
              "UnsureVotes", "TextLabel"]
    pts = [["000a1249af2bc5f0", "0.25", "0.5", "/m/01g317", "yes", "ih", "3", "0", "0", ""],
           ["000a1249af2bc5f0", "0.75", "0.1", "/m/01g317", "no", "ih", "0", "3", "0", ""],
           ["000a1249af2bc5f0", "0.5", "0.5", "/m/0jbk", "unsure", "cgt", "1", "1", "1", "animal"],
           ["0010f4c10f7ab07e", "0.0", "1.0", "/m/0jbk", "yes", "ih", "", "", "", ""],
           ["00absent00000000", "0.5", "0.5", "/m/0jbk", "yes", "ih", "1", "0", "0", ""],
           ["001a8e1e1fd1c4d7", "1.0", "0.0", "/m/01g317", "no", "ih", "0", "2", "0", ""]]
    with open(root / "oidv7-val-annotations-point-labels.csv", "w", newline="") as f:
        csv.writer(f).writerows([header] + pts)
    with open(root / "oidv7-class-descriptions.csv", "w", newline="") as f:
        csv.writer(f).writerows([["LabelName", "DisplayName"], ["/m/01g317", "Person"],
                                 ["/m/0jbk", "Animal"], ["/m/0k4j", "Car"]])
    for i, image in enumerate(["000a1249af2bc5f0", "0010f4c10f7ab07e", "001a8e1e1fd1c4d7"]):
        save(rgb_image(10 + i, 7, i), str(root / "images" / (image + ".jpg")), quality=90)


def test_openimages(tmp_path):
    write_openimages(tmp_path)
    db = tmp_path / "oi.db"
    args = ["openimages", "--db", db, "--points", tmp_path / "oidv7-val-annotations-point-labels.csv",
            "--classes", tmp_path / "oidv7-class-descriptions.csv", "--images", tmp_path / "images"]
    rc, err = run(*args, "--limit", 2)
    assert rc == 0, err
    assert rows(db, "SELECT count(*) FROM points") == [(4,)]
    rc, err = run(*args)                                  # resume
    assert rc == 0 and "1 imported" in err and "1 new points" in err and "1 images absent" in err
    assert rows(db, "SELECT key, name FROM classes ORDER BY key") == [
        ("/m/01g317", "Person"), ("/m/0jbk", "Animal"), ("/m/0k4j", "Car")]
    got = rows(db, "SELECT name, image, width, height, mask FROM images ORDER BY name")
    assert [(r[0], r[2], r[3], r[4]) for r in got] == [
        ("000a1249af2bc5f0", 10, 7, None), ("0010f4c10f7ab07e", 11, 7, None),
        ("001a8e1e1fd1c4d7", 12, 7, None)]
    assert got[0][1] == (tmp_path / "images" / "000a1249af2bc5f0.jpg").read_bytes()
    assert rows(db, "SELECT row, image, class, x, y, label, source, yes_votes, no_votes, "
                    "unsure_votes, text_label FROM points ORDER BY row") == [
        (2, "000a1249af2bc5f0", "/m/01g317", 0.25, 0.5, "yes", "ih", 3, 0, 0, None),
        (3, "000a1249af2bc5f0", "/m/01g317", 0.75, 0.1, "no", "ih", 0, 3, 0, None),
        (4, "000a1249af2bc5f0", "/m/0jbk", 0.5, 0.5, "unsure", "cgt", 1, 1, 1, "animal"),
        (5, "0010f4c10f7ab07e", "/m/0jbk", 0.0, 1.0, "yes", "ih", None, None, None, None),
        (7, "001a8e1e1fd1c4d7", "/m/01g317", 1.0, 0.0, "no", "ih", 0, 2, 0, None)]
    rc, err = run(*args)
    assert rc == 0 and "0 new points" in err
    assert rows(db, "SELECT count(*) FROM points") == [(5,)]


def test_openimages_layout_errors(tmp_path):
    write_openimages(tmp_path)
    pts = tmp_path / "oidv7-val-annotations-point-labels.csv"
    args = ["openimages", "--db", tmp_path / "x.db", "--points", pts,
            "--classes", tmp_path / "oidv7-class-descriptions.csv", "--images", tmp_path / "images"]
    pts.write_text("ImageId,LabelName,X,Y\n")
    rc, err = run(*args)
    assert rc == 2 and "missing Label, EstimatedYesNo, found header ['ImageId', 'LabelName', 'X', 'Y']" in err
    pts.write_text("ImageId,X,Y,Label,EstimatedYesNo\n000a1249af2bc5f0,0.5,1.5,/m/0jbk,yes\n")
    rc, err = run(*args)
    assert rc == 2 and ":2: expected X, Y in [0, 1]" in err
    pts.write_text("ImageId,X,Y,Label,EstimatedYesNo\nnothere,0.5,0.5,/m/0jbk,yes\n")
    rc, err = run(*args)
    assert rc == 2 and "expected <ImageId>.jpg for the images of" in err and "found none of 1" in err


# --- 4. ImageNet validation --------------------------------------------------------------------

SYNSETS = f"{WNIDS[1]} great white shark, white shark\n{WNIDS[0]} goldfish\n{WNIDS[2]} house finch\n"


def test_imagenet_val_torchvision_layout(tmp_path):
    val = tmp_path / "val"
    for k, (wnid, stem) in enumerate([(WNIDS[0], "ILSVRC2012_val_00000002"),
                                      (WNIDS[2], "ILSVRC2012_val_00000001"),
                                      (WNIDS[2], "ILSVRC2012_val_00000003")]):
        save(rgb_image(5 + k, 4, k), str(val / wnid / (stem + ".JPEG")))
    db = tmp_path / "val.db"
    rc, err = run("imagenet-val", "--db", db, "--limit", 2, val)
    assert rc == 0, err
    rc, err = run("imagenet-val", "--db", db, val)
    assert rc == 0 and "1 imported" in err
    # without a synset file the classes are the directories, in sorted order
    assert rows(db, "SELECT id, key, name FROM classes ORDER BY id") == [(0, WNIDS[0], WNIDS[0]),
                                                                     (1, WNIDS[2], WNIDS[2])]
    assert rows(db, "SELECT name, class, width, height FROM images ORDER BY name") == [
        ("ILSVRC2012_val_00000001", 1, 6, 4), ("ILSVRC2012_val_00000002", 0, 5, 4),
        ("ILSVRC2012_val_00000003", 1, 7, 4)]
    (tmp_path / "syn.txt").write_text(SYNSETS)
    db2 = tmp_path / "val2.db"
    assert run("imagenet-val", "--db", db2, val, "--synsets", tmp_path / "syn.txt")[0] == 0
    assert rows(db2, "SELECT name, class FROM images ORDER BY name") == [
        ("ILSVRC2012_val_00000001", 2), ("ILSVRC2012_val_00000002", 0), ("ILSVRC2012_val_00000003", 2)]


def test_imagenet_val_flat_with_solution(tmp_path):
    val = tmp_path / "val"
    for k in range(1, 4):
        save(rgb_image(6, 5, k), str(val / f"ILSVRC2012_val_{k:08d}.JPEG"))
    (tmp_path / "syn.txt").write_text(SYNSETS)
    sol = tmp_path / "LOC_val_solution.csv"
    sol.write_text("ImageId,PredictionString\n"
                   f"ILSVRC2012_val_00000003,{WNIDS[1]} 10 20 30 40 {WNIDS[1]} 1 2 3 4 \n"
                   f"ILSVRC2012_val_00000001,{WNIDS[0]} 0 0 5 4 \n"
                   f"ILSVRC2012_val_00000002,{WNIDS[2]} 1 1 2 2 \n")
    db = tmp_path / "val.db"
    rc, err = run("imagenet-val", "--db", db, val, "--solution", sol, "--synsets", tmp_path / "syn.txt")
    assert rc == 0, err
    assert rows(db, "SELECT id, key, name FROM classes ORDER BY id") == [
        (0, WNIDS[0], "goldfish"), (1, WNIDS[1], "great white shark"), (2, WNIDS[2], "house finch")]
    got = rows(db, "SELECT name, class, image FROM images ORDER BY name")
    assert [(n, c) for n, c, _ in got] == [("ILSVRC2012_val_00000001", 0),
                                           ("ILSVRC2012_val_00000002", 2),
                                           ("ILSVRC2012_val_00000003", 1)]
    assert got[0][2] == (val / "ILSVRC2012_val_00000001.JPEG").read_bytes()
    rc, err = run("imagenet-val", "--db", db, val, "--solution", sol, "--synsets", tmp_path / "syn.txt")
    assert rc == 0 and "0 imported" in err
    rc, err = run("imagenet-val", "--db", db, val, "--synsets", tmp_path / "syn.txt")
    assert rc == 2 and "found no <wnid>/ sub-directories; for a flat folder of JPEGs pass --solution" in err
    rc, err = run("imagenet-val", "--db", db, val)
    assert rc == 2 and "pass --synsets LOC_synset_mapping.txt" in err


def test_database_of_another_layout(tmp_path):
    """A database whose labels table is the one of sql/import.sql is refused: nothing is imported."""
    db = tmp_path / "demo.db"
    with sqlite3.connect(db) as c:
        c.execute("CREATE TABLE labels(image TEXT NOT NULL, object INTEGER NOT NULL, shape TEXT, "
                  "colour TEXT, x0 INTEGER, y0 INTEGER, x1 INTEGER, y1 INTEGER)")
    c.close()
    val = tmp_path / "val"
    save(rgb_image(4, 4, 0), str(val / WNIDS[0] / "a.JPEG"))
    rc, err = run("imagenet-val", "--db", db, val)
    assert rc == 2
    assert err.endswith(": expected table labels(image, object, class, name), found labels(image, "
                        "object, shape, colour, x0, y0, x1, y1); import into a new database\n")
    assert rows(db, "SELECT count(*) FROM images") == [(0,)]


def test_command_line(tmp_path):
    """The script runs as a program with /usr/bin/python3 and reports a wrong layout with status 2;
    without h5py, imagenet-seg says which package to install (the other importers do not need it)."""
    p = subprocess.run([sys.executable, SCRIPT, "imagenet-val", "--db", str(tmp_path / "x.db"),
                        str(tmp_path / "none")], capture_output=True, text=True)
    assert p.returncode == 2
    assert p.stderr.startswith("import_dataset.py imagenet-val: expected the ImageNet validation folder at")
    (tmp_path / "h5py.py").write_text("raise ImportError('No module named h5py')\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    p = subprocess.run([sys.executable, SCRIPT, "imagenet-seg", "--db", str(tmp_path / "x.db"),
                        str(tmp_path / "h5py.py")], capture_output=True, text=True, env=env)
    assert p.returncode == 2
    assert p.stderr == ("import_dataset.py imagenet-seg: reading MAT v7.3 files needs h5py (No module "
                        "named h5py): apt-get install python3-h5py (or scripts/deps.sh import)\n")
