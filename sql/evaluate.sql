-- Score the stored LeGrad maps against the ground-truth masks, by SQL joins (needs legrad0 loaded
-- and the tables of sql/import.sql and sql/explain.sql).
--
--   sqlite3 demo.db '.load ./legrad0' '.read sql/evaluate.sql'
--
-- Per (image, object) pair (docs/metrics.md):
--   iou_mean  IoU of {map > its mean} with the object (the Chefer protocol)
--   iou_05    IoU of {map > 0.5} with the object (LeGrad's maps are peaky: the mean spills over)
--   pointing  1 when the map's maximum lies on the object
--   mass_in   share of the map's mass inside the object
--   hard      another object in the image has the same colour or the same shape
-- mIoU here is the mean of the per-pair IoUs.
DROP TABLE IF EXISTS scores;
CREATE TABLE scores AS
SELECT m.image, m.object, l.shape, l.colour,
       legrad_iou(m.map, i.mask, NULL, m.object) AS iou_mean,
       legrad_iou(m.map, i.mask, 0.5, m.object) AS iou_05,
       legrad_pointing(m.map, i.mask, m.object) AS pointing,
       legrad_mass_in(m.map, i.mask, m.object) AS mass_in,
       EXISTS (SELECT 1 FROM labels AS o
               WHERE o.image = l.image AND o.object <> l.object
                 AND (o.shape = l.shape OR o.colour = l.colour)) AS hard
FROM maps AS m JOIN labels AS l USING (image, object) JOIN images AS i ON i.name = m.image;

.print
.print LeGrad on the held-out set, per shape and overall
.mode table
WITH rows(ord, grp, pairs, iou_mean, iou_05, pointing, mass_in) AS (
  SELECT 0, shape, count(*), avg(iou_mean), avg(iou_05), avg(pointing), avg(mass_in)
  FROM scores GROUP BY shape
  UNION ALL
  SELECT 1, 'hard pairs', count(*), avg(iou_mean), avg(iou_05), avg(pointing), avg(mass_in)
  FROM scores WHERE hard
  UNION ALL
  SELECT 2, 'all', count(*), avg(iou_mean), avg(iou_05), avg(pointing), avg(mass_in) FROM scores)
SELECT grp AS "objects", pairs,
       printf('%.3f', iou_mean) AS "mIoU (thr mean)", printf('%.3f', iou_05) AS "mIoU (thr 0.5)",
       printf('%.1f %%', 100 * pointing) AS "pointing", printf('%.3f', mass_in) AS "mass-in"
FROM rows ORDER BY ord, grp;
