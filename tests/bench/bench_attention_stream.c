// Streaming (core/attention_stream.h) vs materialised (core/attention.h) attention, forward +
// backward, for the three variants at d_model 256, head_dim 32 (Transformer 8 heads of 32,
// DIFF / DINT 4 heads of 2 x 32 with v of 64), one sequence.
//
//   bench_attention_stream [threads (1)] [T ...]      default T: 1024 4096
//
// GFLOP/s counts the useful flops of causal attention, the same number for both kernels:
// per head and map, T (T + 1) / 2 (query, key) pairs times 2 (d + v_dim) flops forward
// (Q K^T, P V) and 2 (2 d + 2 v_dim) backward (dP, dV, dQ, dK). The materialised kernel
// actually multiplies the full (T, T) squares (about twice that), the streaming one recomputes
// Q K^T in the backward (one more d term). The time of each kernel is the best of a few runs.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attention.h"
#include "attention_stream.h"
#include "bench_util.h"
#include "check.h"
#include "clock.h"
#include "config.h"
#include "layers.h"

static AttnDims bench_dims(Variant var, int T) {
    AttnDims a;
    memset(&a, 0, sizeof a);
    int D = 256, d = 32;
    a.T = T;
    a.qk_dim = d;
    a.ld = D;
    a.n_maps = var == VARIANT_TRANSFORMER ? 1 : 2;
    a.n_heads = var == VARIANT_TRANSFORMER ? D / d : D / (2 * d);
    a.v_dim = var == VARIANT_TRANSFORMER ? d : 2 * d;
    a.use_global = var == VARIANT_DINT;
    a.g_mode = GMODE_CAUSAL;
    return a;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    int Ts[8] = {1024, 4096}, nT = 2;
    if (argc > 2) {
        nT = 0;
        for (int i = 2; i < argc && nT < 8; i++) Ts[nT++] = atoi(argv[i]);
    }
    threads_init(threads);
    const char *names[] = {"transformer", "diff", "dint-causal"};
    const Variant vars[] = {VARIANT_TRANSFORMER, VARIANT_DIFF, VARIANT_DINT};
    printf("threads %d, d_model 256, head_dim 32, B 1; times: best of the runs, fwd+bwd\n",
           threads);
    printf("%-12s %5s %10s %10s %10s %10s %8s %12s %12s\n", "variant", "T", "mat ms", "mat GF/s",
           "str ms", "str GF/s", "speedup", "mat MB", "str MB");
    for (int ti = 0; ti < nT; ti++)
        for (int vi = 0; vi < 3; vi++) {
            int T = Ts[ti];
            AttnDims a = bench_dims(vars[vi], T);
            long n = (long)T * a.ld;
            long nmaps = (long)a.n_heads * a.n_maps * T * T;
            float *q = xmalloc(sizeof(float) * n), *k = xmalloc(sizeof(float) * n);
            float *v = xmalloc(sizeof(float) * n), *dout = xmalloc(sizeof(float) * n);
            float *out = xmalloc(sizeof(float) * n), *o1 = xmalloc(sizeof(float) * n);
            float *o2 = xmalloc(sizeof(float) * n), *dq = xmalloc(sizeof(float) * n);
            float *dk = xmalloc(sizeof(float) * n), *dv = xmalloc(sizeof(float) * n);
            float *lse = xmalloc(sizeof(float) * a.n_heads * a.n_maps * T);
            for (long i = 0; i < n; i++) {
                q[i] = bench_urand(), k[i] = bench_urand(), v[i] = bench_urand(),
                dout[i] = bench_urand();
            }
            float lambda = 0.6f, gamma = 0.6f;
            double dl, dg;
            int reps = T <= 1024 ? 3 : 1;
            double tm = 1e30, ts = 1e30;
            float *maps = xmalloc(sizeof(float) * (size_t)nmaps);
            for (int r = 0; r < reps; r++) {
                double t0 = now_seconds();
                attention_forward(out, o1, o2, maps, q, k, v, lambda, gamma, 1, &a);
                attention_backward(dq, dk, dv, &dl, &dg, dout, o1, o2, maps, q, k, v, lambda, gamma,
                                   1, &a);
                double t1 = now_seconds();
                tm = fmin(tm, t1 - t0);
            }
            free(maps);
            for (int r = 0; r < reps; r++) {
                double t0 = now_seconds();
                attention_stream_forward(out, o1, o2, lse, q, k, v, lambda, gamma, 1, &a);
                attention_stream_backward(dq, dk, dv, &dl, &dg, dout, a.n_maps == 1 ? out : o1, o2,
                                          lse, q, k, v, lambda, gamma, 1, &a);
                double t1 = now_seconds();
                ts = fmin(ts, t1 - t0);
            }
            double pairs = (double)T * (T + 1) / 2 * a.n_heads * a.n_maps;
            double flops =
                pairs * (2.0 * (a.qk_dim + a.v_dim) + 2.0 * (2 * a.qk_dim + 2 * a.v_dim));
            // Attention-specific memory beyond q, k, v, out, o1, o2 and the gradients: the maps
            // plus the (T, T) dA buffer per thread vs lse plus 2 (T, v_dim) per thread.
            double mat_mb = (nmaps + (double)threads * T * T) * 4 / 1e6;
            double str_mb =
                (a.n_heads * a.n_maps * (double)T + 2.0 * threads * T * a.v_dim) * 4 / 1e6;
            printf("%-12s %5d %10.1f %10.2f %10.1f %10.2f %7.2fx %12.1f %12.2f\n", names[vi], T,
                   tm * 1e3, flops / tm / 1e9, ts * 1e3, flops / ts / 1e9, tm / ts, mat_mb, str_mb);
            fflush(stdout);
            free(q), free(k), free(v), free(dout), free(out), free(o1), free(o2);
            free(dq), free(dk), free(dv), free(lse);
        }
    return 0;
}
