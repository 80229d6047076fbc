-- OpenImages V7 point-based mIoU (p-mIoU) of stored maps, in plain SQL (needs legrad0 loaded).
-- Protocol and the choices it leaves open: docs/evaluation.md ("Point protocol").
--
--   sqlite3 oi.db '.load ./legrad0' '.read sql/openimages_pmiou.sql'
--
-- Tables it reads:
--   oi_points(image_id TEXT, class TEXT, x REAL, y REAL, yesno TEXT)
--       one row per point of oidv7-val-annotations-point-labels.csv: ImageId, Label (the class
--       MID), X, Y (normalised to [0, 1] in the original image), EstimatedYesNo ('yes', 'no' or
--       'unsure').  Import with e.g.
--         CREATE TABLE oi_csv(ImageId, X, Y, Label, EstimatedYesNo, Source, YesVotes, NoVotes,
--                             UnsureVotes, TextLabel);
--         .import --csv --skip 1 oidv7-val-annotations-point-labels.csv oi_csv
--         CREATE TABLE oi_points AS SELECT ImageId AS image_id, Label AS class, CAST(X AS REAL) AS x,
--                                          CAST(Y AS REAL) AS y, EstimatedYesNo AS yesno FROM oi_csv;
--   oi_maps(image_id TEXT, class TEXT, map BLOB)
--       one map per (image, class) that has points, explained with the class name, e.g.
--         INSERT INTO oi_maps SELECT p.image_id, p.class, legrad(i.image, 'a photo of a ' || c.name || '.')
--         FROM (SELECT DISTINCT image_id, class FROM oi_points) AS p
--         JOIN oi_images AS i USING (image_id) JOIN oi_classes AS c ON c.class = p.class;
--       (oi_images(image_id, image BLOB); oi_classes(class, name) from
--       oidv7-class-descriptions.csv).  A NULL map (a row that failed) scores nothing.
--
-- Tables it writes:
--   oi_point_counts(image_id, class, counts)   legrad_point_counts() per (image, class): JSON
--                                               {tp, fp, fn, tn, unsure, outside, ignored}
--   oi_class_iou(class, tp, fp, fn, ignored, iou)
--       per class, counts summed over its images, iou = tp / (tp + fp + fn); NULL when
--       tp + fp + fn = 0 (no yes point and no false positive: the class cannot be scored)
-- and prints p-mIoU = 100 × the mean of iou over the classes that have one.
-- Points are read at threshold 0.5 on the min-max map; a point the crop cut off is ignored.
CREATE INDEX IF NOT EXISTS oi_points_pair ON oi_points(image_id, class);

DROP TABLE IF EXISTS oi_point_counts;
CREATE TABLE oi_point_counts AS
SELECT m.image_id, m.class,
       legrad_point_counts(m.map,
         (SELECT json_group_array(json_object('x', p.x, 'y', p.y, 'yesno', p.yesno))
          FROM oi_points AS p WHERE p.image_id = m.image_id AND p.class = m.class)) AS counts
FROM oi_maps AS m;

DROP TABLE IF EXISTS oi_class_iou;
CREATE TABLE oi_class_iou AS
SELECT class, tp, fp, fn, ignored,
       CASE WHEN tp + fp + fn > 0 THEN 1.0 * tp / (tp + fp + fn) END AS iou
FROM (SELECT class, sum(counts ->> 'tp') AS tp, sum(counts ->> 'fp') AS fp,
             sum(counts ->> 'fn') AS fn, sum(counts ->> 'ignored') AS ignored
      FROM oi_point_counts WHERE counts IS NOT NULL GROUP BY class);

SELECT count(iou) AS classes, printf('%.2f', 100 * avg(iou)) AS "p-mIoU" FROM oi_class_iou;
