/*
** The vectorised elementwise kernels of engine/nn/ops.c against libm in double precision: the three
** activations over [-12, 12], softmax rows (incl. extreme logits), LayerNorm statistics, the
** residual add with LayerScale, the activation derivatives, ReLU column sums and LayerNorm backward of
** the LeGrad backward, and NaN propagation (a NaN weight must not turn into a number or
** undefined behaviour).
*/
#include <math.h>
#include <string.h>

#include "check.h"
#include "ops.h"

static double ref_act(lg_act a, double x) {
  switch (a) {
  case LG_ACT_QUICKGELU: return x / (1.0 + exp(-1.702 * x));
  case LG_ACT_GELU: return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
  default: return 0.5 * x * (1.0 + tanh(sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
  }
}

static void test_activations(void) {
  enum { N = 24001 };
  static float x[N], y[N];
  for (int i = 0; i < N; i++) x[i] = -12.0f + 24.0f * (float)i / (N - 1);
  for (int a = 0; a < 3; a++) {
    lg_activation((lg_act)a, x, N, y);
    double worst = 0;
    for (int i = 0; i < N; i++) {
      double r = ref_act((lg_act)a, x[i]);
      double e = fabs(y[i] - r) / (fabs(r) > 1 ? fabs(r) : 1);
      if (e > worst) worst = e;
    }
    CHECK(worst < 5e-7, "activation %d: max error %.3g", a, worst);
  }
  float nan_in[3] = {NAN, 1.0f, -100.0f}, out[3];
  for (int a = 0; a < 3; a++) {
    lg_activation((lg_act)a, nan_in, 3, out);
    CHECK(isnan(out[0]) && fabsf(out[1] - (float)ref_act((lg_act)a, 1.0)) < 1e-6f && fabsf(out[2]) < 1e-30f,
          "activation %d on NaN/1/-100: %g %g %g", a, out[0], out[1], out[2]);
  }
}

/* d/dx of ref_act in double (closed forms; QuickGELU a = 1.702). */
static double ref_act_grad(lg_act a, double x) {
  switch (a) {
  case LG_ACT_QUICKGELU: {
    double sg = 1.0 / (1.0 + exp(-1.702 * x));
    return sg + 1.702 * x * sg * (1.0 - sg);
  }
  case LG_ACT_GELU: return 0.5 * (1.0 + erf(x / sqrt(2.0))) + x * exp(-0.5 * x * x) / sqrt(2.0 * M_PI);
  default: {
    double k = sqrt(2.0 / M_PI), c = 0.044715, th = tanh(k * (x + c * x * x * x));
    return 0.5 * (1.0 + th) + 0.5 * x * (1.0 - th * th) * k * (1.0 + 3.0 * c * x * x);
  }
  }
}

/* lg_activation_grad against the double closed forms (float rounding of the fast exp, up to
** 2e-6 absolute for the tanh form); lg_relu_colsum against a plain loop. */
static void test_activation_grad_relu_colsum(void) {
  enum { N = 24001 };
  static float x[N], y[N];
  for (int i = 0; i < N; i++) x[i] = -12.0f + 24.0f * (float)i / (N - 1);
  for (int a = 0; a < 3; a++) {
    lg_activation_grad((lg_act)a, x, N, y);
    double worst = 0;
    for (int i = 0; i < N; i++) {
      double e = fabs(y[i] - ref_act_grad((lg_act)a, x[i]));
      if (e > worst) worst = e;
    }
    CHECK(worst < 3e-6, "activation grad %d: max abs error %.3g", a, worst);
  }
  enum { R = 7, C = 37, LD = 41 };
  float A[R * LD], acc[C];
  double ref[C] = {0};
  for (int i = 0; i < R * LD; i++) A[i] = sinf(1.3f * (float)i);
  for (int j = 0; j < C; j++) acc[j] = 1.0f;
  for (int i = 0; i < R; i++)
    for (int j = 0; j < C; j++) ref[j] += A[i * LD + j] > 0 ? A[i * LD + j] : 0;
  lg_relu_colsum(A, R, C, LD, acc);
  double worst = 0;
  for (int j = 0; j < C; j++) worst = fmax(worst, fabs(acc[j] - 1.0 - ref[j]));
  CHECK(worst < 1e-5, "relu colsum: max error %.3g", worst);
}

/* lg_layernorm_backward (with the added gradient c and scale s, and without) against the formula
** in double: rows of D = 37 (not a multiple of 16) with an offset mean. */
static void test_layernorm_backward(void) {
  enum { N = 3, D = 37 };
  float x[N * D], g[N * D], out[N * D], w[D], c[D], sc[D], mean[N], rstd[N];
  for (int i = 0; i < N * D; i++) { x[i] = 3.0f + sinf(0.9f * (float)i); g[i] = cosf(0.4f * (float)i); }
  for (int j = 0; j < D; j++) { w[j] = 1.0f + 0.1f * sinf((float)j); c[j] = 0.01f * (float)j; sc[j] = 0.5f + 0.02f * (float)j; }
  for (int i = 0; i < N; i++) { mean[i] = 3.0f + 0.1f * (float)i; rstd[i] = 1.2f - 0.1f * (float)i; }
  for (int fused = 0; fused < 2; fused++) {
    memcpy(out, g, sizeof g);
    lg_layernorm_backward(x, N, D, mean, rstd, w, fused ? c : NULL, fused ? sc : NULL, out);
    double worst = 0;
    for (int i = 0; i < N; i++) {
      double m1 = 0, m2 = 0;
      for (int j = 0; j < D; j++) {
        double gx = (double)g[i * D + j] * w[j], xh = ((double)x[i * D + j] - mean[i]) * rstd[i];
        m1 += gx / D;
        m2 += gx * xh / D;
      }
      for (int j = 0; j < D; j++) {
        double gx = (double)g[i * D + j] * w[j], xh = ((double)x[i * D + j] - mean[i]) * rstd[i];
        double r = rstd[i] * (gx - m1 - xh * m2);
        if (fused) r = (r + c[j]) * sc[j];
        worst = fmax(worst, fabs(out[i * D + j] - r));
      }
    }
    CHECK(worst < 1e-6, "layernorm backward (fused %d): max error %.3g", fused, worst);
  }
}

static void test_softmax(void) {
  float s[3][40];
  for (int j = 0; j < 40; j++) {
    s[0][j] = 0.37f * (float)(j % 7) - 1.0f;
    s[1][j] = j == 3 ? 80.0f : -80.0f;    /* extreme but finite logits */
    s[2][j] = j == 5 ? NAN : 0.0f;
  }
  double ref[40], sum = 0, mx = s[0][0];
  for (int j = 0; j < 40; j++) mx = s[0][j] > mx ? s[0][j] : mx;
  for (int j = 0; j < 40; j++) sum += ref[j] = exp(s[0][j] - mx);
  lg_softmax_rows(&s[0][0], 3, 33, 40);   /* rows of 33 with stride 40 */
  double worst = 0, tot = 0;
  for (int j = 0; j < 33; j++) {
    double r = ref[j] / (sum - ref[33] - ref[34] - ref[35] - ref[36] - ref[37] - ref[38] - ref[39]);
    worst = fabs(s[0][j] - r) > worst ? fabs(s[0][j] - r) : worst;
    tot += s[0][j];
  }
  CHECK(worst < 1e-7 && fabs(tot - 1) < 1e-6, "softmax: max error %.3g, sum %.9g", worst, tot);
  CHECK(s[0][33] == 0.37f * (float)(33 % 7) - 1.0f, "softmax wrote past the row length");
  CHECK(fabsf(s[1][3] - 1.0f) < 1e-6f && s[1][0] < 1e-30f, "extreme logits: %g %g", s[1][3], s[1][0]);
  CHECK(isnan(s[2][5]) && isnan(s[2][0]), "NaN logit must give NaN probabilities: %g", s[2][0]);
}

static void test_layernorm_residual(void) {
  enum { D = 37 };
  float x[2 * D], w[D], b[D], y[2 * D], mean[2], rstd[2];
  for (int i = 0; i < 2 * D; i++) x[i] = 100.0f + sinf(0.7f * (float)i) * (i < D ? 1.0f : 1e-3f);
  for (int j = 0; j < D; j++) { w[j] = 1.0f + 0.01f * (float)j; b[j] = 0.1f * cosf((float)j); }
  lg_layernorm(x, 2, D, w, b, 1e-5f, y, mean, rstd);
  for (int r = 0; r < 2; r++) {
    double m = 0, v = 0, worst = 0;
    for (int j = 0; j < D; j++) m += x[r * D + j];
    m /= D;
    for (int j = 0; j < D; j++) v += (x[r * D + j] - m) * (x[r * D + j] - m);
    double rs = 1.0 / sqrt(v / D + 1e-5);
    for (int j = 0; j < D; j++) {
      double e = fabs(y[r * D + j] - ((x[r * D + j] - m) * rs * w[j] + b[j]));
      worst = e > worst ? e : worst;
    }
    CHECK(fabs(mean[r] - m) < 1e-4 && fabs(rstd[r] - rs) / rs < 1e-3 && worst < 2e-3,
          "layernorm row %d: mean %g/%g rstd %g/%g err %.3g", r, mean[r], m, rstd[r], rs, worst);
  }
  float a[2 * D], t[2 * D], g[D], out[2 * D];
  for (int i = 0; i < 2 * D; i++) { a[i] = (float)i; t[i] = 0.5f * (float)i; }
  for (int j = 0; j < D; j++) g[j] = (float)j;
  lg_residual(out, a, t, g, 2, D);
  CHECK(out[D + 3] == a[D + 3] + 3.0f * t[D + 3], "residual with LayerScale");
  lg_residual(a, a, t, NULL, 2, D);   /* in place, no LayerScale */
  CHECK(a[5] == 5.0f + 2.5f, "residual in place");
}

int main(void) {
  test_activations();
  test_activation_grad_relu_colsum();
  test_layernorm_backward();
  test_softmax();
  test_layernorm_residual();
  return check_report("test_ops");
}
