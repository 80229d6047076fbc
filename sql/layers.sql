-- Per-layer LeGrad for one image (the paper's layer ablation as a query): every block's own map,
-- its score s_l and how well that single layer localises the named object.
--
--   sqlite3 demo.db '.load ./legrad0' '.read sql/layers.sql'
--
-- The image is the first one with three objects, explained for its first object.
.print
.print Per-layer LeGrad for one image
.mode table
WITH target AS (
  SELECT l.image, l.object, 'a photo of a ' || l.colour || ' ' || l.shape AS prompt, i.image AS img, i.mask
  FROM labels AS l JOIN images AS i ON i.name = l.image
  WHERE l.image = (SELECT image FROM labels GROUP BY image HAVING count(*) = 3 ORDER BY image LIMIT 1)
  ORDER BY l.object LIMIT 1)
SELECT t.image, t.prompt, x.layer, printf('%.4f', x.score) AS score,
       printf('%.3f', legrad_iou(x.map, t.mask, 0.5, t.object)) AS "IoU (thr 0.5)",
       legrad_pointing(x.map, t.mask, t.object) AS pointing,
       printf('%.3f', legrad_mass_in(x.map, t.mask, t.object)) AS "mass-in"
FROM target AS t, legrad_layers(t.img, t.prompt, 'all') AS x
ORDER BY x.layer;
