/*
 * The float32 screen of the graph engine's sparse form (see src/_graph.pyx).
 *
 * For one row i and every column j the caller has a float32 GEMM result
 * g[j] ~ <u_i, u_j> with |g[j] - <u_i, u_j>| <= c0 |u_i| |u_j| (rounding of the
 * inputs to float32 and of the float32 sum, any order).  In "log units"
 *
 *     e_ij = gamma d_ij - log s_j        (entry W_ij s_j = exp(-e_ij)),
 *
 * d_ij = |u_i|^2 + |u_j|^2 - 2 <u_i, u_j>, the screen computes a lower bound
 * lo[j] <= e_ij for every j and returns the smallest upper bound over j != i,
 * so that an entry with lo[j] > min_hi + 60 ln 2 is certainly below 2^-60 of the
 * row's largest off-diagonal entry.  For such an entry exp(-lo[j]) bounds its
 * value from above; mir_pow2_floor_neg gives a power of two at least as large
 * (the dropped mass is an upper bound, which is all the certificate needs).
 */
#ifndef MIR_FAST_GRAPH_H
#define MIR_FAST_GRAPH_H

#include <math.h>
#include <stdint.h>
#include "mir_rowfold.h"

/* 2^-k >= exp(-x) with k = floor(x log2 e), lowered by a hair so that rounding of
 * the product never raises it; clamped at 2^-1000 (the clamp only raises the
 * bound), infinite where the bound would overflow. */
MIR_INLINE double mir_pow2_floor_neg(double x) {
    double k = floor(x * 1.4426950408889634 - (fabs(x) * 0x1p-40 + 0x1p-40));
    double clamped = k > 1000.0 ? 1000.0 : (k < -1000.0 ? -1000.0 : k);
    union { uint64_t u; double d; } bits;
    bits.u = (uint64_t)(1023 - (int64_t)clamped) << 52;
    return k < -1000.0 ? INFINITY : bits.d;
}

/* lo[j] (every j) and the smallest upper bound of e_ij over j != own. */
MIR_MULTIVERSION
MIR_STATIC double mir_screen_row(const float *g, int64_t n, int64_t own, double sq_i,
                                 double nrm_i, const double *sq, const double *nrm,
                                 const double *log_scale, double gamma, double c0,
                                 double *lo) {
    double best = INFINITY;
    for (int64_t j = 0; j < n; j++) {
        double d = sq_i + sq[j] - 2.0 * (double)g[j];
        double slack = 2.0 * c0 * nrm_i * nrm[j] + 0x1p-48 * (sq_i + sq[j]);
        double low = d - slack;
        low = low > 0.0 ? low : 0.0;
        double high = d + slack;
        high = high > 0.0 ? high : 0.0;
        double shift = log_scale ? log_scale[j] : 0.0;
        lo[j] = gamma * low - shift;
        double e_high = gamma * high - shift;
        best = (j != own && e_high < best) ? e_high : best;
    }
    return best;
}

/* Sum of mir_pow2_floor_neg(lo[j]) over the columns that are not candidates
 * (lo[j] > limit, j != own); the candidates' indices go to cand (ascending).
 * Two loops: the sum vectorises, the (rare) candidates are gathered apart. */
MIR_MULTIVERSION
MIR_STATIC int64_t mir_split_row(const double *lo, int64_t n, int64_t own, double limit,
                                 int64_t *cand, double *bound) {
    double sum = 0.0;
    for (int64_t j = 0; j < n; j++) {
        double b = mir_pow2_floor_neg(lo[j]);
        sum += (lo[j] > limit && j != own) ? b : 0.0;
    }
    int64_t count = 0;
    for (int64_t j = 0; j < n; j++) {
        if (j == own || lo[j] <= limit) cand[count++] = j;
    }
    *bound = sum;
    return count;
}

/* <a, b> in double, for the exact distances of the candidates. */
MIR_MULTIVERSION
MIR_STATIC double mir_dot(const double *a, const double *b, int64_t d) {
    double acc = 0.0;
#pragma omp simd reduction(+ : acc)
    for (int64_t k = 0; k < d; k++) acc += a[k] * b[k];
    return acc;
}

#endif
