-- The segmentation leaderboard line of the stored LeGrad maps: Chefer et al.'s protocol, which
-- LeGrad's segmentation table follows (pixel accuracy, mIoU, mAP; docs/evaluation.md).  Needs
-- legrad0 loaded and the tables of sql/import.sql and sql/explain.sql.
--
--   sqlite3 demo.db '.load ./legrad0' '.read sql/seg_eval.sql'
--
-- Each (image, object) pair is one row of the protocol: the object (its id in the mask) is the
-- foreground, everything else, other objects included, the background.  Intersections and unions
-- are summed over all rows before dividing; mAP is the mean of the per-row APs.
--   thr mean   foreground = map > its mean (Chefer's default)
--   thr 0.5    foreground = map > 0.5 (what a third-party summary says LeGrad used)
--   squash224  map and mask squashed to 224 x 224 (Chefer's geometry) instead of the map's frame
.mode table
WITH pairs AS (SELECT m.map, i.mask, m.object FROM maps AS m JOIN images AS i ON i.name = m.image
               WHERE m.map IS NOT NULL AND i.mask IS NOT NULL),
runs(ord, setting, r) AS (
  SELECT 0, 'thr mean', legrad_seg_eval(map, mask, json_object('label', object)) FROM pairs
  UNION ALL
  SELECT 1, 'thr 0.5', legrad_seg_eval(map, mask, json_object('label', object, 'threshold', 0.5))
  FROM pairs
  UNION ALL
  SELECT 2, 'thr mean, squash224',
         legrad_seg_eval(map, mask, json_object('label', object, 'frame', 'squash224')) FROM pairs)
SELECT setting, r ->> 'images' AS pairs,
       printf('%.2f', 100 * (r ->> 'pixel_accuracy')) AS "Pixel Acc",
       printf('%.2f', 100 * (r ->> 'miou')) AS "mIoU",
       printf('%.2f', 100 * (r ->> 'iou_foreground')) AS "IoU fg",
       printf('%.2f', 100 * (r ->> 'map')) AS "mAP"
FROM runs ORDER BY ord;
