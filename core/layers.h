// Dense layers of the decoder, each a *_forward / *_backward pair. Outputs first, inputs next,
// shapes last; backward functions accumulate (+=) into input and weight gradients.
// Weights are stored (out, in) as in PyTorch, so y = x W^T.
#ifndef DINT_LAYERS_H
#define DINT_LAYERS_H

// Use n OpenMP threads; OpenBLAS is kept single-threaded and called from inside them.
void threads_init(int n);
int threads_count(void);

// torch: out = in @ w.T            out (N, OC), in (N, IC), w (OC, IC)
void matmul_forward(float *out, const float *in, const float *w, int N, int IC, int OC);
// n_w products of one input, out[j] = in @ w[j].T (the q, k and v projections): the same sgemm
// calls as n_w matmul_forward, in one parallel region, each row block of `in` used by all of
// them while it is in cache. Bit-identical to the separate calls.
void matmul_forward_shared(float *const *out, const float *in, const float *const *w, int n_w,
                           int N, int IC, int OC);
void matmul_forward_ref(float *out, const float *in, const float *w, int N, int IC, int OC);
// din += dout @ w ; dw += dout.T @ in   (din or dw may be NULL)
void matmul_backward(float *din, float *dw, const float *dout, const float *in, const float *w,
                     int N, int IC, int OC);
// The same with din written (din = dout @ w) instead of accumulated; dw still accumulates.
void matmul_backward_write(float *din, float *dw, const float *dout, const float *in,
                           const float *w, int N, int IC, int OC);
// Their backward: din = sum_j dout[j] @ w[j] (written), dw[j] += dout[j].T @ in; the same bits
// as matmul_backward_write for j = 0 then matmul_backward for the others.
void matmul_backward_shared(float *din, float *const *dw, const float *const *dout, const float *in,
                            const float *const *w, int n_w, int N, int IC, int OC);
void matmul_backward_ref(float *din, float *dw, const float *dout, const float *in, const float *w,
                         int N, int IC, int OC);

// torch: out = x * rsqrt(mean(x^2) + eps) * gain      out, in (N, C); rstd (N); gain (C) or NULL
void rmsnorm_forward(float *out, float *rstd, const float *in, const float *gain, int N, int C,
                     float eps);
void rmsnorm_backward(float *din, float *dgain, const float *dout, const float *in,
                      const float *gain, const float *rstd, int N, int C);
// out = RMSNorm(in) * post_scale (the per-head norm's 1 - lambda_init): the same bits as a
// separate scaling pass.
void rmsnorm_forward_scaled(float *out, float *rstd, const float *in, const float *gain,
                            float post_scale, int N, int C, float eps);
// rmsnorm_backward with din written (not accumulated) and the upstream gradient dout *
// dout_scale (rounded to fp32, as a separate scaling pass would); dgain still accumulates.
void rmsnorm_backward_write(float *din, float *dgain, const float *dout, float dout_scale,
                            const float *in, const float *gain, const float *rstd, int N, int C);
// x += res, then out = RMSNorm(x): the residual add fused into the norm that reads the sum.
void residual_rmsnorm_forward(float *out, float *rstd, float *x, const float *res,
                              const float *gain, int N, int C, float eps);

// Rotary tables for positions [0, T): cos, sin (T, d/2); pair i has frequency theta^(-2i/d).
void rope_tables(float *cos_t, float *sin_t, int T, int d, float theta);
// Interleaved (GPT-J) rotary on every d-wide chunk of every row, in place.
// x (B, T, C) with C a multiple of d; row t uses position t.
void rope_forward(float *x, const float *cos_t, const float *sin_t, int B, int T, int C, int d);
// The transpose rotation, applied to a gradient in place.
void rope_backward(float *dx, const float *cos_t, const float *sin_t, int B, int T, int C, int d);

// torch: h = silu(gate) * up         h (N, F); gate, up (N, F) with row stride ld (2F when they
// are the two halves of one (N, 2F) product). sigmoid is vec_math's sigmoid_array.
void swiglu_forward(float *h, const float *gate, const float *up, int N, int F, int ld);
// dgate, dup (N, F), row stride ld, are written (not accumulated); dh (N, F).
void swiglu_backward(float *dgate, float *dup, const float *dh, const float *gate, const float *up,
                     int N, int F, int ld);

// torch: out = wte[tokens]           out (N, C), wte (V, C)
void embedding_forward(float *out, const int *tokens, const float *wte, int N, int C);
void embedding_backward(float *dwte, const float *dout, const int *tokens, int N, int C);

// A target that scores nothing: its row still gets probabilities, its loss and gradient are 0
// (training mixtures score only the answers of task episodes this way).
#define TARGET_IGNORE (-1)

// Softmax cross-entropy over rows of logits (N, V), in place: logits become probabilities.
// Returns the summed NLL (in double) over scored rows; nll (N) gets each row's loss (0 for
// TARGET_IGNORE rows).
double cross_entropy_forward(float *logits, float *nll, const int *targets, int N, int V);
// dlogits = (probs - onehot(target)) * scale, written (not accumulated); 0 on ignored rows.
void cross_entropy_backward(float *dlogits, const float *probs, const int *targets, float scale,
                            int N, int V);

#endif
