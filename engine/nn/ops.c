/*
** Elementwise and GEMM building blocks for the CLIP towers; see ops.h.
**
** The elementwise kernels are a real share of the forward at 2 threads, so they are written to
** vectorise: no calls inside the loops (exp and erf are inlined polynomial approximations, about
** 1 ulp for exp (Cephes expf coefficients) and 1.5e-7 absolute for erf (Abramowitz & Stegun
** 7.1.26)), compiled with -O3 vectorisation and cloned for AVX-512 / AVX2 / baseline x86-64
** (GCC target_clones picks one at load time).
*/
#pragma GCC optimize("O3")
#include "ops.h"

#include <cblas.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define LG_CLONES __attribute__((target_clones("avx512f", "arch=haswell", "default")))
#else
#define LG_CLONES
#endif

/* exp(x) for x in [-87.3, 88] (clamped outside; NaN propagates): Cephes expf range reduction and
** polynomial (about 1 ulp). */
static inline float fast_expf(float x0) {
  float x = x0 > -87.3f ? x0 : -87.3f;   /* NaN -> -87.3 here, restored at the end */
  x = x < 88.0f ? x : 88.0f;
  float r = x * 1.44269504088896341f;
  r = (r + 12582912.0f) - 12582912.0f;          /* round to nearest integer */
  float f = x - r * 0.693359375f - r * -2.12194440e-4f;
  float z = f * f;
  float p = 1.9875691500e-4f;
  p = p * f + 1.3981999507e-3f;
  p = p * f + 8.3334519073e-3f;
  p = p * f + 4.1665795894e-2f;
  p = p * f + 1.6666665459e-1f;
  p = p * f + 5.0000001201e-1f;
  p = p * z + f + 1.0f;
  uint32_t bits = (uint32_t)((int32_t)r + 127) << 23;   /* r in [-126, 127] after the clamp */
  float s;
  memcpy(&s, &bits, sizeof s);
  return x0 == x0 ? p * s : x0;
}

/* erf(x), |error| <= 1.5e-7 (Abramowitz & Stegun 7.1.26). */
static inline float fast_erff(float x) {
  float a = fabsf(x);
  float t = 1.0f / (1.0f + 0.3275911f * a);
  float y = 1.061405429f;
  y = y * t - 1.453152027f;
  y = y * t + 1.421413741f;
  y = y * t - 0.284496736f;
  y = y * t + 0.254829592f;
  y = 1.0f - y * t * fast_expf(-a * a);
  return x < 0 ? -y : y;
}

/* Sum of x[0..n) with 16 partial sums (vectorises without reassociation flags). */
static inline float sum16(const float *x, int n) {
  float acc[16] = {0};
  int j = 0;
  for (; j + 16 <= n; j += 16)
    for (int k = 0; k < 16; k++) acc[k] += x[j + k];
  float s = 0;
  for (; j < n; j++) s += x[j];
  for (int k = 0; k < 16; k++) s += acc[k];
  return s;
}

/* Sum of (x[j]-m)^2. */
static inline float sumsq16(const float *x, float m, int n) {
  float acc[16] = {0};
  int j = 0;
  for (; j + 16 <= n; j += 16)
    for (int k = 0; k < 16; k++) acc[k] += (x[j + k] - m) * (x[j + k] - m);
  float s = 0;
  for (; j < n; j++) s += (x[j] - m) * (x[j] - m);
  for (int k = 0; k < 16; k++) s += acc[k];
  return s;
}

static inline float max16(const float *x, int n) {
  float acc[16];
  int j = 0;
  for (int k = 0; k < 16; k++) acc[k] = x[0];
  for (; j + 16 <= n; j += 16)
    for (int k = 0; k < 16; k++) acc[k] = x[j + k] > acc[k] ? x[j + k] : acc[k];
  float mx = acc[0];
  for (; j < n; j++) mx = x[j] > mx ? x[j] : mx;
  for (int k = 0; k < 16; k++) mx = acc[k] > mx ? acc[k] : mx;
  return mx;
}

static inline float act1(lg_act act, float x) {
  switch (act) {
  case LG_ACT_QUICKGELU: return x / (1.0f + fast_expf(-1.702f * x));
  case LG_ACT_GELU: return 0.5f * x * (1.0f + fast_erff(x * 0.70710678118654752f));
  default: {
    float u = 2.0f * 0.79788456080286536f * (x + 0.044715f * x * x * x);
    return x * (1.0f - 1.0f / (fast_expf(u) + 1.0f));   /* 0.5x(1+tanh(u/2)) */
  }
  }
}

void lg_linear(const float *X, int n, int in, const float *W, const float *b, int out, float *Y) {
  if (b) {
    for (int i = 0; i < n; i++) memcpy(Y + (long)i * out, b, (size_t)out * sizeof(float));
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out, in, 1.0f, X, in, W, in, b ? 1.0f : 0.0f,
              Y, out);
}

LG_CLONES
void lg_layernorm(const float *X, int n, int D, const float *w, const float *b, float eps, float *Y,
                  float *mean, float *rstd) {
  for (int i = 0; i < n; i++) {
    const float *x = X + (long)i * D;
    float *y = Y + (long)i * D;
    float m = sum16(x, D) / (float)D;
    float r = 1.0f / sqrtf(sumsq16(x, m, D) / (float)D + eps);
    for (int j = 0; j < D; j++) y[j] = (x[j] - m) * r * w[j] + b[j];
    if (mean) mean[i] = m;
    if (rstd) rstd[i] = r;
  }
}

LG_CLONES
void lg_softmax_rows(float *S, int n, int m, int ld) {
  for (int i = 0; i < n; i++) {
    float *s = S + (long)i * ld;
    float mx = max16(s, m);
    for (int j = 0; j < m; j++) s[j] = fast_expf(s[j] - mx);
    float inv = 1.0f / sum16(s, m);
    for (int j = 0; j < m; j++) s[j] *= inv;
  }
}

LG_CLONES
void lg_activation(lg_act act, const float *X, long n, float *Y) {
  switch (act) {
  case LG_ACT_QUICKGELU:
    for (long i = 0; i < n; i++) Y[i] = act1(LG_ACT_QUICKGELU, X[i]);
    break;
  case LG_ACT_GELU:
    for (long i = 0; i < n; i++) Y[i] = act1(LG_ACT_GELU, X[i]);
    break;
  default:
    for (long i = 0; i < n; i++) Y[i] = act1(LG_ACT_GELU_TANH, X[i]);
    break;
  }
}

LG_CLONES
void lg_residual(float *Y, const float *X, const float *B, const float *g, int n, int D) {
  for (int i = 0; i < n; i++) {
    float *y = Y + (long)i * D;
    const float *x = X + (long)i * D, *t = B + (long)i * D;
    if (g) for (int j = 0; j < D; j++) y[j] = x[j] + g[j] * t[j];
    else for (int j = 0; j < D; j++) y[j] = x[j] + t[j];
  }
}

/* act'(x), the derivative of act1 (same fast exp/erf; the LeGrad backward's MLP gate). */
static inline float act_grad1(lg_act act, float x) {
  switch (act) {
  case LG_ACT_QUICKGELU: {   /* f = x sig(a x)  ->  f' = sig + a x sig (1 - sig) */
    float sg = 1.0f / (1.0f + fast_expf(-1.702f * x));
    return sg + 1.702f * x * sg * (1.0f - sg);
  }
  case LG_ACT_GELU: {        /* f = x Phi(x)  ->  f' = Phi(x) + x phi(x) */
    float cdf = 0.5f * (1.0f + fast_erff(x * 0.70710678118654752f));
    return cdf + x * 0.39894228040143268f * fast_expf(-0.5f * x * x);
  }
  default: {                 /* f = 0.5 x (1 + tanh u), u = k (x + c x^3) */
    const float k = 0.79788456080286536f, c = 0.044715f;
    float th = 1.0f - 2.0f / (fast_expf(2.0f * k * (x + c * x * x * x)) + 1.0f);
    return 0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * k * (1.0f + 3.0f * c * x * x);
  }
  }
}

LG_CLONES
void lg_activation_grad(lg_act act, const float *X, long n, float *Y) {
  switch (act) {
  case LG_ACT_QUICKGELU:
    for (long i = 0; i < n; i++) Y[i] = act_grad1(LG_ACT_QUICKGELU, X[i]);
    break;
  case LG_ACT_GELU:
    for (long i = 0; i < n; i++) Y[i] = act_grad1(LG_ACT_GELU, X[i]);
    break;
  default:
    for (long i = 0; i < n; i++) Y[i] = act_grad1(LG_ACT_GELU_TANH, X[i]);
    break;
  }
}

LG_CLONES
void lg_relu_colsum(const float *A, int rows, int n, long lda, float *acc) {
  for (int i = 0; i < rows; i++) {
    const float *a = A + (long)i * lda;
    for (int j = 0; j < n; j++) acc[j] += a[j] > 0.0f ? a[j] : 0.0f;
  }
}

LG_CLONES
void lg_layernorm_backward(const float *X, int n, int D, const float *mean, const float *rstd,
                           const float *w, const float *c, const float *s, float *G) {
  for (int i = 0; i < n; i++) {
    const float *x = X + (long)i * D;
    float *g = G + (long)i * D;
    const float m = mean[i], r = rstd[i];
    float a1[16] = {0}, a2[16] = {0};
    int j = 0;
    for (; j + 16 <= D; j += 16)
      for (int k = 0; k < 16; k++) {
        float gx = g[j + k] * w[j + k];
        a1[k] += gx;
        a2[k] += gx * ((x[j + k] - m) * r);
      }
    float m1 = 0, m2 = 0;
    for (; j < D; j++) {
      float gx = g[j] * w[j];
      m1 += gx;
      m2 += gx * ((x[j] - m) * r);
    }
    for (int k = 0; k < 16; k++) { m1 += a1[k]; m2 += a2[k]; }
    m1 /= (float)D;
    m2 /= (float)D;
    for (j = 0; j < D; j++) {
      float v = r * (g[j] * w[j] - m1 - (x[j] - m) * r * m2);
      if (c) v += c[j];
      if (s) v *= s[j];
      g[j] = v;
    }
  }
}
