-- requires: samples/model samples/heldout/labels.csv
-- The demo's SQL (sql/import.sql, explain.sql, evaluate.sql) on the shipped held-out set and model:
-- import counts, one batch of 64 explained pairs, scores in range, and LeGrad far above chance.
.cd samples/heldout
.read ../../sql/import.sql
.cd ../..
.read sql/explain.sql
SELECT 'maps', count(*), count(map) FROM maps;
.output /dev/null
.read sql/evaluate.sql
.output stdout
.mode list
SELECT 'scores', count(*) FROM scores;
SELECT 'in range', sum(iou_mean BETWEEN 0 AND 1 AND iou_05 BETWEEN 0 AND 1 AND pointing IN (0, 1)
                       AND mass_in BETWEEN 0 AND 1) FROM scores;
-- Chance for pointing is the object's share of the image (about 0.09 here).
SELECT 'pointing above 0.5', avg(pointing) > 0.5 FROM scores;
SELECT 'mass-in above chance', avg(mass_in) > 0.15 FROM scores;
-- sql/zeroshot.sql: one row per single-object image, the predicted colour always among the labels,
-- and accuracy far above chance (1/42).
.output /dev/null
.read sql/zeroshot.sql
.output stdout
.mode list
SELECT 'zeroshot rows', count(*) = (SELECT count(*) FROM labels WHERE image IN
                                    (SELECT image FROM labels GROUP BY image HAVING count(*) = 1))
FROM zeroshot;
SELECT 'zeroshot above 0.5', avg(pred_shape = shape AND pred_colour = colour) > 0.5 FROM zeroshot;
