/*
** Model loading: layouts (HF dir, OpenCLIP dir, single file, vision-only), naming detection, config
** defaults for sparse HF configs, activation selection, preprocessing configs, token ids, and the
** error messages for bad checkpoints (missing/misshaped tensors, unsupported dtypes, configs that
** contradict the weights, directories without a checkpoint, truncated files).
*/
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "clip.h"
#include "model_config.h"
#include "safetensors.h"
#include "st_write.h"
#include "tmpdir.h"

#define MD "tests/fixtures/models/"


static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (f) { fputs(text, f); fclose(f); }
}

static void copy_file(const char *src, const char *dst) {
  size_t n = 0;
  unsigned char *buf = check_read_file(src, &n);
  FILE *f = fopen(dst, "wb");
  if (buf && f) fwrite(buf, 1, n, f);
  if (f) fclose(f);
  free(buf);
}

static void test_layouts(void) {
  lg_err err = {{0}};
  lg_model *hf = lg_model_load(MD "tiny_qg_hf", &err);
  CHECK(hf != NULL, "%s", err.msg);
  lg_model *oc = lg_model_load(MD "tiny_qg_oc/", &err);
  CHECK(oc != NULL, "%s", err.msg);
  if (hf && oc) {
    CHECK(hf->naming == LG_NAMING_HF && oc->naming == LG_NAMING_OPENCLIP, "naming");
    CHECK(hf->vision.cfg.act == LG_ACT_QUICKGELU && oc->vision.cfg.act == LG_ACT_QUICKGELU, "QuickGELU");
    CHECK(hf->vision.cfg.heads == 4 && oc->vision.cfg.heads == 4 && oc->text.cfg.heads == 4, "heads from config");
    CHECK(hf->eot_id == 999 && hf->sot_id == 998, "eot %d: never the config's eos_token_id 2", hf->eot_id);
    CHECK(hf->n_params == oc->n_params, "n_params %lld vs %lld", (long long)hf->n_params, (long long)oc->n_params);
    CHECK(strcmp(hf->fingerprint, oc->fingerprint) == 0 && strlen(hf->fingerprint) == 32, "fingerprint");
    CHECK(hf->has_text && oc->has_text && hf->embed_dim == 32, "text");
    CHECK(!strcmp(hf->family, "clip"), "family");
    /* OpenAI defaults for HF without preprocessor_config.json; open_clip_config preprocess_cfg */
    CHECK(hf->pre.size == 32 && hf->pre.resize == LG_RESIZE_CROP && fabsf(hf->pre.mean[0] - 0.48145466f) < 1e-7f,
          "hf pre");
    CHECK(oc->pre.size == 32 && fabsf(oc->pre.std[2] - 0.27577711f) < 1e-7f, "oc pre");
    CHECK(fabsf(oc->logit_scale - 4.6052f) < 1e-5f, "logit_scale %g", oc->logit_scale);
  }
  lg_model *ge = lg_model_load(MD "tiny_gelu_oc", &err), *geh = lg_model_load(MD "tiny_gelu_hf", &err);
  CHECK(ge && geh && ge->vision.cfg.act == LG_ACT_GELU && geh->text.cfg.act == LG_ACT_GELU, "GELU");
  if (ge && oc) CHECK(strcmp(ge->fingerprint, oc->fingerprint) != 0, "different models, same fingerprint");
  lg_model *ls = lg_model_load(MD "tiny_ls_oc", &err);
  CHECK(ls && ls->vision.blocks[0].ls1 && ls->text.blocks[1].ls2 && oc && !oc->vision.blocks[0].ls1, "LayerScale");
  lg_model_free(hf); lg_model_free(oc); lg_model_free(ge); lg_model_free(geh); lg_model_free(ls);

  /* A single HF-named .safetensors (no config): shapes + HF defaults; preprocessing at native size. */
  lg_model *s = lg_model_load(MD "tiny_qg_hf/model.safetensors", &err);
  CHECK(s && s->naming == LG_NAMING_HF && s->vision.cfg.heads == 1 && s->pre.size == 32, "hf single: %s", err.msg);
  lg_model_free(s);
  /* a sharded HF checkpoint (index.json + two shards) loads to the same fingerprint */
  lg_st st;
  mkdir(tmp("sharded"), 0700);
  if (lg_st_open(&st, MD "tiny_qg_hf/model.safetensors", &err) == 0) {
    st_edit a = {.prefix = "vision_model."}, b = {.prefix = "vision_model.", .skip_prefix = 1};
    st_copy_edit(&st, tmp("sharded/model-00001-of-00002.safetensors"), &a);
    st_copy_edit(&st, tmp("sharded/model-00002-of-00002.safetensors"), &b);
    FILE *f = fopen(tmp("sharded/model.safetensors.index.json"), "w");
    fprintf(f, "{\"metadata\":{\"total_size\":0},\"weight_map\":{");
    for (int i = 0; i < st.n_tensors; i++)
      fprintf(f, "%s\"%s\":\"model-0000%d-of-00002.safetensors\"", i ? "," : "", st.tensors[i].name,
              strncmp(st.tensors[i].name, "vision_model.", 13) ? 2 : 1);
    fprintf(f, "}}");
    fclose(f);
    lg_st_close(&st);
    copy_file(MD "tiny_qg_hf/config.json", tmp("sharded/config.json"));
    lg_model *sh = lg_model_load(tmp("sharded"), &err), *ref = lg_model_load(MD "tiny_qg_oc", &err);
    CHECK(sh && ref && !strcmp(sh->fingerprint, ref->fingerprint), "sharded: %s", sh ? "fingerprint differs" : err.msg);
    lg_model_free(sh);
    lg_model_free(ref);
  }
  /* a "module." prefix (DDP) is stripped */
  if (lg_st_open(&st, MD "tiny_single.safetensors", &err) == 0) {
    size_t cap = 1 << 20, len = 0, off = 0;
    char *h = malloc(cap);
    len += (size_t)snprintf(h, cap, "{");
    for (int i = 0; i < st.n_tensors; i++) {
      const lg_st_tensor *t = &st.tensors[i];
      char shp[100];
      lg_st_shape_str(t->shape, t->ndim, shp, sizeof shp);
      len += (size_t)snprintf(h + len, cap - len, "%s\"module.%s\":{\"dtype\":\"%s\",\"shape\":%s,\"data_offsets\":[%zu,%zu]}",
                              i ? "," : "", t->name, lg_st_dtype_name(t->dtype), shp, off, off + (size_t)(t->end - t->begin));
      off += t->end - t->begin;
    }
    snprintf(h + len, cap - len, "}");
    const lg_st_tensor *first = &st.tensors[0];
    /* tensors are contiguous in name order in this fixture (written sorted) */
    st_write_raw(tmp("module.safetensors"), h, first->data, off, 0);
    free(h);
    lg_st_close(&st);
    s = lg_model_load(tmp("module.safetensors"), &err);
    CHECK(s && s->vision.cfg.layers == 2, "module. prefix: %s", err.msg);
    lg_model_free(s);
  }
}

static void test_config_parsing(void) {
  lg_err err = {{0}};
  lg_clip_cfg c;
  /* sparse config of a derived openai/clip-vit-base-patch16 copy */
  const char *sparse = "{\"vision_config\":{\"patch_size\":16},\"text_config\":{\"bos_token_id\":0,\"eos_token_id\":2}}";
  lg_cfg_defaults(&c);
  CHECK(lg_cfg_parse_hf(sparse, strlen(sparse), "config.json", &c, &err) == 0, "%s", err.msg);
  CHECK(c.vis.width == 768 && c.vis.layers == 12 && c.vis.heads == 12 && c.vis.mlp == 3072 && c.patch == 16 &&
        c.image_size == 224, "vision defaults");
  CHECK(c.txt.width == 512 && c.txt.heads == 8 && c.txt.layers == 12 && c.txt.mlp == 2048 && c.vocab == 49408 &&
        c.ctx == 77 && c.embed_dim == 512, "text defaults");
  CHECK(c.vis.act == LG_ACT_QUICKGELU && c.vis.ln_eps == 1e-5f && !c.act_given, "activation default");
  /* LAION H/14 style */
  const char *laion = "{\"projection_dim\":1024,\"vision_config\":{\"hidden_size\":1280,\"intermediate_size\":5120,"
                      "\"num_attention_heads\":16,\"num_hidden_layers\":32,\"patch_size\":14,\"hidden_act\":\"gelu\"},"
                      "\"text_config_dict\":{\"hidden_size\":1024,\"num_attention_heads\":16,\"hidden_act\":\"gelu\"},"
                      "\"text_config\":{\"hidden_size\":77}}";
  lg_cfg_defaults(&c);
  CHECK(lg_cfg_parse_hf(laion, strlen(laion), "config.json", &c, &err) == 0, "%s", err.msg);
  CHECK(c.vis.act == LG_ACT_GELU && c.txt.act == LG_ACT_GELU && c.act_given && c.vis.heads == 16 && c.txt.width == 1024 &&
        c.embed_dim == 1024, "laion config (text_config_dict overrides text_config)");
  const char *bad_act = "{\"vision_config\":{\"hidden_act\":\"swish\"}}";
  lg_cfg_defaults(&c);
  CHECK(lg_cfg_parse_hf(bad_act, strlen(bad_act), "config.json", &c, &err) == -1 &&
        strstr(err.msg, "config.json: vision_config.hidden_act: unsupported activation 'swish'"), "%s", err.msg);
  const char *bad_heads = "{\"vision_config\":{\"hidden_size\":100,\"num_attention_heads\":12}}";
  lg_cfg_defaults(&c);
  CHECK(lg_cfg_parse_hf(bad_heads, strlen(bad_heads), "config.json", &c, &err) == -1 &&
        strstr(err.msg, "vision_config: width 100 is not divisible by 12 heads"), "%s", err.msg);
  const char *neg = "{\"vision_config\":{\"num_hidden_layers\":-3}}";
  lg_cfg_defaults(&c);
  CHECK(lg_cfg_parse_hf(neg, strlen(neg), "config.json", &c, &err) == -1 &&
        strstr(err.msg, "vision_config.num_hidden_layers: expected an integer in 1..1024"), "%s", err.msg);
  const char *tiny_eps = "{\"vision_config\":{\"layer_norm_eps\":1e-50}}";   /* found by fuzz_config */
  lg_cfg_defaults(&c);
  CHECK(lg_cfg_parse_hf(tiny_eps, strlen(tiny_eps), "config.json", &c, &err) == -1 &&
        strstr(err.msg, "vision_config.layer_norm_eps: expected a number in [1e-30, 1], found 1e-50"), "%s", err.msg);
  const char *siglip = "{\"model_type\":\"siglip\"}";
  lg_cfg_defaults(&c);
  CHECK(lg_cfg_parse_hf(siglip, strlen(siglip), "config.json", &c, &err) == -1 && strstr(err.msg, "not supported yet"),
        "%s", err.msg);
  /* open_clip bigG */
  const char *bigg = "{\"model_cfg\":{\"embed_dim\":1280,\"vision_cfg\":{\"image_size\":224,\"layers\":48,\"width\":1664,"
                     "\"head_width\":104,\"mlp_ratio\":4.9231,\"patch_size\":14},\"text_cfg\":{\"context_length\":77,"
                     "\"vocab_size\":49408,\"width\":1280,\"heads\":20,\"layers\":32}},"
                     "\"preprocess_cfg\":{\"mean\":[0.5,0.5,0.5],\"std\":[0.5,0.5,0.5],\"resize_mode\":\"squash\"}}";
  lg_cfg_defaults(&c);
  CHECK(lg_cfg_parse_openclip(bigg, strlen(bigg), "open_clip_config.json", &c, &err) == 0, "%s", err.msg);
  CHECK(c.vis.mlp == 8192 && c.vis.heads == 16 && c.txt.heads == 20 && c.txt.mlp == 5120 && c.vis.act == LG_ACT_GELU &&
        c.pre.resize == LG_RESIZE_SQUASH && c.pre.mean[1] == 0.5f && c.pre_given, "bigG config");
  const char *rn = "{\"embed_dim\":1024,\"quick_gelu\":true,\"vision_cfg\":{\"layers\":[3,4,6,3],\"width\":64}}";
  lg_cfg_defaults(&c);
  CHECK(lg_cfg_parse_openclip(rn, strlen(rn), "RN50.json", &c, &err) == -1 && strstr(err.msg, "ResNet towers are not supported"),
        "%s", err.msg);
  const char *timm = "{\"embed_dim\":768,\"vision_cfg\":{\"timm_model_name\":\"vit_base_patch16_siglip_224\"}}";
  lg_cfg_defaults(&c);
  CHECK(lg_cfg_parse_openclip(timm, strlen(timm), "x.json", &c, &err) == -1 &&
        strstr(err.msg, "model_cfg.vision_cfg.timm_model_name is not supported"), "%s", err.msg);
  /* HF preprocessor_config.json */
  const char *pp = "{\"crop_size\":{\"height\":336,\"width\":336},\"size\":{\"shortest_edge\":336},"
                   "\"image_mean\":[0.1,0.2,0.3],\"image_std\":[0.4,0.5,0.6]}";
  lg_preprocess_cfg pre;
  lg_cfg_openai_preprocess(&pre, 224);
  CHECK(lg_cfg_parse_hf_preprocessor(pp, strlen(pp), "preprocessor_config.json", &pre, &err) == 0 && pre.size == 336 &&
        pre.mean[2] == 0.3f && pre.std[0] == 0.4f && pre.resize == LG_RESIZE_CROP, "preprocessor: %s", err.msg);
  const char *pp0 = "{\"image_std\":[0.4,0,0.6]}";
  CHECK(lg_cfg_parse_hf_preprocessor(pp0, strlen(pp0), "preprocessor_config.json", &pre, &err) == -1 &&
        strstr(err.msg, "image_std: expected positive numbers"), "%s", err.msg);
}

/* Builds tmpdir/<name>/ with an edited copy of the tiny OpenCLIP model and loads it. */
static void expect_bad_oc(const char *name, const st_edit *e, const char *config, const char *needle) {
  lg_err err = {{0}};
  char dir[256], path[300];
  snprintf(dir, sizeof dir, "%s", tmp(name));
  mkdir(dir, 0700);
  lg_st st;
  if (lg_st_open(&st, MD "tiny_qg_oc/open_clip_model.safetensors", &err)) { CHECK(0, "%s", err.msg); return; }
  snprintf(path, sizeof path, "%s/open_clip_model.safetensors", dir);
  st_copy_edit(&st, path, e);
  lg_st_close(&st);
  snprintf(path, sizeof path, "%s/open_clip_config.json", dir);
  if (config) write_text(path, config);
  else copy_file(MD "tiny_qg_oc/open_clip_config.json", path);
  lg_model *m = lg_model_load(dir, &err);
  CHECK(m == NULL && strstr(err.msg, needle), "%s: expected '%s', got '%s'", name, needle, m ? "(loaded)" : err.msg);
  lg_model_free(m);
}

/* The conversion advice every PyTorch message ends with, for a checkpoint named `file`. */
static const char *torch_hint(const char *file) {
  static char buf[600];
  snprintf(buf, sizeof buf, "convert it once, in its directory: python3 -c \"import torch, safetensors.torch as st; "
           "sd = torch.load('%s', map_location='cpu'); sd = sd.get('state_dict', sd); "
           "st.save_file({k: v.contiguous() for k, v in sd.items()}, 'model.safetensors')\" (docs/checkpoints.md)", file);
  return buf;
}

#define EXPECT_LOAD_ERROR(path, ...)                                                     \
  do {                                                                                   \
    char want_[1024];                                                                    \
    snprintf(want_, sizeof want_, __VA_ARGS__);                                          \
    lg_err e_ = {{0}};                                                                   \
    lg_model *m_ = lg_model_load(path, &e_);                                             \
    CHECK(m_ == NULL && !strcmp(e_.msg, want_), "%s:\n  want %s\n  got  %s", path, want_, \
          m_ ? "(loaded)" : e_.msg);                                                     \
    lg_model_free(m_);                                                                   \
  } while (0)

/* A copy of the tiny HF model (weights, config, tokenizer) in tmp(name). */
static void copy_tiny_hf(const char *name) {
  char p[64];
  mkdir(tmp(name), 0700);
  static const char *const files[][2] = {{MD "tiny_qg_hf/model.safetensors", "model.safetensors"},
                                         {MD "tiny_qg_hf/config.json", "config.json"},
                                         {"tests/fixtures/tokenizer/tiny/merges.txt", "merges.txt"}};
  for (int i = 0; i < 3; i++) {
    snprintf(p, sizeof p, "%s/%s", name, files[i][1]);
    copy_file(files[i][0], tmp(p));
  }
}

/* FIFOs in every role a model file plays are refused at once (reading one waits for a writer
** forever); a device or a directory in those roles too. */
static void test_not_regular_files(void) {
  alarm(30);   /* guard: a blocking open fails the suite (SIGALRM) instead of hanging it */
  mkdir(tmp("fifo1"), 0700);
  if (mkfifo(tmp("fifo1/model.safetensors"), 0600) != 0) {
    SKIP("mkfifo failed: FIFO roles not checked");
    alarm(0);
    return;
  }
  /* the weights, named directly and found in the directory under the preferred name */
  EXPECT_LOAD_ERROR(tmp("fifo1/model.safetensors"), "'%s' is a FIFO, not a model directory or a regular file",
                    tmp("fifo1/model.safetensors"));
  EXPECT_LOAD_ERROR(tmp("fifo1"), "'%s' is a FIFO, not a regular file", tmp("fifo1/model.safetensors"));
  /* the only *.safetensors of a directory */
  mkdir(tmp("fifo2"), 0700);
  mkfifo(tmp("fifo2/weights.safetensors"), 0600);
  EXPECT_LOAD_ERROR(tmp("fifo2"), "'%s' is a FIFO, not a regular file", tmp("fifo2/weights.safetensors"));
  /* a FIFO as the model path itself */
  mkfifo(tmp("fifo3"), 0600);
  EXPECT_LOAD_ERROR(tmp("fifo3"), "'%s' is a FIFO, not a model directory or a regular file", tmp("fifo3"));
  /* vocab.json, merges.txt, config.json of an otherwise good model */
  copy_tiny_hf("fifo4");
  mkfifo(tmp("fifo4/vocab.json"), 0600);
  EXPECT_LOAD_ERROR(tmp("fifo4"), "%s: tokenizer: '%s' is a FIFO, not a regular file", tmp("fifo4"), tmp("fifo4/vocab.json"));
  copy_tiny_hf("fifo5");
  copy_file("tests/fixtures/tokenizer/tiny/vocab.json", tmp("fifo5/vocab.json"));
  remove(tmp("fifo5/config.json"));
  mkfifo(tmp("fifo5/config.json"), 0600);
  EXPECT_LOAD_ERROR(tmp("fifo5"), "'%s' is a FIFO, not a regular file", tmp("fifo5/config.json"));
  remove(tmp("fifo5/config.json"));
  mkfifo(tmp("fifo5/preprocessor_config.json"), 0600);
  EXPECT_LOAD_ERROR(tmp("fifo5"), "'%s' is a FIFO, not a regular file", tmp("fifo5/preprocessor_config.json"));
  /* tokenizer.json is not looked at when vocab.json + merges.txt are there; without them it is */
  remove(tmp("fifo5/preprocessor_config.json"));
  mkfifo(tmp("fifo5/tokenizer.json"), 0600);
  /* (this tokenizer has more ids than the tiny model has rows: reaching that check shows it loaded) */
  EXPECT_LOAD_ERROR(tmp("fifo5"), "%s: tokenizer has 1114 ids but the text tower's token embedding only 1000 rows", tmp("fifo5"));
  remove(tmp("fifo5/merges.txt"));
  EXPECT_LOAD_ERROR(tmp("fifo5"), "%s: tokenizer: '%s' is a FIFO, not a regular file", tmp("fifo5"), tmp("fifo5/tokenizer.json"));
  /* a directory and a device where the weights should be */
  mkdir(tmp("dirs"), 0700);
  mkdir(tmp("dirs/model.safetensors"), 0700);
  EXPECT_LOAD_ERROR(tmp("dirs"), "'%s' is a directory, not a regular file", tmp("dirs/model.safetensors"));
  mkdir(tmp("dev"), 0700);
  if (symlink("/dev/zero", tmp("dev/model.safetensors")) == 0)
    EXPECT_LOAD_ERROR(tmp("dev"), "'%s' is a character device, not a regular file", tmp("dev/model.safetensors"));
  alarm(0);
}

/* Checkpoints that are not safetensors: Git LFS pointers, PyTorch files by name and by content,
** directories holding only PyTorch checkpoints.  Every message verbatim. */
static void test_foreign_checkpoints(void) {
  const char *lfs = "version https://git-lfs.github.com/spec/v1\noid sha256:"
                    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\nsize 598641023\n";
  copy_tiny_hf("lfs");
  write_text(tmp("lfs/model.safetensors"), lfs);
  EXPECT_LOAD_ERROR(tmp("lfs"), "'%s' is a Git LFS pointer, not the weights: run `git lfs pull` in that repository "
                    "(or download the file itself)", tmp("lfs/model.safetensors"));
  /* only pytorch_model.bin / open_clip_pytorch_model.bin */
  mkdir(tmp("pickle"), 0700);
  write_text(tmp("pickle/pytorch_model.bin"), "PK\x03\x04");
  copy_file(MD "tiny_qg_hf/config.json", tmp("pickle/config.json"));
  EXPECT_LOAD_ERROR(tmp("pickle"), "%s: no .safetensors checkpoint, only the PyTorch checkpoint pytorch_model.bin: %s",
                    tmp("pickle"), torch_hint("pytorch_model.bin"));
  mkdir(tmp("ocpickle"), 0700);
  write_text(tmp("ocpickle/open_clip_pytorch_model.bin"), "PK\x03\x04");
  write_text(tmp("ocpickle/pytorch_model.bin"), "PK\x03\x04");
  EXPECT_LOAD_ERROR(tmp("ocpickle"), "%s: no .safetensors checkpoint, only the PyTorch checkpoint open_clip_pytorch_model.bin: %s",
                    tmp("ocpickle"), torch_hint("open_clip_pytorch_model.bin"));
  /* any other PyTorch file name is not repeated back */
  mkdir(tmp("ptonly"), 0700);
  write_text(tmp("ptonly/epoch_32.pt"), "PK\x03\x04");
  EXPECT_LOAD_ERROR(tmp("ptonly"), "%s: no .safetensors checkpoint, only PyTorch checkpoints (.bin, .pt or .pth files): %s",
                    tmp("ptonly"), torch_hint("model.bin"));
  /* a PyTorch file named directly: its content decides the message */
  EXPECT_LOAD_ERROR(tmp("pickle/pytorch_model.bin"), "'%s' is a PyTorch checkpoint (a zip archive), not safetensors: %s",
                    tmp("pickle/pytorch_model.bin"), torch_hint("pytorch_model.bin"));
  write_text(tmp("ptonly/lfs.pth"), lfs);
  EXPECT_LOAD_ERROR(tmp("ptonly/lfs.pth"), "'%s' is a Git LFS pointer, not the weights: run `git lfs pull` in that "
                    "repository (or download the file itself)", tmp("ptonly/lfs.pth"));
  write_text(tmp("ptonly/odd.bin"), "{}");
  EXPECT_LOAD_ERROR(tmp("ptonly/odd.bin"), "'%s' is not safetensors (.bin, .pt and .pth files are PyTorch checkpoints): %s",
                    tmp("ptonly/odd.bin"), torch_hint("odd.bin"));
  /* a safetensors beside a .bin: the safetensors is used */
  copy_file(MD "tiny_single.safetensors", tmp("ptonly/model.safetensors"));
  lg_err err = {{0}};
  lg_model *m = lg_model_load(tmp("ptonly"), &err);
  CHECK(m != NULL, "safetensors beside .bin files: %s", err.msg);
  lg_model_free(m);
}

/* Config strings that are not names are described, never quoted. */
static void test_config_no_echo(void) {
  lg_err err = {{0}};
  lg_clip_cfg c;
  const char *cfg = "{\"model_type\":\"root:x:0:0:root:/root:/bin/bash\"}";
  lg_cfg_defaults(&c);
  CHECK(lg_cfg_parse_hf(cfg, strlen(cfg), "config.json", &c, &err) == -1 &&
        !strcmp(err.msg, "config.json: model_type (a string of 31 bytes) is not a CLIP config (expected 'clip')"),
        "%s", err.msg);
  cfg = "{\"vision_config\":{\"hidden_act\":\"\\u00e9\"}}";
  lg_cfg_defaults(&c);
  CHECK(lg_cfg_parse_hf(cfg, strlen(cfg), "config.json", &c, &err) == -1 &&
        !strcmp(err.msg, "config.json: vision_config.hidden_act: unsupported activation (a string of 2 bytes) "
                         "(expected quick_gelu, gelu or gelu_pytorch_tanh)"), "%s", err.msg);
}

static void test_bad_models(void) {
  lg_err err = {{0}};
  st_edit drop = {.drop = "visual.ln_post.bias"};
  expect_bad_oc("missing", &drop, NULL,
                "open_clip_model.safetensors: missing tensor 'visual.ln_post.bias' (expected shape [64] from open_clip_config.json)");
  st_edit shape = {.name = "visual.proj", .shape = "[32,64]"};
  expect_bad_oc("misshaped", &shape, NULL,
                "open_clip_model.safetensors: tensor 'visual.proj': expected shape [64,32] (from open_clip_config.json), found [32,64]");
  st_edit dt = {.name = "visual.class_embedding", .dtype = "I32"};
  expect_bad_oc("dtype", &dt, NULL, "tensor 'visual.class_embedding': dtype I32 is not supported (expected F32, F16 or BF16)");
  st_edit unk = {.name = "visual.class_embedding", .dtype = "Q4"};
  expect_bad_oc("unknown_dtype", &unk, NULL, "open_clip_model.safetensors: tensor 'visual.class_embedding': unknown dtype 'Q4'");
  st_edit none = {0};
  expect_bad_oc("contradict", &none,
                "{\"model_cfg\":{\"embed_dim\":32,\"quick_gelu\":true,\"vision_cfg\":{\"image_size\":32,\"layers\":3,"
                "\"width\":128,\"patch_size\":8,\"head_width\":16},\"text_cfg\":{\"context_length\":77,\"vocab_size\":1000,"
                "\"width\":32,\"heads\":4,\"layers\":2}}}",
                "tensor 'visual.conv1.weight': expected shape [128,3,8,8] (from open_clip_config.json), found [64,3,8,8]");
  expect_bad_oc("layers", &none,
                "{\"model_cfg\":{\"embed_dim\":32,\"vision_cfg\":{\"image_size\":32,\"layers\":2,\"width\":64,\"patch_size\":8,"
                "\"head_width\":16},\"text_cfg\":{\"context_length\":77,\"vocab_size\":1000,\"width\":32,\"heads\":4,\"layers\":2}}}",
                "tensor 'visual.transformer.resblocks.2.mlp.c_fc.weight' exists but open_clip_config.json says 2 layers");
  expect_bad_oc("vocab", &none,
                "{\"model_cfg\":{\"embed_dim\":32,\"vision_cfg\":{\"image_size\":32,\"layers\":3,\"width\":64,\"patch_size\":8,"
                "\"head_width\":16},\"text_cfg\":{\"context_length\":77,\"vocab_size\":49408,\"width\":32,\"heads\":4,\"layers\":2}}}",
                "tensor 'token_embedding.weight': expected shape [49408,32] (from open_clip_config.json), found [1000,32]");
  expect_bad_oc("badjson", &none, "{\"model_cfg\": [", "open_clip_config.json: not a JSON object");
  st_edit nov = {.drop = "visual.conv1.weight"};
  expect_bad_oc("novision", &nov, NULL, "no CLIP vision tower found");

  /* directory without a checkpoint; only a pickle; several safetensors */
  mkdir(tmp("empty"), 0700);
  CHECK(lg_model_load(tmp("empty"), &err) == NULL && strstr(err.msg, "empty: no checkpoint found"), "%s", err.msg);
  CHECK(lg_model_load(tmp("empty"), &err) == NULL &&
        strstr(err.msg, "empty: no checkpoint found (looked for open_clip_model.safetensors, model.safetensors, "
                        "*.safetensors.index.json, *.safetensors)"), "%s", err.msg);
  mkdir(tmp("two"), 0700);
  copy_file(MD "tiny_single.safetensors", tmp("two/a.safetensors"));
  copy_file(MD "tiny_single.safetensors", tmp("two/b.safetensors"));
  CHECK(lg_model_load(tmp("two"), &err) == NULL &&
        strstr(err.msg, "two: 2 .safetensors files and no *.safetensors.index.json: cannot tell which is the model"),
        "%s", err.msg);
  CHECK(lg_model_load(tmp("nonexistent"), &err) == NULL && strstr(err.msg, "nonexistent: No such file"), "%s", err.msg);
  CHECK(lg_model_load(MD "tiny_qg_oc/open_clip_config.json", &err) == NULL && strstr(err.msg, "expected a model directory"),
        "%s", err.msg);
  /* truncated checkpoint inside a directory */
  mkdir(tmp("trunc"), 0700);
  size_t n = 0;
  unsigned char *buf = check_read_file(MD "tiny_qg_hf/model.safetensors", &n);
  if (buf) {
    FILE *f = fopen(tmp("trunc/model.safetensors"), "wb");
    fwrite(buf, 1, n - 3, f);
    fclose(f);
    free(buf);
  }
  copy_file(MD "tiny_qg_hf/config.json", tmp("trunc/config.json"));
  CHECK(lg_model_load(tmp("trunc"), &err) == NULL && strstr(err.msg, "trunc/model.safetensors: tensor data ends at byte"),
        "%s", err.msg);
  /* a tokenizer with more ids than the token embedding has rows */
  mkdir(tmp("tokbig"), 0700);
  copy_file(MD "tiny_qg_hf/model.safetensors", tmp("tokbig/model.safetensors"));
  copy_file(MD "tiny_qg_hf/config.json", tmp("tokbig/config.json"));
  copy_file("tests/fixtures/tokenizer/tiny/vocab.json", tmp("tokbig/vocab.json"));
  copy_file("tests/fixtures/tokenizer/tiny/merges.txt", tmp("tokbig/merges.txt"));
  CHECK(lg_model_load(tmp("tokbig"), &err) == NULL &&
        strstr(err.msg, "tokbig: tokenizer has 1114 ids but the text tower's token embedding only 1000 rows"), "%s", err.msg);
  /* HF config contradicting the weights */
  mkdir(tmp("hfbad"), 0700);
  copy_file(MD "tiny_qg_hf/model.safetensors", tmp("hfbad/model.safetensors"));
  write_text(tmp("hfbad/config.json"), "{\"vision_config\":{\"patch_size\":16}}");
  CHECK(lg_model_load(tmp("hfbad"), &err) == NULL &&
        strstr(err.msg, "tensor 'vision_model.embeddings.patch_embedding.weight': expected shape [768,3,16,16] (from config.json), found [64,3,8,8]"),
        "%s", err.msg);
}

int main(void) {
  if (tmpdir_make("lg_test_model")) { SKIP("mkdtemp failed"); return check_report("test_model"); }
  test_layouts();
  test_config_parsing();
  test_bad_models();
  test_not_regular_files();
  test_foreign_checkpoints();
  test_config_no_echo();
  tmpdir_remove();
  return check_report("test_model");
}
