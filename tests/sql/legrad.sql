-- requires: samples/model
-- legrad(), legrad_layers(), the embeddings and the cache in the sqlite3 shell, with the built-in
-- sample model.  Only model-independent facts are printed (shapes, layer lists, equalities), so
-- the expected output survives retraining the sample model.
.mode list
INSERT INTO legrad_models(name, path) VALUES ('default', 'samples/model');
SELECT name, family, layers, patch, image_size, has_text FROM legrad_models;
CREATE TABLE imgs(id INTEGER PRIMARY KEY, img BLOB);
INSERT INTO imgs(img) VALUES (readfile('tests/fixtures/image/in/grey_70x50.png')),
                             (readfile('tests/fixtures/image/in/jpeg_baseline_96x72.jpg'));

-- One map per image: the default layers are the last two blocks; the grid is image_size/patch.
SELECT id, json_extract(legrad_map_info(m), '$.layers'),
       json_array_length(legrad_map_grid(m)) = (SELECT image_size / patch FROM legrad_models)
  FROM (SELECT id, legrad(img, 'a red circle') AS m FROM imgs);
SELECT legrad(NULL, 'a red circle') IS NULL, legrad(img, NULL) IS NULL FROM imgs WHERE id = 1;

-- The layer ablation as a query: one row per block, each a single-layer map.
SELECT layer, score BETWEEN -1 AND 1, json_extract(legrad_map_info(map), '$.layers')
  FROM legrad_layers((SELECT img FROM imgs WHERE id = 1), 'a red circle', 'all');
SELECT count(*) FROM imgs, legrad_layers(imgs.img, 'a red circle', '2,3');

-- The cache: the first call of each (image, prompt, layers) misses and stores, a repeat hits and
-- returns the same bytes as a fresh computation.  An in-memory database gets a private in-memory
-- cache (no legrad_cache table appears in its schema; maps are written at once, nothing waits).
-- bytes is the sum of the stored blobs' lengths (compressed float data: its total depends on the
-- BLAS kernel, so it is checked as an invariant, not as a number: the 8 maps computed again with
-- the cache bypassed).
SELECT json_remove(legrad_cache_stats(), '$.bytes'),
       legrad_cache_stats() ->> '$.bytes' =
         (SELECT sum(length(legrad(img, 'a red circle', -2, '{"cache": false}'))) FROM imgs) +
         (SELECT sum(length(map)) FROM legrad_layers((SELECT img FROM imgs WHERE id = 1),
                                                     'a red circle', 'all', '{"cache": false}')) +
         (SELECT sum(length(map)) FROM legrad_layers((SELECT img FROM imgs WHERE id = 2),
                                                     'a red circle', '2,3', '{"cache": false}'));
SELECT count(*) FROM sqlite_schema WHERE name = 'legrad_cache';
SELECT legrad(img, 'a red circle') = legrad(img, 'a red circle', -2, '{"cache": false}') FROM imgs;
SELECT json_extract(legrad_cache_stats(), '$.hits'), json_extract(legrad_cache_stats(), '$.rows');
SELECT legrad_cache_clear();
SELECT json_extract(legrad_cache_stats(), '$.rows');

-- Embeddings: unit-norm float32 vectors; the similarity is their dot product.
SELECT length(clip_image_embedding(img)) = 4 * (SELECT embed_dim FROM legrad_models),
       length(clip_text_embedding('a red circle')) = 4 * (SELECT embed_dim FROM legrad_models),
       clip_similarity(img, 'a red circle') BETWEEN -1 AND 1
  FROM imgs WHERE id = 1;
SELECT json_array_length(clip_tokenize('a red circle')) >= 3;

-- One bad row does not sink a batch: with {"on_error": "null"} a row whose image cannot be used
-- gives NULL (legrad_layers: no rows) and is listed in legrad_failures with what identifies it.
CREATE TABLE batch(id INTEGER PRIMARY KEY, img BLOB);
INSERT INTO batch(img) VALUES (readfile('tests/fixtures/image/in/grey_70x50.png')),
  (substr(readfile('tests/fixtures/image/in/grey_70x50.png'), 1, 60)),
  (readfile('tests/fixtures/image/in/jpeg_baseline_96x72.jpg')), (x'52494646000000005745425056503820'),
  (x'');
SELECT id, legrad(img, 'a red circle', -2, '{"on_error": "null"}') IS NULL FROM batch;
SELECT seq, function, action, image_bytes, image_format, image_width, image_height, prompt,
       image_hash = (SELECT legrad_image_hash(img) FROM batch
                     WHERE id = CASE seq WHEN 1 THEN 2 WHEN 2 THEN 4 ELSE 5 END) FROM legrad_failures;
SELECT message FROM legrad_failures;
SELECT json_extract(legrad_cache_stats(), '$.failures');
SELECT id, count(layer) FROM batch LEFT JOIN legrad_layers(batch.img, 'a red circle', '2,3',
       '{"on_error": "null"}') GROUP BY id;
SELECT id, clip_image_embedding(img, '{"on_error": "null"}') IS NULL,
       clip_similarity(img, 'a', '{"on_error": "null"}') IS NULL FROM batch;
SELECT function, action, count(*) FROM legrad_failures GROUP BY function, action ORDER BY function;
DELETE FROM legrad_failures WHERE function = 'legrad';
SELECT count(*), min(seq) FROM legrad_failures;
SELECT legrad_failures_clear(), (SELECT count(*) FROM legrad_failures),
       json_extract(legrad_cache_stats(), '$.failures');
-- Without the option the first bad row stops the statement; the failure is listed all the same.
SELECT id, length(legrad(img, 'a red circle')) FROM batch;
SELECT seq, action, image_format FROM legrad_failures;
SELECT legrad(img, 'a', -2, '{"on_error": "skip"}') FROM batch WHERE id = 1;

-- Errors (verbatim).
SELECT legrad('tests/fixtures/image/in/grey_70x50.png', 'a red circle');
SELECT legrad(x'52494646000000005745425056503820', 'a red circle');
SELECT legrad(img, 'a red circle', '9-2') FROM imgs WHERE id = 1;
SELECT * FROM legrad_layers((SELECT img FROM imgs WHERE id = 1), 'a', 'all', '{"relu": 2}');
