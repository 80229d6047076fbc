/*
** Forward building blocks shared by the towers (spec clip-engine.md §4).  Row-major fp32.
**
**   lg_linear(X, n, in, W, b, out, Y)      Y[n,out] = X[n,in] · W[out,in]ᵀ + b   (OpenBLAS sgemm)
**   lg_layernorm(X, n, D, w, b, eps, Y, mean, rstd)   per row; mean/rstd [n] may be NULL
**   lg_softmax_rows(S, n, m, ld)           in place, rows of length m with stride ld
**   lg_activation(act, X, n, Y)            QuickGELU / erf GELU / tanh GELU, elementwise
**   lg_residual(Y, X, B, g, n, D)          Y = X + g ⊙ B (residual add with optional LayerScale)
**   lg_activation_grad(act, X, n, Y)       act'(X), elementwise (the LeGrad backward's MLP gate)
**   lg_relu_colsum(A, rows, n, lda, acc)   acc[j] += Σ_i max(A[i,j], 0) (LeGrad's ReLU column sums)
**   lg_layernorm_backward(X, n, D, mean, rstd, w, c, s, G)   G = (LN backward of G + c) ⊙ s, per row
*/
#ifndef LEGRAD_OPS_H
#define LEGRAD_OPS_H
#include "clip.h"

/* Y[n,out] = X[n,in] · W[out,in]ᵀ (+ b[out] when b != NULL). */
void lg_linear(const float *X, int n, int in, const float *W, const float *b, int out, float *Y);

/* LayerNorm over the last dim D of X[n,D] (biased variance).  Y may equal X. */
void lg_layernorm(const float *X, int n, int D, const float *w, const float *b, float eps, float *Y,
                  float *mean, float *rstd);

/* Softmax over each row S[i, 0..m) (row stride ld), in place. */
void lg_softmax_rows(float *S, int n, int m, int ld);

/* Y[i] = act(X[i]) for i < n.  Y may equal X. */
void lg_activation(lg_act act, const float *X, long n, float *Y);

/* Y = X + g ⊙ B over n rows of D (g [D] LayerScale, NULL = 1): the residual add.  Y may alias X. */
void lg_residual(float *Y, const float *X, const float *B, const float *g, int n, int D);

/* Y[i] = act'(X[i]) for i < n, the derivative of lg_activation.  Y may equal X. */
void lg_activation_grad(lg_act act, const float *X, long n, float *Y);

/* acc[j] += sum over i < rows of max(A[i*lda + j], 0), for j < n (float accumulation). */
void lg_relu_colsum(const float *A, int rows, int n, long lda, float *acc);

/* LayerNorm backward in place over n rows of D, with the forward's per-row statistics: for row i,
** xhat = (X[i] - mean[i])*rstd[i], gx = G[i] ⊙ w, and
**   G[i] <- (rstd[i]*(gx - mean(gx) - xhat*mean(gx ⊙ xhat)) + c) ⊙ s
** where c [D] (a gradient added to every row) and s [D] (a scale) may be NULL (0 and 1).
** Float accumulation in 16 partial sums. */
void lg_layernorm_backward(const float *X, int n, int D, const float *mean, const float *rstd,
                           const float *w, const float *c, const float *s, float *G);

#endif
