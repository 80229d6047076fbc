#!/usr/bin/env python3
"""Writes the seed inputs of fuzz_shards, fuzz_model_dir and fuzz_sql_text from tests/fixtures.

    /usr/bin/python3 fuzz/make_seeds.py        (from the repository root; needs python3-numpy)

Seeds must be small for the fuzzer to mutate them usefully, so the tiny fixture models
(tests/fixtures/models/tiny_qg_hf and tiny_qg_oc, 0.5-0.9 MB) are cut down to "micro" models:
block 0 only, every tensor sliced to width 8 (heads 2, MLP 16), patch 2, image 4, text context 8,
stored as F16.  The tokenizer is the 512 byte symbols, the first 24 merges of
tests/fixtures/tokenizer/tiny and the two specials (538 ids).  The values are the fixtures' own
(sliced), so the models load and run; they are not meant to be accurate.

Input formats (documented in the targets too):
  fuzz_shards     index.json text, then each shard file, separated by SPLIT
  fuzz_model_dir  parts separated by SPLIT; a part's first byte picks the file name
                  (NAMES below, modulo its length), the rest is the file's content
  fuzz_sql_text   SQL text (SQL_SEEDS below: the documented uses of every function, on the
                  models and the imgs table fuzz_sql_text sets up)
Files are named by the SHA-1 of their content, as libFuzzer names its corpus entries.
"""
import hashlib
import json
import os
import struct

import numpy as np

SPLIT = b"--LGSPLIT--"
# Must match MODEL_DIR_NAMES in fuzz/fuzz_model_dir.c.
NAMES = ["config.json", "model.safetensors", "open_clip_config.json", "open_clip_model.safetensors",
         "preprocessor_config.json", "vocab.json", "merges.txt", "tokenizer.json",
         "model.safetensors.index.json", "model-00001.safetensors", "model-00002.safetensors",
         "bpe_simple_vocab_16e6.txt.gz"]
FIX = "tests/fixtures"
W, MLP, PATCH, IMAGE, CTX = 8, 16, 2, 4, 8


def read_st(path):
    with open(path, "rb") as f:
        data = f.read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        if info["dtype"] != "F32":
            continue                                     # position_ids buffers (I64): not read
        out[name] = np.frombuffer(data[8 + n + b:8 + n + e], dtype="<f4").reshape(info["shape"])
    return out


def st_bytes(tensors):
    """safetensors bytes of name -> array (stored as F16), names sorted."""
    header, blobs, off = {}, [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name], dtype="<f2")
        header[name] = {"dtype": "F16", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        blobs.append(a.tobytes())
        off += a.nbytes
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def micro(tensors, text_vocab):
    """Block 0 of every tower, each dimension cut to the micro sizes (see the module comment)."""
    out = {}
    for name, a in tensors.items():
        if any(f"{k}.{i}." in name for k in ("layers", "resblocks") for i in range(1, 12)):
            continue
        vision = name.startswith(("vision_model", "visual"))
        shape = []
        for d, n in enumerate(a.shape):
            if len(a.shape) == 4 and d >= 2:
                shape.append(PATCH)                      # conv kernel
            elif len(a.shape) == 4 and d == 1:
                shape.append(3)                          # colour channels
            elif vision and n == 17:
                shape.append((IMAGE // PATCH) ** 2 + 1)  # position embedding rows
            elif n == 77:
                shape.append(CTX)
            elif n == 1000:
                shape.append(text_vocab)
            elif n in (192, 96):
                shape.append(3 * W)                      # fused qkv
            elif n in (256, 128):
                shape.append(MLP)
            else:
                shape.append(W)                          # widths and the embedding size
        b = np.resize(a, a.shape)                        # copy
        for d, n in enumerate(shape):
            b = np.take(b, np.arange(n) % a.shape[d], axis=d)
        out[name] = b
    return out


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


def micro_tokenizer():
    """vocab.json and merges.txt bytes: byte symbols, the first 24 fixture merges, the specials."""
    syms = bytes_to_unicode()
    vocab = syms + [s + "</w>" for s in syms]
    with open(f"{FIX}/tokenizer/tiny/merges.txt", encoding="utf-8") as f:
        lines = [l.rstrip("\n") for l in f if l.strip() and not l.startswith("#version")][:24]
    for l in lines:
        vocab.append(l.replace(" ", ""))
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    ids = {t: i for i, t in enumerate(dict.fromkeys(vocab))}
    merges = "#version: 0.2\n" + "\n".join(lines) + "\n"
    return json.dumps(ids, ensure_ascii=False).encode(), merges.encode(), len(ids)


def hf_config(text_vocab, with_text=True):
    vision = {"hidden_size": W, "intermediate_size": MLP, "num_attention_heads": 2, "num_hidden_layers": 1,
              "image_size": IMAGE, "patch_size": PATCH, "hidden_act": "quick_gelu", "projection_dim": W}
    cfg = {"architectures": ["CLIPModel"], "model_type": "clip", "projection_dim": W, "vision_config": vision}
    if with_text:
        cfg["text_config"] = {"hidden_size": W, "intermediate_size": MLP, "num_attention_heads": 2,
                              "num_hidden_layers": 1, "vocab_size": text_vocab, "max_position_embeddings": CTX,
                              "hidden_act": "quick_gelu", "bos_token_id": text_vocab - 2,
                              "eos_token_id": text_vocab - 1}
    return json.dumps(cfg, indent=1).encode()


def oc_config(text_vocab):
    cfg = {"model_cfg": {"embed_dim": W, "quick_gelu": True,
                         "vision_cfg": {"image_size": IMAGE, "layers": 1, "width": W, "patch_size": PATCH,
                                        "head_width": 4, "mlp_ratio": 2.0},
                         "text_cfg": {"context_length": CTX, "vocab_size": text_vocab, "width": W, "heads": 2,
                                      "layers": 1, "mlp_ratio": 2.0}},
           "preprocess_cfg": {"mean": [0.48145466, 0.4578275, 0.40821073],
                              "std": [0.26862954, 0.26130258, 0.27577711], "resize_mode": "squash"}}
    return json.dumps(cfg, indent=1).encode()


PREPROCESSOR = json.dumps({"do_resize": True, "size": {"shortest_edge": IMAGE}, "do_center_crop": True,
                           "crop_size": {"height": IMAGE, "width": IMAGE}, "do_normalize": True,
                           "image_mean": [0.5, 0.5, 0.5], "image_std": [0.25, 0.25, 0.25]}).encode()


def shard_split(tensors, n):
    """n shard files (bytes) and the index.json text for them, tensors dealt round-robin by name."""
    names = sorted(tensors)
    files = [f"model-{k + 1:05d}.safetensors" for k in range(n)]
    parts = [{nm: tensors[nm] for nm in names[k::n]} for k in range(n)]
    index = {"metadata": {"total_size": sum(t.nbytes for t in tensors.values())},
             "weight_map": {nm: files[i % n] for i, nm in enumerate(names)}}
    return [st_bytes(p) for p in parts], json.dumps(index, indent=1).encode()


def write(target, data):
    d = f"fuzz/corpus/{target}"
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, hashlib.sha1(data).hexdigest())
    with open(path, "wb") as f:
        f.write(data)
    print(f"{path}  {len(data)} bytes")


def model_dir(files):
    """A fuzz_model_dir input: (name, content) pairs."""
    return SPLIT.join(bytes([NAMES.index(n)]) + c for n, c in files)


SQL_SEEDS = [
    "SELECT name, family, layers, width, heads, patch, image_size, embed_dim, has_text, params, fingerprint"
    " FROM legrad_models;",
    "SELECT id, json_extract(legrad_map_info(m), '$.layers') FROM"
    " (SELECT id, legrad(img, 'a red circle') AS m FROM imgs WHERE id <= 2);",
    "SELECT legrad(img, 'a cat', -2, '{\"size\": 16, \"resize\": \"squash\"}') IS NULL FROM imgs WHERE id = 6;"
    " SELECT legrad(img, 'a cat', -2, '{\"model\": \"qg\"}') FROM imgs WHERE id = 7;",
    "SELECT layer, score FROM legrad_layers((SELECT img FROM imgs WHERE id = 1), 'a red circle', 'all');",
    "SELECT count(*) FROM imgs, legrad_layers(imgs.img, 'a dog', '2,3', '{\"relu\": false}') WHERE imgs.id < 3;",
    "SELECT length(clip_image_embedding(img, '{\"model\": \"oc\"}')) FROM imgs;"
    " SELECT length(clip_text_embedding('a photo')), clip_tokenize('a photo of a cat');",
    "SELECT clip_similarity(img, 'a red circle') FROM imgs WHERE id = 1;"
    " SELECT clip_similarity(img, 'x', '{\"model\": \"vis\"}') FROM imgs WHERE id = 2;",
    "SELECT legrad(img, 'a', -1) FROM imgs WHERE id = 3; SELECT json_remove(legrad_cache_stats(), '$.bytes');"
    " SELECT legrad(img, 'a', -1, '{\"cache\": false}') FROM imgs WHERE id = 3; SELECT count(*) FROM legrad_cache;"
    " SELECT legrad_cache_clear();",
    "WITH m(b) AS (SELECT legrad_map_from_grid('[[0,1],[2,3]]', '{\"patch\": 4}'))"
    " SELECT legrad_map_info(b), legrad_map_grid(b), legrad_map_json(b, 7, 5), length(legrad_map_png(b)),"
    " length(legrad_map_png(b, (SELECT img FROM imgs WHERE id = 2), 0.3)) FROM m;",
    "WITH m(b) AS (SELECT legrad_map_from_grid('[[0,1],[2,3]]'))"
    " SELECT legrad_iou(b, (SELECT img FROM imgs WHERE id = 4), 0.5, 1),"
    " legrad_mass_in(b, (SELECT img FROM imgs WHERE id = 4)), legrad_pointing(b, (SELECT img FROM imgs WHERE id = 4))"
    " FROM m;",
    "CREATE TABLE t(img BLOB, m BLOB); INSERT INTO t(img) SELECT img FROM imgs WHERE id IN (1, 5);"
    " UPDATE t SET m = legrad(img, 'a photo', -2); SELECT length(m) FROM t;"
    " SELECT legrad(img, 'a photo', -2, '{\"model\": \"ls\"}') FROM t;",
    "CREATE TRIGGER tr AFTER INSERT ON imgs BEGIN SELECT legrad_map_info(NEW.img); END;"
    " INSERT INTO imgs(name, img) VALUES ('x', x'00'); CREATE VIEW v AS SELECT legrad(img, 'a') FROM imgs;"
    " SELECT * FROM v;",
    "DELETE FROM legrad_models WHERE name = 'vis'; SELECT clip_image_embedding(img, '{\"model\": \"vis\"}')"
    " FROM imgs WHERE id = 1; UPDATE legrad_models SET path = 'x';",
    "SELECT legrad_version(), length(legrad_debug()); SELECT legrad(x'00', 'a cat', 1.5, '{\"model\": \"single\"}');",
]


def main():
    vocab_json, merges, n_vocab = micro_tokenizer()
    hf = micro(read_st(f"{FIX}/models/tiny_qg_hf/model.safetensors"), n_vocab)
    oc = micro(read_st(f"{FIX}/models/tiny_qg_oc/open_clip_model.safetensors"), n_vocab)
    hf_vis = {k: v for k, v in hf.items() if not k.startswith("text_") and k != "logit_scale"}

    # fuzz_shards: HF naming in 2 shards, OpenCLIP naming in 3, a vision-only model in 1.
    for tensors, n in ((hf, 2), (oc, 3), (hf_vis, 1)):
        shards, index = shard_split(tensors, n)
        write("shards", SPLIT.join([index] + shards))

    # fuzz_model_dir: complete HF and OpenCLIP directories, a vision-only one, a sharded one.
    write("model_dir", model_dir([("config.json", hf_config(n_vocab)), ("model.safetensors", st_bytes(hf)),
                                  ("preprocessor_config.json", PREPROCESSOR), ("vocab.json", vocab_json),
                                  ("merges.txt", merges)]))
    write("model_dir", model_dir([("open_clip_config.json", oc_config(n_vocab)),
                                  ("open_clip_model.safetensors", st_bytes(oc)), ("vocab.json", vocab_json),
                                  ("merges.txt", merges)]))
    write("model_dir", model_dir([("config.json", hf_config(n_vocab, with_text=False)),
                                  ("model.safetensors", st_bytes(hf_vis))]))
    shards, index = shard_split(hf, 2)
    write("model_dir", model_dir([("config.json", hf_config(n_vocab)), ("model.safetensors.index.json", index),
                                  ("model-00001.safetensors", shards[0]), ("model-00002.safetensors", shards[1]),
                                  ("vocab.json", vocab_json), ("merges.txt", merges)]))

    for sql in SQL_SEEDS:
        write("sql_text", sql.encode())


if __name__ == "__main__":
    main()
