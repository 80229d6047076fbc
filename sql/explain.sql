-- Explain every labelled (image, object) pair with LeGrad and store the maps (needs legrad0 loaded
-- and the tables of sql/import.sql).
--
--   sqlite3 demo.db '.load ./legrad0' '.read sql/explain.sql'
--
-- The prompt is built from the labels: 'a photo of a <colour> <shape>'.  Each run explains at most
-- 64 pairs that have no map yet, so it can be repeated to show progress, and an interrupted run
-- resumes where it stopped.  legrad() uses the default model (samples/model, or $LEGRAD_MODEL) and
-- its default layers (the last two blocks); pass them as legrad(image, prompt, 'all') etc.
CREATE TABLE IF NOT EXISTS maps(image TEXT NOT NULL, object INTEGER NOT NULL, prompt TEXT NOT NULL,
                                map BLOB, PRIMARY KEY (image, object));
INSERT INTO maps(image, object, prompt, map)
SELECT image, object, prompt, legrad(img, prompt)
FROM (SELECT l.image, l.object, 'a photo of a ' || l.colour || ' ' || l.shape AS prompt, i.image AS img
      FROM labels AS l JOIN images AS i ON i.name = l.image
      WHERE NOT EXISTS (SELECT 1 FROM maps AS m WHERE m.image = l.image AND m.object = l.object)
      ORDER BY l.image, l.object
      LIMIT 64);
