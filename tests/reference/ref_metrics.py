#!/usr/bin/python3
"""Reference values for the evaluation protocols (engine/eval, ext/eval_funcs.c; docs/evaluation.md).

    /usr/bin/python3 tests/reference/ref_metrics.py     # writes tests/fixtures/eval/*.json

Segmentation (spec §4.1): each case is a min-max map Res (float32, min 0 and max 1 exactly, so the
SQL final map of legrad_map_from_grid(Res) is Res itself) and a mask; the metrics follow Chefer's
imagenet_seg_eval.py + utils/metrices.py line by line (torch replaced by numpy):
    Res_1 = Res > thr,  Res_0 = Res <= thr     (thr = Res.mean() or a number)
    Res_1_AP = Res,     Res_0_AP = 1 - Res     (float32), then x[x != x] = 0 on all four
    output = [Res_0, Res_1], output_AP = [Res_0_AP, Res_1_AP]
    batch_pix_accuracy: predict = argmax(output) + 1, target = label + 1, labelled = target > 0
    batch_intersection_union: np.histogram(bins=2, range=(1, 2)) of inter, predict and target
    get_ap_scores: one-hot target over the 2 channels, average_precision_score, np.nan_to_num
    pixAcc = Σcorrect / (spacing(1) + Σlabelled);  mIoU = mean(Σinter / (spacing(1) + Σunion))
A constant map is Res = 0/0 = NaN in the reference (written here as a grid of equal values).
AP: sklearn.metrics.average_precision_score when python3-sklearn is installed (Debian), always
cross-checked against ap_numpy(), a transcription of sklearn's _binary_clf_curve /
precision_recall_curve / average_precision (tied scores = one threshold, AP = Σ (R_n − R_{n−1}) P_n).

Points (spec §4.2): counts by the rule of engine/eval/point_eval.h, written independently here.
"""
import json
import os

import numpy as np

try:
    from sklearn.metrics import average_precision_score
except ImportError:  # optional: the numpy transcription below is used alone
    average_precision_score = None

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "eval")


def ap_numpy(y_true, y_score):
    """sklearn's binary average precision (1.2), transcribed: tied scores form one threshold."""
    y_true = np.asarray(y_true, np.float64)
    y_score = np.asarray(y_score)
    order = np.argsort(y_score, kind="mergesort")[::-1]
    y_score, y_true = y_score[order], y_true[order]
    distinct = np.where(np.diff(y_score))[0]
    idx = np.r_[distinct, y_true.size - 1]
    tps = np.cumsum(y_true)[idx]
    fps = 1 + idx - tps
    if tps[-1] == 0:
        return float("nan")
    precision = tps / (tps + fps)
    recall = tps / tps[-1]
    # precision_recall_curve reverses and appends (P=1, R=0); AP = -Σ diff(R) · P[:-1]
    precision = np.r_[precision[::-1], 1]
    recall = np.r_[recall[::-1], 0]
    return float(-np.sum(np.diff(recall) * precision[:-1]))


def average_precision(t, p):
    ours = ap_numpy(t, p)
    if average_precision_score is not None:
        ref = float(average_precision_score(t, p))
        assert (np.isnan(ours) and np.isnan(ref)) or abs(ours - ref) < 1e-12, (ours, ref)
    return ours


def chefer_image(res, label, threshold):
    """One image through Chefer's code.  res: float32 [H, W] min-max map (NaN = constant map);
    label: int [H, W] 0/1, or -1 = not labelled (ignore_index); threshold: None = mean."""
    res = res.astype(np.float32).copy()
    with np.errstate(invalid="ignore"):
        # torch: Res.mean() is a float32 tensor and Res.gt(0.5) casts 0.5 to float32
        ret = np.float32(res.astype(np.float64).mean() if threshold is None else threshold)
        res_1 = (res > ret).astype(np.float32)
        res_0 = (res <= ret).astype(np.float32)
    res_1_ap = res                     # aliases Res, like the reference's tensor
    res_0_ap = np.float32(1) - res
    for a in (res_1, res_0, res_1_ap, res_0_ap):
        a[a != a] = 0
    output = np.stack([res_0, res_1])           # [2, H, W]
    output_ap = np.stack([res_0_ap, res_1_ap])
    # batch_pix_accuracy
    predict = np.argmax(output, 0) + 1
    target = label.astype(np.int64) + 1
    labeled = int((target > 0).sum())
    correct = int(((predict == target) * (target > 0)).sum())
    # batch_intersection_union, nclass = 2
    predict = predict * (target > 0)
    inter = predict * (predict == target)
    a_inter, _ = np.histogram(inter, bins=2, range=(1, 2))
    a_pred, _ = np.histogram(predict, bins=2, range=(1, 2))
    a_lab, _ = np.histogram(target, bins=2, range=(1, 2))
    a_union = a_pred + a_lab - a_inter
    # get_ap_scores: one-hot of label.clamp(min=0), then the pixels whose label is -1 dropped
    onehot = np.stack([label <= 0, label == 1]).astype(np.int64)
    keep = np.stack([label, label]).reshape(-1) != -1
    t, p = onehot.reshape(-1)[keep], output_ap.reshape(-1)[keep]
    ap = float(np.nan_to_num(average_precision(t, p))) if t.size else 0.0   # sklearn refuses empty
    return {"pixel_correct": correct, "pixel_labeled": labeled,
            "inter_bg": int(a_inter[0]), "union_bg": int(a_union[0]),
            "inter_fg": int(a_inter[1]), "union_fg": int(a_union[1]), "ap": ap}


def chefer_set(images):
    eps = np.spacing(1)
    tc = sum(i["pixel_correct"] for i in images)
    tl = sum(i["pixel_labeled"] for i in images)
    ti = np.array([sum(i["inter_bg"] for i in images), sum(i["inter_fg"] for i in images)], np.int64)
    tu = np.array([sum(i["union_bg"] for i in images), sum(i["union_fg"] for i in images)], np.int64)
    iou = 1.0 * ti / (eps + tu)
    return {"images": len(images), "pixel_accuracy": float(np.float64(1.0) * tc / (eps + tl)),
            "iou_background": float(iou[0]), "iou_foreground": float(iou[1]), "miou": float(iou.mean()),
            "map": float(np.mean([i["ap"] for i in images]))}


def unit_map(rng, h, w, levels=None):
    """A float32 map with min 0 and max 1 exactly (levels: quantised to k/levels, with ties)."""
    g = rng.random((h, w)).astype(np.float32)
    if levels:
        g = (np.floor(g * (levels + 1)).clip(0, levels) / levels).astype(np.float32)
    flat = g.reshape(-1)
    flat[rng.integers(flat.size)] = 0
    flat[rng.integers(flat.size)] = 1
    return g


def blob(rng, h, w, value=1):
    m = np.zeros((h, w), np.int64)
    y0, x0 = rng.integers(0, h // 2), rng.integers(0, w // 2)
    m[y0:y0 + rng.integers(2, h // 2 + 2), x0:x0 + rng.integers(2, w // 2 + 2)] = value
    return m


def seg_cases():
    rng = np.random.default_rng(20261207)
    cases = []

    def add(name, res, mask, label=None, threshold=None, constant=False, ignore=None):
        obj = ((mask != 0) if label is None else (mask == label)).astype(np.int64)
        if ignore is not None:
            obj[mask == ignore] = -1
        r = np.full(mask.shape, np.nan, np.float32) if constant else res
        exp = chefer_image(r, obj, threshold)
        cases.append({"name": name, "h": int(mask.shape[0]), "w": int(mask.shape[1]),
                      "grid": (res if not constant else np.full(mask.shape, 0.25, np.float32)).tolist(),
                      "constant": constant, "mask": mask.tolist(), "label": label,
                      "threshold": threshold, "ignore": ignore, "expected": exp})

    # hand-checked (tests/c/test_seg_eval.c has the arithmetic)
    hand = np.array([[0, .25, .5, .75], [.25, .5, .75, 1], [0, 0, 1, 1], [0, 0, .25, .25]], np.float32)
    hmask = np.array([[0, 0, 1, 1], [0, 0, 1, 1], [0, 0, 1, 1], [0, 0, 0, 0]])
    add("hand_mean", hand, hmask)
    add("hand_05", hand, hmask, threshold=0.5)
    for i in range(4):
        h, w = [(16, 16), (12, 20), (24, 9), (7, 7)][i]
        add("random_%d_mean" % i, unit_map(rng, h, w), blob(rng, h, w))
        add("random_%d_05" % i, unit_map(rng, h, w), blob(rng, h, w), threshold=0.5)
    for i, levels in enumerate((2, 4, 8)):
        add("ties_%d_mean" % i, unit_map(rng, 16, 12, levels), blob(rng, 16, 12))
        add("ties_%d_05" % i, unit_map(rng, 16, 12, levels), blob(rng, 16, 12), threshold=0.5)
    add("ties_random_mask", unit_map(rng, 10, 10, 3), (rng.random((10, 10)) < 0.4).astype(np.int64))
    add("empty_mask", unit_map(rng, 12, 12), np.zeros((12, 12), np.int64))
    add("empty_mask_05", unit_map(rng, 12, 12, 4), np.zeros((12, 12), np.int64), threshold=0.5)
    add("full_mask", unit_map(rng, 12, 12), np.ones((12, 12), np.int64))
    add("full_mask_ties", unit_map(rng, 12, 12, 2), np.full((12, 12), 5, np.int64), threshold=0.25)
    add("constant_map", None, blob(rng, 8, 8), constant=True)
    add("constant_map_05", None, blob(rng, 8, 8), threshold=0.5, constant=True)
    ids = blob(rng, 14, 14, 3) + blob(rng, 14, 14, 7) * (blob(rng, 14, 14, 1) == 0)
    add("label_7", unit_map(rng, 14, 14), np.where(ids == 0, 0, np.where(ids >= 7, 7, 3)), label=7)
    ign = np.where(rng.random((12, 10)) < 0.2, 1000, blob(rng, 12, 10, 4))
    add("ignore_1000", unit_map(rng, 12, 10), ign, ignore=1000)
    add("ignore_1000_label", unit_map(rng, 12, 10, 4), ign, label=4, threshold=0.5, ignore=1000)
    add("ignore_all", unit_map(rng, 4, 4), np.full((4, 4), 1000, np.int64), ignore=1000)
    add("threshold_0", unit_map(rng, 9, 11, 4), blob(rng, 9, 11), threshold=0.0)
    add("threshold_1", unit_map(rng, 9, 11), blob(rng, 9, 11), threshold=1.0)
    return cases


def point_counts(final, frame, points, threshold):
    """The rule of engine/eval/point_eval.h: final [H, W] min-max map, frame dict or None."""
    h, w = final.shape
    thr = np.float32(final.astype(np.float64).mean() if threshold is None else threshold)
    c = dict(tp=0, fp=0, fn=0, tn=0, unsure=0, outside=0)
    for p in points:
        if p["yesno"] == "unsure":
            c["unsure"] += 1
            continue
        if frame:
            rw, rh = frame["resize"]
            cx, cy = frame["crop"]
            col = min(int(np.floor(p["x"] * rw)), rw - 1) - cx
            row = min(int(np.floor(p["y"] * rh)), rh - 1) - cy
            if not (0 <= col < frame["size"] and 0 <= row < frame["size"]):
                c["outside"] += 1
                continue
        else:
            col = min(int(np.floor(p["x"] * w)), w - 1)
            row = min(int(np.floor(p["y"] * h)), h - 1)
        fg = final[row, col] > thr   # float32 comparison
        key = ("tp" if fg else "fn") if p["yesno"] == "yes" else ("fp" if fg else "tn")
        c[key] += 1
    c["ignored"] = c["unsure"] + c["outside"]
    return c


def frame_of(src, size, mode):
    """torchvision's Resize(size) + CenterCrop(size) geometry (engine/preprocess.c lg_frame_compute)."""
    w, h = src
    if mode == "squash":
        return {"source": [w, h], "resize": [size, size], "crop": [0, 0], "size": size, "mode": mode}
    short, long_ = min(w, h), max(w, h)
    nl = int(size * long_ / short)
    rw, rh = (size, nl) if w <= h else (nl, size)
    return {"source": [w, h], "resize": [rw, rh], "crop": [round((rw - size) / 2), round((rh - size) / 2)],
            "size": size, "mode": mode}


def point_cases():
    """Maps are min-max grids with patch 1 (the final map is the grid itself)."""
    rng = np.random.default_rng(7)
    cases = []
    hand = np.array([[0, .25, .5, .75], [.25, .5, .75, 1], [0, 0, 1, 1], [0, 0, .25, .25]], np.float32)
    hand_pts = [{"x": 0.9, "y": 0.1, "yesno": "yes"},     # cell (3, 0) = 0.75 > 0.5: tp
                {"x": 0.1, "y": 0.9, "yesno": "yes"},     # cell (0, 3) = 0: fn
                {"x": 0.6, "y": 0.3, "yesno": "no"},      # cell (2, 1) = 0.75: fp
                {"x": 0.5, "y": 0.0, "yesno": "no"},      # cell (2, 0) = 0.5, not > 0.5: tn
                {"x": 1.0, "y": 1.0, "yesno": "yes"},     # x = y = 1: last cell (3, 3) = 0.25: fn
                {"x": 0.3, "y": 0.6, "yesno": "unsure"}]  # unsure: ignored
    cases.append({"name": "hand", "grid": hand.tolist(), "frame": None, "threshold": 0.5,
                  "points": hand_pts, "expected": point_counts(hand, None, hand_pts, 0.5)})
    # hand, crop: a 12 x 8 image -> resize 6 x 4 -> crop 4 at (1, 0); x < 1/6 or x >= 5/6 is cut off
    crop = frame_of((12, 8), 4, "crop")
    crop_pts = [{"x": 0.1, "y": 0.5, "yesno": "yes"},     # column 0 of the resized image: outside
                {"x": 0.95, "y": 0.5, "yesno": "no"},     # column 5: outside
                {"x": 0.2, "y": 0.2, "yesno": "yes"},     # column 1 - 1 = 0, row 0: 0 -> fn
                {"x": 0.6, "y": 0.3, "yesno": "yes"}]     # column 3 - 1 = 2, row 1: 0.75 -> tp
    cases.append({"name": "hand_crop", "grid": hand.tolist(), "frame": crop, "threshold": 0.5,
                  "points": crop_pts, "expected": point_counts(hand, crop, crop_pts, 0.5)})
    for i, (src, mode) in enumerate([((64, 48), "crop"), ((48, 64), "crop"), ((50, 30), "squash"),
                                     ((101, 37), "crop"), (None, None)]):
        grid = unit_map(rng, 8, 8, 4 if i % 2 else None)
        fr = frame_of(src, 8, mode) if src else None
        pts = [{"x": float(rng.integers(0, 1001)) / 1000, "y": float(rng.integers(0, 1001)) / 1000,
                "yesno": ["yes", "no", "unsure"][int(rng.integers(0, 3))]} for _ in range(60)]
        for thr in (0.5, None, 0.25):
            cases.append({"name": "random_%d_%s" % (i, thr), "grid": grid.tolist(), "frame": fr,
                          "threshold": thr, "points": pts,
                          "expected": point_counts(grid, fr, pts, thr)})
    return cases


def main():
    os.makedirs(OUT, exist_ok=True)
    seg = seg_cases()
    summary = chefer_set([c["expected"] for c in seg])
    with open(os.path.join(OUT, "seg_cases.json"), "w") as f:
        json.dump({"cases": seg, "summary": summary}, f, indent=None, separators=(",", ":"))
        f.write("\n")
    with open(os.path.join(OUT, "point_cases.json"), "w") as f:
        json.dump({"cases": point_cases()}, f, separators=(",", ":"))
        f.write("\n")
    print("seg: %d cases, set %s" % (len(seg), summary))
    print("sklearn %s" % ("cross-checked" if average_precision_score else "not installed: numpy AP only"))


if __name__ == "__main__":
    main()
