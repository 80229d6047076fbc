#!/usr/bin/python3
"""Import the real evaluation datasets (docs/importers.md) into the project's SQLite tables.

    scripts/import_dataset.py imagenet-seg --db seg.db  gtsegs_ijcv.mat
    scripts/import_dataset.py imagenet-s   --db s919.db ImageNetS919 --categories ImageNetS_categories_im919.txt
                                           [--names LOC_synset_mapping.txt]
    scripts/import_dataset.py openimages   --db oi.db --points oidv7-val-annotations-point-labels.csv
                                           --classes oidv7-class-descriptions.csv --images validation/
    scripts/import_dataset.py imagenet-val --db val.db  ILSVRC/Data/CLS-LOC/val
                                           [--solution LOC_val_solution.csv] [--synsets LOC_synset_mapping.txt]

Common options: --limit N (consider only the first N images of the dataset, to try it), --batch N
(commit every N images, default 100).  Every importer streams: one image (and its mask or points) is
in memory at a time.  Rows are keyed by the image name and inserted with INSERT OR IGNORE, and an image
already in the database is skipped before it is read, so an interrupted run is resumed by running
the same command again (an interruption loses at most the images since the last commit).  Progress goes to stderr; a wrong layout stops with an error naming what was
expected and what was found (exit status 2).

Tables (created if absent; see docs/importers.md):
    images(name TEXT PRIMARY KEY, image BLOB, mask BLOB, width, height, class)
    classes(id INTEGER PRIMARY KEY, key TEXT UNIQUE, name)       key = wnid or OpenImages MID
    labels(image, object, class, name, PRIMARY KEY (image, object))   objects present in a mask
    points(row INTEGER PRIMARY KEY, image, class, x, y, label, source, yes_votes, no_votes,
           unsure_votes, text_label)                             OpenImages point labels
Masks are PNGs of object ids (8-bit for ImageNet-Segmentation, 16-bit for ImageNet-S), the format
legrad_iou / legrad_pointing / legrad_mass_in take (docs/metrics.md).

Libraries: h5py (Debian python3-h5py) reads MAT v7.3 files, which are HDF5; Pillow (python3-pil)
reads and writes images; numpy converts masks; csv and sqlite3 from the standard library.
"""
import argparse
import csv
import io
import os
import re
import sqlite3
import sys
import time

import numpy as np
from PIL import Image

IGNORE_ID = 1000          # LUSSeg ImageNet-S: pixels that are not evaluated
WNID = re.compile(r"^n\d{8}$")
IMAGE_EXTS = (".jpeg", ".jpg", ".png")
# ImageNet-S-919 merges these wnids into another class (LUSSeg datapreparation/
# datapreparation_train.py); a directory named after the first one belongs to the second's class.
IMAGENET_S_MERGED = {"n04356056": "n04355933", "n04493381": "n02808440", "n03642806": "n03832673",
                     "n04008634": "n03773504", "n03887697": "n15075141"}

SCHEMA = """
CREATE TABLE IF NOT EXISTS images(name TEXT PRIMARY KEY, image BLOB NOT NULL, mask BLOB,
                                  width INTEGER NOT NULL, height INTEGER NOT NULL, class INTEGER);
CREATE TABLE IF NOT EXISTS classes(id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, name TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS labels(image TEXT NOT NULL, object INTEGER NOT NULL, class INTEGER,
                                  name TEXT, PRIMARY KEY (image, object));
"""
POINTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS points(row INTEGER PRIMARY KEY, image TEXT NOT NULL, class TEXT NOT NULL,
                                  x REAL NOT NULL, y REAL NOT NULL,
                                  label TEXT NOT NULL CHECK (label IN ('yes', 'no', 'unsure')),
                                  source TEXT, yes_votes INTEGER, no_votes INTEGER,
                                  unsure_votes INTEGER, text_label TEXT);
CREATE INDEX IF NOT EXISTS points_image_class ON points(image, class);
"""


class LayoutError(Exception):
    """The input does not have the expected layout; the message says what was expected and found."""


def check_columns(db, path, schema):
    """Tables that existed before (CREATE TABLE IF NOT EXISTS kept them) must have the columns of
    schema, e.g. not the labels table of sql/import.sql."""
    for table, cols in re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)\((.*?)\);", schema, re.S):
        want = [c.split()[0] for c in re.split(r",\s*(?![^()]*\))", cols) if not c.strip().startswith("PRIMARY")]
        have = [r[1] for r in db.execute(f"PRAGMA table_info({table})")]
        if have != want:
            raise LayoutError(f"{path}: expected table {table}({', '.join(want)}), found "
                              f"{table}({', '.join(have)}); import into a new database")


# ---------------------------------------------------------------------------------------------
# Shared helpers

class Importer:
    """Database, batching, --limit and progress shared by the subcommands."""

    def __init__(self, args, what):
        self.what = what
        self.limit = args.limit
        self.batch = max(1, args.batch)
        self.db = sqlite3.connect(args.db)
        args.importer = self    # closed by main(), also after an error
        self.db.executescript(SCHEMA)
        check_columns(self.db, args.db, SCHEMA)
        self.seen = 0           # dataset images considered (imported now or earlier)
        self.added = 0          # images inserted by this run
        self.pending = 0        # inserts since the last commit
        self.t0 = time.monotonic()
        self.last = self.t0

    def close(self):
        """Close; main() calls it, also after an error or an interruption.  What finish() or the
        last --batch commit did not commit is rolled back, so an image is never left without its
        mask labels or points: a rerun imports it again."""
        if self.db is not None:
            self.db.rollback()
            self.db.close()
            self.db = None

    def full(self):
        """True once --limit images have been considered."""
        return self.limit is not None and self.seen >= self.limit

    def has_image(self, name):
        return self.db.execute("SELECT 1 FROM images WHERE name = ?", (name,)).fetchone() is not None

    def add_image(self, name, data, width, height, mask=None, cls=None):
        self.db.execute("INSERT OR IGNORE INTO images(name, image, mask, width, height, class) "
                        "VALUES (?, ?, ?, ?, ?, ?)", (name, data, mask, width, height, cls))
        self.added += 1

    def step(self, total=None):
        """Count one considered image; commit every --batch; progress every 2 s."""
        self.seen += 1
        self.pending += 1
        if self.pending >= self.batch:
            self.db.commit()
            self.pending = 0
        now = time.monotonic()
        if now - self.last >= 2.0:
            self.last = now
            of = f"/{total}" if total else ""
            print(f"{self.what}: {self.seen}{of} images ({self.added} new), {now - self.t0:.1f} s",
                  file=sys.stderr, flush=True)

    def finish(self, extra=""):
        self.db.commit()
        dt = time.monotonic() - self.t0
        print(f"{self.what}: done, {self.seen} images considered, {self.added} imported in "
              f"{dt:.1f} s{extra}", file=sys.stderr, flush=True)


def png_bytes(array, mode=None):
    """Lossless PNG of a uint8 HxW[x3] or uint16 HxW array."""
    buf = io.BytesIO()
    Image.fromarray(array, mode).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def read_image_file(path):
    """(bytes, width, height) of an image file, stored as is (no re-encoding)."""
    with open(path, "rb") as f:
        data = f.read()
    try:
        with Image.open(io.BytesIO(data)) as im:
            width, height = im.size
    except (OSError, SyntaxError) as e:
        raise LayoutError(f"{path}: not a decodable image ({e})") from None
    return data, width, height


def sorted_entries(path, want_dir):
    """Sorted names of the sub-directories (want_dir) or files of path."""
    with os.scandir(path) as it:
        return sorted(e.name for e in it if e.is_dir() == want_dir)


def need_dir(path, what):
    if not os.path.isdir(path):
        found = "a file" if os.path.exists(path) else "nothing"
        raise LayoutError(f"expected {what} at {path}, found {found}")


def need_file(path, what):
    if not os.path.isfile(path):
        found = "a directory" if os.path.isdir(path) else "nothing"
        raise LayoutError(f"expected {what} at {path}, found {found}")


def read_synsets(path):
    """[(wnid, name)] from LOC_synset_mapping.txt lines 'n01440764 tench, Tinca tinca' (name = first
    comma-separated synonym), or from a bare wnid list (name = wnid)."""
    need_file(path, "a class list (one 'wnid [names]' per line)")
    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            wnid, _, rest = line.partition(" ")
            if not WNID.match(wnid):
                raise LayoutError(f"{path}:{n}: expected a WordNet id like n01440764 at the start "
                                  f"of the line, found {line[:40]!r}")
            out.append((wnid, rest.split(",")[0].strip() or wnid))
    if len({w for w, _ in out}) != len(out):
        raise LayoutError(f"{path}: the class list repeats a wnid")
    return out


# ---------------------------------------------------------------------------------------------
# 1. ImageNet-Segmentation, gtsegs_ijcv.mat (MAT v7.3 = HDF5)

def import_imagenet_seg(args):
    try:
        import h5py  # Debian python3-h5py; imported here so the other importers work without it
    except ImportError as e:
        raise LayoutError(f"reading MAT v7.3 files needs h5py ({e}): apt-get install python3-h5py "
                          "(or scripts/deps.sh import)") from None

    need_file(args.mat, "gtsegs_ijcv.mat (MAT v7.3)")
    if not h5py.is_hdf5(args.mat):
        raise LayoutError(f"{args.mat}: expected a MAT v7.3 file (HDF5), found another format "
                          "(MAT v5 files need to be re-saved with save -v7.3)")
    imp = Importer(args, "imagenet-seg")
    with h5py.File(args.mat, "r") as f:
        refs = {}
        for key in ("img", "gt"):
            obj = f.get("value/" + key)
            if not isinstance(obj, h5py.Dataset) or h5py.check_dtype(ref=obj.dtype) is not h5py.Reference:
                found = "nothing" if obj is None else repr(obj)
                raise LayoutError(f"{args.mat}: expected /value/{key}, a dataset of object "
                                  f"references, found {found}")
            if obj.ndim != 2 or obj.shape[1] < 1:
                raise LayoutError(f"{args.mat}: expected /value/{key} of shape (N, 1), found {obj.shape}")
            refs[key] = obj
        n = refs["img"].shape[0]
        if refs["gt"].shape[0] != n:
            raise LayoutError(f"{args.mat}: /value/img holds {n} images but /value/gt "
                              f"{refs['gt'].shape[0]} masks")
        width = len(str(n - 1))
        for i in range(n):
            if imp.full():
                break
            name = f"{i:0{width}d}"
            if imp.has_image(name):
                imp.step(n)
                continue
            img = np.asarray(f[refs["img"][i, 0]][()])           # (3, W, H) as stored by MATLAB
            inner = f[refs["gt"][i, 0]]                          # (1, 1) references
            gt = np.asarray(f[inner[0, 0]][()])                  # (W, H)
            if img.ndim != 3 or img.shape[0] != 3 or img.dtype != np.uint8:
                raise LayoutError(f"{args.mat}: image {i}: expected uint8 of shape (3, W, H), "
                                  f"found {img.dtype} {img.shape}")
            img = np.ascontiguousarray(img.transpose(2, 1, 0))   # (H, W, 3)
            gt = np.ascontiguousarray(gt.transpose(1, 0))        # (H, W)
            if gt.shape != img.shape[:2]:
                raise LayoutError(f"{args.mat}: mask {i}: expected the image's size "
                                  f"{img.shape[1]}x{img.shape[0]}, found {gt.shape[1]}x{gt.shape[0]}")
            values = np.unique(gt)
            if not np.isin(values, (0, 1)).all():
                raise LayoutError(f"{args.mat}: mask {i}: expected values 0 and 1, found "
                                  f"{values[:8].tolist()}")
            mask = png_bytes(gt.astype(np.uint8), "L")
            imp.add_image(name, png_bytes(img, "RGB"), img.shape[1], img.shape[0], mask)
            if 1 in values:
                imp.db.execute("INSERT OR IGNORE INTO labels(image, object) VALUES (?, 1)", (name,))
            imp.step(n)
    imp.finish()


# ---------------------------------------------------------------------------------------------
# 2. ImageNet-S (LUSSeg): validation/<wnid>/<name>.JPEG, validation-segmentation/<wnid>/<name>.png

def import_imagenet_s(args):
    images_dir = os.path.join(args.root, "validation")
    masks_dir = os.path.join(args.root, "validation-segmentation")
    need_dir(images_dir, "the images, validation/<wnid>/<name>.JPEG")
    need_dir(masks_dir, "the RGB masks, validation-segmentation/<wnid>/<name>.png")
    wnids = sorted(w for w, _ in read_synsets(args.categories))   # class id = 1 + sorted index
    names = dict(read_synsets(args.names)) if args.names else {}
    ids = {w: i + 1 for i, w in enumerate(wnids)}
    if len(wnids) >= IGNORE_ID:
        raise LayoutError(f"{args.categories}: expected at most {IGNORE_ID - 1} classes, found {len(wnids)}")
    imp = Importer(args, "imagenet-s")
    imp.db.executemany("INSERT OR IGNORE INTO classes(id, key, name) VALUES (?, ?, ?)",
                       [(ids[w], w, names.get(w, w)) for w in wnids])
    for src, dst in IMAGENET_S_MERGED.items():
        if src not in ids and dst in ids:
            ids[src] = ids[dst]
    dirs = sorted_entries(masks_dir, want_dir=True)
    unknown = [d for d in dirs if d not in ids]
    if not dirs or unknown:
        raise LayoutError(f"{masks_dir}: expected one directory per wnid of {args.categories}, "
                          f"found {unknown[:3] if unknown else 'none'}")
    missing = 0
    for wnid in dirs:
        if imp.full():
            break
        for fname in sorted_entries(os.path.join(masks_dir, wnid), want_dir=False):
            stem, ext = os.path.splitext(fname)
            if ext.lower() != ".png":
                continue
            if imp.full():
                break
            name = f"{wnid}/{stem}"
            if imp.has_image(name):
                imp.step()
                continue
            image_path = next((p for p in (os.path.join(images_dir, wnid, stem + e)
                                          for e in (".JPEG", ".jpg", ".jpeg", ".png"))
                               if os.path.isfile(p)), None)
            if image_path is None:
                missing += 1
                continue
            data, w, h = read_image_file(image_path)
            mask_path = os.path.join(masks_dir, wnid, fname)
            with Image.open(mask_path) as im:
                if im.mode not in ("RGB", "RGBA"):
                    raise LayoutError(f"{mask_path}: expected an RGB mask (id = R + 256*G), found "
                                      f"mode {im.mode}")
                rgb = np.asarray(im.convert("RGB"), dtype=np.uint16)
            cls = rgb[:, :, 0] + 256 * rgb[:, :, 1]              # uint16 (H, W) class ids
            if cls.shape != (h, w):
                raise LayoutError(f"{mask_path}: expected the image's size {w}x{h}, found "
                                  f"{cls.shape[1]}x{cls.shape[0]}")
            present = np.unique(cls)
            bad = [int(v) for v in present if v != 0 and v != IGNORE_ID and v > len(wnids)]
            if bad:
                raise LayoutError(f"{mask_path}: expected class ids 0..{len(wnids)} or {IGNORE_ID}, "
                                  f"found {bad[:5]}")
            imp.add_image(name, data, w, h, png_bytes(cls, "I;16"), ids[wnid])
            imp.db.executemany(
                "INSERT OR IGNORE INTO labels(image, object, class, name) "
                "SELECT ?1, ?2, ?2, name FROM classes WHERE id = ?2",
                [(name, int(v)) for v in present if v != 0 and v != IGNORE_ID])
            imp.step()
    if imp.seen == 0 and missing:
        raise LayoutError(f"{images_dir}: expected <wnid>/<name>.JPEG for each mask, found none "
                          f"({missing} masks without an image)")
    imp.finish(f", {missing} masks without an image skipped" if missing else "")


# ---------------------------------------------------------------------------------------------
# 3. OpenImages V7 point labels

# Columns of oidv7-*-annotations-point-labels.csv (spec §4.2): ImageId, X, Y, Label, EstimatedYesNo,
# Source, YesVotes, NoVotes, UnsureVotes, TextLabel; read by name, the first five required.
POINT_REQUIRED = ("ImageId", "X", "Y", "Label", "EstimatedYesNo")


def csv_reader(path, required, what):
    """(file, DictReader) after checking the header holds the required columns."""
    need_file(path, what)
    f = open(path, newline="", encoding="utf-8")
    reader = csv.DictReader(f)
    header = reader.fieldnames or []
    absent = [c for c in required if c not in header]
    if absent:
        f.close()
        raise LayoutError(f"{path}: expected {what} with the columns {', '.join(required)}; "
                          f"missing {', '.join(absent)}, found header {header}")
    return f, reader


def import_openimages(args):
    need_dir(args.images, "the image folder, <ImageId>.jpg")
    imp = Importer(args, "openimages")
    imp.db.executescript(POINTS_SCHEMA)
    check_columns(imp.db, args.db, POINTS_SCHEMA)
    f, reader = csv_reader(args.classes, ("LabelName", "DisplayName"),
                           "oidv7-class-descriptions.csv")
    with f:
        for row in reader:
            imp.db.execute("INSERT OR IGNORE INTO classes(key, name) VALUES (?, ?)",
                           (row["LabelName"], row["DisplayName"]))
    imp.db.commit()
    f, reader = csv_reader(args.points, POINT_REQUIRED, "oidv7-*-annotations-point-labels.csv")
    admitted, missing = set(), set()     # image ids (strings only; the images are not kept)
    points = 0
    with f:
        for row in reader:
            line = reader.line_num
            image = row["ImageId"]
            if image in missing:
                continue
            if image not in admitted:
                if imp.full():
                    continue
                if not imp.has_image(image):
                    path = os.path.join(args.images, image + ".jpg")
                    if not os.path.isfile(path):
                        missing.add(image)
                        continue
                    data, w, h = read_image_file(path)
                    imp.add_image(image, data, w, h)
                admitted.add(image)
                imp.step()
            try:
                x, y = float(row["X"]), float(row["Y"])
            except ValueError:
                raise LayoutError(f"{args.points}:{line}: expected numbers in X and Y, found "
                                  f"{row['X']!r}, {row['Y']!r}") from None
            label = row["EstimatedYesNo"].strip().lower()
            if label not in ("yes", "no", "unsure") or not (0 <= x <= 1 and 0 <= y <= 1):
                raise LayoutError(f"{args.points}:{line}: expected X, Y in [0, 1] and EstimatedYesNo "
                                  f"yes/no/unsure, found {x}, {y}, {row['EstimatedYesNo']!r}")

            def num(col):
                v = row.get(col)
                return int(v) if v not in (None, "") else None
            points += imp.db.execute(
                "INSERT OR IGNORE INTO points(row, image, class, x, y, label, source, yes_votes, "
                "no_votes, unsure_votes, text_label) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (line, image, row["Label"], x, y, label, row.get("Source"), num("YesVotes"),
                 num("NoVotes"), num("UnsureVotes"), row.get("TextLabel") or None)).rowcount
    if not admitted and missing:
        raise LayoutError(f"{args.images}: expected <ImageId>.jpg for the images of {args.points}, "
                          f"found none of {len(missing)}")
    imp.finish(f", {points} new points" + (f", {len(missing)} images absent (their points skipped)"
                                       if missing else ""))


# ---------------------------------------------------------------------------------------------
# 4. ImageNet validation (perturbation test)

def import_imagenet_val(args):
    need_dir(args.root, "the ImageNet validation folder")
    subdirs = [d for d in sorted_entries(args.root, want_dir=True) if WNID.match(d)]
    if args.synsets:
        synsets = read_synsets(args.synsets)
    elif subdirs:
        synsets = [(d, d) for d in subdirs]
    else:
        raise LayoutError(f"{args.root}: without <wnid>/ sub-directories the class list is needed: "
                          "pass --synsets LOC_synset_mapping.txt")
    wnids = sorted(w for w, _ in synsets)                # class id = index in sorted wnid order
    ids = {w: i for i, w in enumerate(wnids)}            # (torchvision ImageFolder indices)
    imp = Importer(args, "imagenet-val")
    imp.db.executemany("INSERT OR IGNORE INTO classes(id, key, name) VALUES (?, ?, ?)",
                       [(ids[w], w, n) for w, n in synsets])

    if subdirs:                                          # torchvision: val/<wnid>/<name>.JPEG
        def items():
            for wnid in subdirs:
                if wnid not in ids:
                    raise LayoutError(f"{args.root}/{wnid}: not a wnid of {args.synsets}")
                for fname in sorted_entries(os.path.join(args.root, wnid), want_dir=False):
                    if fname.lower().endswith(IMAGE_EXTS):
                        yield os.path.splitext(fname)[0], os.path.join(args.root, wnid, fname), wnid
    else:                                                # flat folder + LOC_val_solution.csv
        if not args.solution:
            raise LayoutError(f"{args.root}: found no <wnid>/ sub-directories; for a flat folder of "
                              "JPEGs pass --solution LOC_val_solution.csv")
        f, reader = csv_reader(args.solution, ("ImageId", "PredictionString"), "LOC_val_solution.csv")
        with f:
            truth = {}
            for row in reader:
                wnid = row["PredictionString"].split(" ", 1)[0]
                if wnid not in ids:
                    raise LayoutError(f"{args.solution}:{reader.line_num}: expected a wnid of the "
                                      f"class list first in PredictionString, found {wnid!r}")
                truth[row["ImageId"]] = wnid

        def items():
            for fname in sorted_entries(args.root, want_dir=False):
                stem = os.path.splitext(fname)[0]
                if fname.lower().endswith(IMAGE_EXTS) and stem in truth:
                    yield stem, os.path.join(args.root, fname), truth[stem]

    for name, path, wnid in items():
        if imp.full():
            break
        if not imp.has_image(name):
            data, w, h = read_image_file(path)
            imp.add_image(name, data, w, h, cls=ids[wnid])
        imp.step()
    if imp.seen == 0:
        raise LayoutError(f"{args.root}: expected ImageNet validation images (*.JPEG), found none"
                          + ("" if subdirs else f" named in {args.solution}"))
    imp.finish()


# ---------------------------------------------------------------------------------------------

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp):
        sp.add_argument("--db", required=True, help="SQLite database to create or extend")
        sp.add_argument("--limit", type=int, help="consider only the first N images")
        sp.add_argument("--batch", type=int, default=100, help="commit every N images (100)")

    sp = sub.add_parser("imagenet-seg", help="ImageNet-Segmentation gtsegs_ijcv.mat (MAT v7.3)")
    common(sp)
    sp.add_argument("mat", help="gtsegs_ijcv.mat")
    sp.set_defaults(run=import_imagenet_seg)

    sp = sub.add_parser("imagenet-s", help="LUSSeg ImageNet-S validation split")
    common(sp)
    sp.add_argument("root", help="ImageNetS50/300/919 (holds validation/ and validation-segmentation/)")
    sp.add_argument("--categories", required=True, help="ImageNetS_categories_im{50,300,919}.txt")
    sp.add_argument("--names", help="LOC_synset_mapping.txt for readable class names")
    sp.set_defaults(run=import_imagenet_s)

    sp = sub.add_parser("openimages", help="OpenImages V7 point labels")
    common(sp)
    sp.add_argument("--points", required=True, help="oidv7-val-annotations-point-labels.csv")
    sp.add_argument("--classes", required=True, help="oidv7-class-descriptions.csv")
    sp.add_argument("--images", required=True, help="folder of <ImageId>.jpg")
    sp.set_defaults(run=import_openimages)

    sp = sub.add_parser("imagenet-val", help="ImageNet validation images and their classes")
    common(sp)
    sp.add_argument("root", help="val/<wnid>/*.JPEG (torchvision) or a flat folder of JPEGs")
    sp.add_argument("--solution", help="LOC_val_solution.csv (flat folder)")
    sp.add_argument("--synsets", help="LOC_synset_mapping.txt (class names; needed for a flat folder)")
    sp.set_defaults(run=import_imagenet_val)

    args = p.parse_args(argv)
    if args.limit is not None and args.limit < 0:
        p.error("--limit must be >= 0")
    try:
        args.run(args)
    except LayoutError as e:
        print(f"import_dataset.py {args.command}: {e}", file=sys.stderr)
        return 2
    finally:
        if getattr(args, "importer", None) is not None:
            args.importer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
