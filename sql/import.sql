-- Import an image-segmentation dataset laid out like ImageNet-S into SQLite (plain SQL, sqlite3 shell).
--
--   cd samples/heldout && sqlite3 ../../demo.db '.read ../../sql/import.sql'
--
-- Run it from the dataset directory, which holds
--   labels.csv   header row, then: image,object,shape,colour,x0,y0,x1,y1
--                (image = path under images/ without extension; object = the mask's pixel value)
--   images/      <image>.<any extension>   (PNG, JPEG, ...; sub-directories allowed, e.g. per class)
--   masks/       <image>.png               8/16-bit greyscale, pixel value = object id, 0 = background
-- For another dataset keep the two first columns of labels.csv and rename or drop the others (the
-- evaluation reads shape and colour only to build the prompt and group the results).  LUSSeg
-- ImageNet-S ships RGB masks (id = R + 256*G): convert them once to 16-bit greyscale.
-- Uses the sqlite3 shell's fsdir() and .import; nothing here needs the legrad extension.

DROP TABLE IF EXISTS labels;
DROP TABLE IF EXISTS images;
CREATE TABLE labels(image TEXT NOT NULL, object INTEGER NOT NULL, shape TEXT, colour TEXT,
                    x0 INTEGER, y0 INTEGER, x1 INTEGER, y1 INTEGER, PRIMARY KEY (image, object));
.import --csv --skip 1 labels.csv labels

-- Every file under images/ and masks/ (fsdir lists directories too: data IS NULL for them).
CREATE TEMP TABLE files AS SELECT name, data FROM fsdir('images') WHERE data IS NOT NULL
                           UNION ALL SELECT name, data FROM fsdir('masks') WHERE data IS NOT NULL;
CREATE INDEX temp.files_name ON files(name);

-- One row per labelled image.  'images/<image>.' <= name < 'images/<image>/' selects
-- 'images/<image>.<ext>' by an index range, whatever the extension.
CREATE TABLE images(name TEXT PRIMARY KEY, image BLOB NOT NULL, mask BLOB);
INSERT INTO images(name, image, mask)
SELECT l.image,
       (SELECT data FROM files WHERE name >= 'images/' || l.image || '.' AND name < 'images/' || l.image || '/'
        ORDER BY name LIMIT 1),
       (SELECT data FROM files WHERE name = 'masks/' || l.image || '.png')
FROM (SELECT DISTINCT image FROM labels) AS l
WHERE EXISTS (SELECT 1 FROM files WHERE name >= 'images/' || l.image || '.' AND name < 'images/' || l.image || '/');
DROP TABLE temp.files;

SELECT printf('imported %d images (%d with masks), %d labelled objects',
              (SELECT count(*) FROM images), (SELECT count(*) FROM images WHERE mask IS NOT NULL),
              (SELECT count(*) FROM labels));
