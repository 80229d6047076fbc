-- Map blobs in the sqlite3 shell: build maps from JSON grids, read every header field back, the raw
-- grid, the final map, PNG rendering, the metrics, and the exact error messages.  No model needed.
.mode list
SELECT name, narg FROM pragma_function_list
 WHERE name LIKE 'legrad\_map\_%' ESCAPE '\' OR name IN ('legrad_iou', 'legrad_pointing', 'legrad_mass_in')
 ORDER BY name, narg;

-- A map as legrad() would record it: patch 16, layers 10 and 11, a crop frame of a 64x48 image.
CREATE TABLE maps(id INTEGER PRIMARY KEY, m BLOB);
INSERT INTO maps VALUES (1, legrad_map_from_grid('[[0.0,0.5],[1.5,-0.25]]',
  '{"method":"legrad","patch":16,"layers":[10,11],"score":0.25,"relu":true,
    "fingerprint":"0123456789abcdef0123456789abcdef","frame":{"source":[64,48],"mode":"crop"}}'));
INSERT INTO maps VALUES (2, legrad_map_from_grid('[[0,1,2,3]]'));
INSERT INTO maps VALUES (3, legrad_map_from_grid('[[0,0,0,0,0,0,0,0,0,0,0,0,0,0]]'));
SELECT id, length(m), hex(substr(m, 1, 8)) FROM maps ORDER BY id;
SELECT hex(m) FROM maps WHERE id = 1;
SELECT legrad_map_info(m) FROM maps ORDER BY id;
SELECT legrad_map_info(m) ->> '$.frame.crop' FROM maps WHERE id = 1;

-- The raw grid, round-trip floats (%.9g), and the final map (upsample x patch, min-max).
SELECT legrad_map_grid(m) FROM maps ORDER BY id;
SELECT legrad_map_grid(legrad_map_from_grid('[[0.0001, 1e-45, 3.4e38, -0.1]]'));
SELECT legrad_map_json(m) FROM maps WHERE id = 2;
SELECT legrad_map_json(legrad_map_from_grid('[[0,1],[2,3]]', '{"patch":2}'));
SELECT legrad_map_json(legrad_map_from_grid('[[0,1],[2,3]]'), 3, 2);
SELECT json_array_length(legrad_map_json(m)), json_array_length(legrad_map_json(m), '$[0]') FROM maps WHERE id = 1;

-- PNG: jet heatmap at the input size, and an overlay on the image in the map's frame.
SELECT hex(substr(legrad_map_png(m), 1, 8)), length(legrad_map_png(m)) > 0 FROM maps WHERE id = 1;
SELECT legrad_map_png(m) = legrad_map_png(m, NULL) FROM maps WHERE id = 2;
SELECT length(legrad_map_png(legrad_map_from_grid('[[0,1],[2,3]]', '{"patch":16,"frame":{"source":[70,50],"mode":"crop"}}'),
                             readfile('tests/fixtures/image/in/grey_70x50.png'), 0.4)) > 0;

-- Metrics against a mask (a greyscale PNG of object ids) brought into the map's frame.
CREATE TABLE masks(name TEXT, mask BLOB);
INSERT INTO masks VALUES ('mask_40x30', readfile('tests/fixtures/metrics/mask_40x30.png'));
INSERT INTO maps VALUES (4, legrad_map_from_grid('[[0,1],[3,8]]', '{"patch":16,"frame":{"source":[40,30],"mode":"crop"}}'));
INSERT INTO maps VALUES (5, legrad_map_from_grid('[[5,1],[0,0]]', '{"patch":16,"frame":{"source":[40,30],"mode":"squash"}}'));
SELECT id, printf('%.6f', legrad_iou(m, mask)), printf('%.6f', legrad_iou(m, mask, 0.5)),
       legrad_pointing(m, mask), printf('%.6f', legrad_mass_in(m, mask))
  FROM maps, masks WHERE id IN (4, 5) ORDER BY id;
SELECT id, printf('%.6f', legrad_iou(m, mask, NULL, 200)), legrad_pointing(m, mask, 200),
       printf('%.6f', legrad_mass_in(m, mask, 200))
  FROM maps, masks WHERE id IN (4, 5) ORDER BY id;

-- The share of the objects the crop kept (the squash frame keeps everything); tests/python covers
-- objects the crop cuts off entirely (their metrics are NULL, not 0).
SELECT id, printf('%.6f', legrad_frame_coverage(m, mask)), printf('%.6f', legrad_frame_coverage(m, mask, 200))
  FROM maps, masks WHERE id IN (4, 5) ORDER BY id;
INSERT INTO maps VALUES (6, legrad_map_from_grid('[[0,1],[3,8]]', '{"patch":16,"frame":{"source":[120,30],"mode":"crop"}}'));
SELECT legrad_map_info(m) ->> '$.frame' FROM maps WHERE id = 6;

-- The final map in the source image's coordinates: null outside the crop.
SELECT json_array_length(legrad_map_json(m, 120, 30)), legrad_map_json(m, 120, 30) -> '$[0][0]',
       printf('%.6f', legrad_map_json(m, 120, 30) -> '$[0][60]') FROM maps WHERE id = 6;
SELECT hex(substr(legrad_map_png(m, NULL, 0.5, 'source'), 17, 8)) FROM maps WHERE id = 6;

-- NULL in, NULL out.
SELECT legrad_map_info(NULL) IS NULL, legrad_map_grid(NULL) IS NULL, legrad_map_json(NULL) IS NULL,
       legrad_map_png(NULL) IS NULL, legrad_map_from_grid(NULL) IS NULL,
       legrad_iou(NULL, NULL) IS NULL, legrad_pointing(NULL, x'00') IS NULL, legrad_mass_in(x'00', NULL) IS NULL;

-- Errors name the function, the argument, what was expected and what was found.
SELECT legrad_map_info(x'52494646000000005745425056503820');
SELECT legrad_map_info('LGRM');
SELECT legrad_map_info(substr(m, 1, 100)) FROM maps WHERE id = 1;
SELECT legrad_map_info(CAST(substr(m, 1, 100) || x'01' || substr(m, 102) AS BLOB)) FROM maps WHERE id = 1;
SELECT legrad_map_json(m, 0, 10) FROM maps WHERE id = 2;
SELECT legrad_map_png(m, 'cat.jpg') FROM maps WHERE id = 2;
SELECT legrad_map_png(m, readfile('fuzz/corpus/image/jpeg_1001_scans.jpg')) FROM maps WHERE id = 2;
SELECT legrad_map_png(m, readfile('tests/fixtures/image/in/grey_70x50.png')) FROM maps WHERE id = 1;
SELECT legrad_map_png(m, x'00', 2) FROM maps WHERE id = 2;
SELECT legrad_map_from_grid('[[0,1],[2]]');
SELECT legrad_map_from_grid('[[1]]', '{"pach":16}');
SELECT legrad_iou(m, 'mask.png') FROM maps WHERE id = 2;
SELECT legrad_iou(m, x'0011') FROM maps WHERE id = 2;
SELECT legrad_iou(m, mask) FROM maps, masks WHERE id = 1;
SELECT legrad_iou(m, mask, NULL, -3) FROM maps, masks WHERE id = 4;
SELECT legrad_iou(m, mask, NULL, 300) FROM maps, masks WHERE id = 4;
SELECT legrad_iou(m, mask, 50) FROM maps, masks WHERE id = 4;
SELECT legrad_map_json(m, 240, 40) FROM maps WHERE id = 6;
SELECT legrad_map_json(legrad_map_from_grid('[[0,1],[2,3]]'), 8192, 2048);
