/*
** Timing of the input side: image decode + preprocessing and the CLIP BPE tokenizer.
**
**   make build/bench/bench_inputs && build/bench/bench_inputs [repeats]
**
** Image: ../shared/data/images/cats_remote_control.jpeg (640x480) when present, else the
** generated tests/fixtures/image/in/rgb_640x480.png.  Times (median of `repeats` runs, ms):
** decode, crop 224 (resize to 298x224 + crop, uint8), the same + normalisation to fp32, and
** squash 448.  Tokenizer: vocabulary load, then every prompt of
** tests/fixtures/tokenizer/tokens_openai.txt (us per prompt, median over repeats), with the
** OpenAI vocabulary from ../shared or the committed tiny one.  Single thread.  Prints measured
** numbers only; results are recorded in docs/benchmarks.md.  All times are thread CPU time.
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../tests/c/check.h"  /* check_read_file */
#include "image.h"
#include "tokenizer.h"

/* Thread CPU time in ms: the machine is shared, so CPU time is steadier than wall time. */
static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static int bench_image(int reps) {
  const char *paths[] = {"../shared/data/images/cats_remote_control.jpeg",
                         "tests/fixtures/image/in/rgb_640x480.png"};
  size_t n = 0;
  unsigned char *blob = NULL;
  const char *used = NULL;
  for (int k = 0; k < 2 && !blob; k++) { blob = check_read_file(paths[k], &n); used = paths[k]; }
  if (!blob) { fprintf(stderr, "bench_inputs: no 640x480 input image\n"); return 1; }
  lg_err err = {{0}};
  lg_preprocess_cfg pre = {224, LG_RESIZE_CROP, {0.48145466f, 0.4578275f, 0.40821073f},
                           {0.26862954f, 0.26130258f, 0.27577711f}};
  double *t_dec = malloc(sizeof(double) * reps), *t_u8 = malloc(sizeof(double) * reps),
         *t_f32 = malloc(sizeof(double) * reps), *t_sq = malloc(sizeof(double) * reps);
  uint8_t *u8 = malloc(448 * 448 * 3);
  float *f32 = malloc(sizeof(float) * 3 * 448 * 448);
  lg_image img = {0};
  for (int r = 0; r < reps; r++) {
    double t0 = now_ms();
    if (lg_image_decode(blob, n, &img, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    double t1 = now_ms();
    lg_preprocess_u8(&img, 224, LG_RESIZE_CROP, u8, NULL, &err);
    double t2 = now_ms();
    lg_preprocess(&img, &pre, 224, LG_RESIZE_CROP, f32, NULL, &err);
    double t3 = now_ms();
    lg_preprocess(&img, &pre, 448, LG_RESIZE_SQUASH, f32, NULL, &err);
    double t4 = now_ms();
    t_dec[r] = t1 - t0; t_u8[r] = t2 - t1; t_f32[r] = t3 - t2; t_sq[r] = t4 - t3;
    if (r + 1 < reps) lg_image_free(&img);
  }
  printf("image %s (%dx%d), %d runs, median ms:\n", used, img.w, img.h, reps);
  printf("  decode                      %8.3f\n", median(t_dec, reps));
  printf("  crop 224, uint8             %8.3f\n", median(t_u8, reps));
  printf("  crop 224, normalised fp32   %8.3f\n", median(t_f32, reps));
  printf("  squash 448, normalised fp32 %8.3f\n", median(t_sq, reps));
  lg_image_free(&img);
  free(blob); free(t_dec); free(t_u8); free(t_f32); free(t_sq); free(u8); free(f32);
  return 0;
}

static int bench_tokenizer(int reps) {
  lg_err err = {{0}};
  double t0 = now_ms();
  lg_tokenizer *t = lg_tokenizer_load_bpe_gz("../shared/data/clip-bpe/bpe_simple_vocab_16e6.txt.gz", &err);
  const char *vocab = "OpenAI bpe_simple_vocab_16e6";
  if (!t) { t = lg_tokenizer_load_dir("tests/fixtures/tokenizer/tiny", &err); vocab = "tiny fixture"; }
  double load = now_ms() - t0;
  if (!t) { fprintf(stderr, "%s\n", err.msg); return 1; }
  size_t n = 0;
  char *text = (char *)check_read_file("tests/fixtures/tokenizer/tokens_openai.txt", &n);
  if (!text) { fprintf(stderr, "bench_inputs: no prompt file\n"); return 1; }
  char **prompts = NULL;
  int np = 0;
  for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
    if (line[0] == '#') continue;
    char *tab = strchr(line, '\t');
    if (!tab) continue;
    size_t hl = (size_t)(tab - line);
    char *p = malloc(hl / 2 + 1);
    size_t k = 0;
    if (!(hl == 1 && line[0] == '-'))
      for (size_t i = 0; i + 1 < hl; i += 2) { unsigned v; sscanf(line + i, "%2x", &v); p[k++] = (char)v; }
    p[k] = 0;
    prompts = realloc(prompts, sizeof(char *) * (size_t)(np + 1));
    prompts[np++] = p;
  }
  double *per = malloc(sizeof(double) * reps);
  int32_t ids[77];
  int used, total_ids = 0;
  for (int r = 0; r < reps; r++) {
    double s = now_ms();
    for (int i = 0; i < np; i++) {
      if (lg_tokenize(t, prompts[i], ids, 77, &used, &err) == 0 && r == 0) total_ids += used;
    }
    per[r] = (now_ms() - s) * 1e3 / np;
  }
  const char *simple = "a photo of a cat";
  double *one = malloc(sizeof(double) * reps * 10);
  for (int r = 0; r < reps * 10; r++) {
    double s = now_ms();
    lg_tokenize(t, simple, ids, 77, &used, &err);
    one[r] = (now_ms() - s) * 1e3;
  }
  printf("tokenizer (%s, %d ids): load %.1f ms; %d fixture prompts (%d ids incl. SOT/EOT): "
         "median %.2f us/prompt; \"%s\": median %.2f us\n", vocab, lg_tokenizer_vocab_size(t), load, np,
         total_ids, median(per, reps), simple, median(one, reps * 10));
  for (int i = 0; i < np; i++) free(prompts[i]);
  free(prompts); free(text); free(per); free(one);
  lg_tokenizer_free(t);
  return 0;
}

int main(int argc, char **argv) {
  int reps = argc > 1 ? atoi(argv[1]) : 21;
  if (reps < 1) reps = 1;
  return bench_image(reps) | bench_tokenizer(reps);
}
