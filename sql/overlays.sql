-- Overlay PNGs of the stored maps on their images, for the first 8 images with two or more objects
-- (one file per object): samples/out/<image>_<object>_<colour>_<shape>.png.
--
--   sqlite3 demo.db '.load ./legrad0' '.read sql/overlays.sql'      (from the repository root)
SELECT printf('wrote %d overlay PNGs to samples/out/',
              count(writefile('samples/out/' || m.image || '_' || m.object || '_' || l.colour || '_' || l.shape || '.png',
                              legrad_map_png(m.map, i.image, 0.5))))
FROM maps AS m JOIN labels AS l USING (image, object) JOIN images AS i ON i.name = m.image
WHERE m.image IN (SELECT image FROM labels GROUP BY image HAVING count(*) >= 2 ORDER BY image LIMIT 8);
