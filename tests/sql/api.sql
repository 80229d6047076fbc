-- The extension's surface in the sqlite3 shell: version, functions, the model registry with the
-- small fixture models, vision embeddings, and argument errors (verbatim).
.mode list
SELECT legrad_version() GLOB 'v[0-9]*.[0-9]*.[0-9]*';
SELECT name, narg FROM pragma_function_list
 WHERE (name LIKE 'clip\_%' ESCAPE '\' OR name IN ('legrad', 'legrad_explain', 'legrad_version',
        'legrad_debug', 'legrad_cache_stats', 'legrad_cache_clear'))
 ORDER BY name, narg;
SELECT name FROM pragma_module_list WHERE name LIKE 'legrad%' ORDER BY name;

-- Registry: insert, list, replace, delete.
INSERT INTO legrad_models(name, path) VALUES ('hf', 'tests/fixtures/models/tiny_qg_hf'),
                                            ('vis', 'tests/fixtures/models/tiny_vis_hf');
SELECT name, family, layers, width, heads, patch, image_size, embed_dim, has_text,
       length(fingerprint) FROM legrad_models;
INSERT INTO legrad_models(name, path) VALUES ('hf', 'tests/fixtures/models/tiny_qg_oc');
INSERT OR REPLACE INTO legrad_models(name, path) VALUES ('hf', 'tests/fixtures/models/tiny_qg_oc');
SELECT name, path FROM legrad_models;
DELETE FROM legrad_models WHERE name = 'vis';
SELECT count(*) FROM legrad_models;
INSERT INTO legrad_models(name, path) VALUES ('x', 'tests/fixtures/models/missing');

-- Vision embeddings: 32 float32 values, unit norm, same for the HF and OpenCLIP layouts.
INSERT INTO legrad_models(name, path) VALUES ('hf2', 'tests/fixtures/models/tiny_qg_hf');
SELECT length(clip_image_embedding(readfile('tests/fixtures/image/in/grey_70x50.png'),
                                   '{"model": "hf"}'));
SELECT clip_image_embedding(readfile('tests/fixtures/image/in/grey_70x50.png'), '{"model": "hf"}')
     = clip_image_embedding(readfile('tests/fixtures/image/in/grey_70x50.png'), '{"model": "hf2"}');
SELECT clip_image_embedding(NULL, '{"model": "hf"}') IS NULL;
-- WebP, decoded by libwebp as Pillow does (lossy with alpha).
SELECT length(clip_image_embedding(readfile('tests/fixtures/image/webp/lossy_rgba.webp'), '{"model": "hf"}'));

-- Errors.
SELECT clip_image_embedding('tests/fixtures/image/in/grey_70x50.png');
SELECT clip_image_embedding(CAST('-- This is not an image' AS BLOB), '{"model": "hf"}');
SELECT clip_image_embedding(readfile('fuzz/corpus/image/jpeg_1001_scans.jpg'), '{"model": "hf"}');
SELECT clip_image_embedding(readfile('fuzz/corpus/image/jpeg_dht_counts_over_256.jpg'), '{"model": "hf"}');
SELECT clip_image_embedding(x'00', '{"model": "nope"}');
SELECT clip_image_embedding(x'00', '{"size": 448, "colour": 1}');
SELECT legrad(x'00', 'a cat', -2, '{"model": "hf", "size": 30}');
SELECT legrad(x'00', 'a cat', 1.5, '{"model": "hf"}');
SELECT legrad(x'00', 'a cat', 'all', '{"model": "hf"}');
SELECT legrad(x'00');
SELECT * FROM legrad_layers;
UPDATE legrad_models SET path = 'x';
