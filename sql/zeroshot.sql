-- Zero-shot classification of the single-object images with clip_similarity(): every image
-- against every "a photo of a <colour> <shape>" prompt of the label set; the best prompt wins.
-- Needs legrad0 loaded and the tables of sql/import.sql.
--
--   sqlite3 demo.db '.load ./legrad0' '.read sql/zeroshot.sql'
--
-- The vision tower runs once per image: consecutive calls on the same image bytes reuse its forward.
DROP TABLE IF EXISTS zeroshot;
CREATE TABLE zeroshot AS
WITH prompts AS (SELECT DISTINCT shape, colour, 'a photo of a ' || colour || ' ' || shape AS prompt
                 FROM labels),
     single AS (SELECT image, shape, colour FROM labels
                WHERE image IN (SELECT image FROM labels GROUP BY image HAVING count(*) = 1)),
     sims AS (SELECT s.image, p.shape, p.colour, clip_similarity(i.image, p.prompt) AS sim
              FROM single AS s JOIN images AS i ON i.name = s.image CROSS JOIN prompts AS p),
     best AS (SELECT image, shape, colour, max(sim) AS sim FROM sims GROUP BY image)
SELECT s.image, s.shape, s.colour, b.shape AS pred_shape, b.colour AS pred_colour, b.sim
FROM single AS s JOIN best AS b USING (image);

.print
.print Zero-shot classification of the single-object images (clip_similarity)
.mode table
SELECT count(*) AS images,
       (SELECT count(DISTINCT shape || ' ' || colour) FROM labels) AS prompts,
       printf('%.1f %%', 100.0 * avg(pred_shape = shape AND pred_colour = colour)) AS accuracy,
       printf('%.1f %%', 100.0 * avg(pred_colour = colour)) AS colour,
       printf('%.1f %%', 100.0 * avg(pred_shape = shape)) AS shape
FROM zeroshot;
