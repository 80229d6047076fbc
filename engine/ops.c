/*
** Elementwise and GEMM building blocks for the CLIP towers; see ops.h.
** LayerNorm statistics are accumulated in double (like PyTorch's CPU kernel uses a wider
** accumulator), everything else in float.
*/
#include "ops.h"

#include <cblas.h>
#include <math.h>

void lg_linear(const float *X, int n, int in, const float *W, const float *b, int out, float *Y) {
  if (b) {
    for (int i = 0; i < n; i++)
      for (int j = 0; j < out; j++) Y[(long)i * out + j] = b[j];
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, out, in, 1.0f, X, in, W, in, b ? 1.0f : 0.0f,
              Y, out);
}

void lg_layernorm(const float *X, int n, int D, const float *w, const float *b, float eps, float *Y,
                  float *mean, float *rstd) {
  for (int i = 0; i < n; i++) {
    const float *x = X + (long)i * D;
    float *y = Y + (long)i * D;
    double s = 0, ss = 0;
    for (int j = 0; j < D; j++) s += x[j];
    double mu = s / D;
    for (int j = 0; j < D; j++) {
      double d = x[j] - mu;
      ss += d * d;
    }
    float m = (float)mu, r = (float)(1.0 / sqrt(ss / D + eps));
    for (int j = 0; j < D; j++) y[j] = (x[j] - m) * r * w[j] + b[j];
    if (mean) mean[i] = m;
    if (rstd) rstd[i] = r;
  }
}

void lg_softmax_rows(float *S, int n, int m, int ld) {
  for (int i = 0; i < n; i++) {
    float *s = S + (long)i * ld;
    float mx = s[0];
    for (int j = 1; j < m; j++) mx = s[j] > mx ? s[j] : mx;
    float sum = 0;
    for (int j = 0; j < m; j++) {
      s[j] = expf(s[j] - mx);
      sum += s[j];
    }
    float inv = 1.0f / sum;
    for (int j = 0; j < m; j++) s[j] *= inv;
  }
}

void lg_activation(lg_act act, const float *X, long n, float *Y) {
  switch (act) {
  case LG_ACT_QUICKGELU:
    for (long i = 0; i < n; i++) Y[i] = X[i] / (1.0f + expf(-1.702f * X[i]));
    break;
  case LG_ACT_GELU:
    for (long i = 0; i < n; i++) Y[i] = 0.5f * X[i] * (1.0f + erff(X[i] * 0.70710678118654752f));
    break;
  case LG_ACT_GELU_TANH:
    for (long i = 0; i < n; i++) {
      float x = X[i];
      Y[i] = 0.5f * x * (1.0f + tanhf(0.79788456080286536f * (x + 0.044715f * x * x * x)));
    }
    break;
  }
}

void lg_residual_add(float *Y, const float *X, const float *g, int n, int D) {
  for (int i = 0; i < n; i++) {
    float *y = Y + (long)i * D;
    const float *x = X + (long)i * D;
    if (g) for (int j = 0; j < D; j++) y[j] += g[j] * x[j];
    else for (int j = 0; j < D; j++) y[j] += x[j];
  }
}
