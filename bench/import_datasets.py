#!/usr/bin/python3
"""Time scripts/import_dataset.py on synthetic data laid out like each real dataset.

    nice /usr/bin/python3 bench/import_datasets.py [N]      (N images per dataset, default 200)

Images are 500x375 (the typical ImageNet size; OpenImages: 1024x768), smooth gradients plus mild
noise so that JPEG and PNG sizes are in the range of photographs; masks hold one object and an
ignore border.  Prints the seconds per 1000 images of each importer and the database size.  The
synthetic images are not real photographs: real JPEGs of the same size read and store at the same
speed (the importers store JPEG bytes as they are), while the ImageNet-Segmentation importer
re-encodes pixels as PNG, whose time depends on the content.
"""
import csv
import os
import sys
import tempfile
import time

import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import import_dataset  # noqa: E402


def photo(w, h, seed):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([(x * 255 // w), (y * 255 // h), ((x + y) * 255 // (w + h))], -1)
    return np.clip(base + rng.normal(0, 12, (h, w, 3)), 0, 255).astype(np.uint8)


def one_object(w, h, value):
    m = np.zeros((h, w), np.int64)
    m[h // 4: 3 * h // 4, w // 4: 3 * w // 4] = value
    return m


def timed(label, n, db, argv):
    t0 = time.monotonic()
    rc = import_dataset.main(argv)
    dt = time.monotonic() - t0
    assert rc == 0
    print(f"{label:14s} {n} images in {dt:6.2f} s = {1000 * dt / n:6.1f} s per 1000 images, "
          f"database {os.path.getsize(db) / 1e6 / n * 1000:7.1f} MB per 1000 images", flush=True)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    import h5py
    with tempfile.TemporaryDirectory() as tmp:
        # ImageNet-Segmentation: MAT v7.3
        mat = os.path.join(tmp, "gtsegs_ijcv.mat")
        with h5py.File(mat, "w", userblock_size=512) as f:
            img = f.create_dataset("value/img", (n, 1), dtype=h5py.ref_dtype)
            gt = f.create_dataset("value/gt", (n, 1), dtype=h5py.ref_dtype)
            for i in range(n):
                d = f.create_dataset(f"#refs#/i{i}", data=photo(500, 375, i).transpose(2, 1, 0))
                img[i, 0] = d.ref
                m = f.create_dataset(f"#refs#/m{i}", data=one_object(500, 375, 1).T.astype(np.uint8))
                r = f.create_dataset(f"#refs#/g{i}", (1, 1), dtype=h5py.ref_dtype)
                r[0, 0] = m.ref
                gt[i, 0] = r.ref
        db = os.path.join(tmp, "seg.db")
        timed("imagenet-seg", n, db, ["imagenet-seg", "--db", db, mat])

        # ImageNet-S: JPEG images, RGB masks
        root = os.path.join(tmp, "ImageNetS")
        wnids = [f"n{i:08d}" for i in range(1, 11)]
        with open(os.path.join(tmp, "cats.txt"), "w") as f:
            f.write("\n".join(wnids) + "\n")
        for i in range(n):
            wnid = wnids[i % 10]
            for sub in ("validation", "validation-segmentation"):
                os.makedirs(os.path.join(root, sub, wnid), exist_ok=True)
            Image.fromarray(photo(500, 375, i)).save(
                os.path.join(root, "validation", wnid, f"ILSVRC2012_val_{i:08d}.JPEG"), quality=90)
            ids = one_object(500, 375, 1 + i % 10)
            ids[:4, :] = 1000
            rgb = np.stack([ids % 256, ids // 256, np.zeros_like(ids)], -1).astype(np.uint8)
            Image.fromarray(rgb).save(
                os.path.join(root, "validation-segmentation", wnid, f"ILSVRC2012_val_{i:08d}.png"))
        db = os.path.join(tmp, "s.db")
        timed("imagenet-s", n, db, ["imagenet-s", "--db", db, root,
                                    "--categories", os.path.join(tmp, "cats.txt")])

        # ImageNet val: torchvision layout (same JPEGs)
        db = os.path.join(tmp, "val.db")
        timed("imagenet-val", n, db, ["imagenet-val", "--db", db, os.path.join(root, "validation")])

        # OpenImages V7: 1024x768 JPEGs, 20 points per image
        imgs = os.path.join(tmp, "oi")
        os.makedirs(imgs)
        pts = os.path.join(tmp, "points.csv")
        with open(pts, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["ImageId", "X", "Y", "Label", "EstimatedYesNo", "Source", "YesVotes",
                        "NoVotes", "UnsureVotes", "TextLabel"])
            for i in range(n):
                image = f"{i:016x}"
                Image.fromarray(photo(1024, 768, i)).save(os.path.join(imgs, image + ".jpg"), quality=90)
                for k in range(20):
                    w.writerow([image, f"{k / 20:.4f}", f"{1 - k / 20:.4f}", f"/m/{k % 5:04d}",
                                ("yes", "no", "unsure")[k % 3], "ih", "1", "0", "0", ""])
        with open(os.path.join(tmp, "classes.csv"), "w", newline="") as f:
            csv.writer(f).writerows([["LabelName", "DisplayName"]] +
                                    [[f"/m/{k:04d}", f"class {k}"] for k in range(5)])
        db = os.path.join(tmp, "oi.db")
        timed("openimages", n, db, ["openimages", "--db", db, "--points", pts, "--classes",
                                    os.path.join(tmp, "classes.csv"), "--images", imgs])


if __name__ == "__main__":
    main()
