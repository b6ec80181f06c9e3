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
#include "mir_local.h"

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

/* The bounds of one entry in log units: *lo <= e_ij <= return value. */
MIR_INLINE double mir_screen_entry(float g, double sq_i, double nrm_i, double sq_j,
                                   double nrm_j, double shift, double gamma, double c0,
                                   double *lo) {
    double d = sq_i + sq_j - 2.0 * (double)g;
    double slack = 2.0 * c0 * nrm_i * nrm_j + 0x1p-48 * (sq_i + sq_j);
    double low = d - slack;
    double high = d + slack;
    *lo = gamma * (low > 0.0 ? low : 0.0) - shift;
    return gamma * (high > 0.0 ? high : 0.0) - shift;
}

/* lo[j] for j in [from, to) and the smallest upper bound over them. */
MIR_INLINE double mir_screen_span(const float *g, int64_t from, int64_t to, double sq_i,
                                  double nrm_i, const double *sq, const double *nrm,
                                  const double *log_scale, double gamma, double c0,
                                  double *lo) {
    double best = INFINITY;
#pragma omp simd reduction(min : best)
    for (int64_t j = from; j < to; j++) {
        double high = mir_screen_entry(g[j], sq_i, nrm_i, sq[j], nrm[j],
                                       log_scale ? log_scale[j] : 0.0, gamma, c0, &lo[j]);
        best = high < best ? high : best;
    }
    return best;
}

/* lo[j] (every j) and the smallest upper bound of e_ij over j != own (own < 0: the
 * row's own column is not among them). */
MIR_MULTIVERSION
MIR_STATIC double mir_screen_row(const float *g, int64_t n, int64_t own, double sq_i,
                                 double nrm_i, const double *sq, const double *nrm,
                                 const double *log_scale, double gamma, double c0,
                                 double *lo) {
    double before = mir_screen_span(g, 0, own, sq_i, nrm_i, sq, nrm, log_scale, gamma, c0, lo);
    double after = mir_screen_span(g, own + 1, n, sq_i, nrm_i, sq, nrm, log_scale, gamma,
                                   c0, lo);
    if (own >= 0)
        mir_screen_entry(g[own], sq_i, nrm_i, sq[own], nrm[own],
                         log_scale ? log_scale[own] : 0.0, gamma, c0, &lo[own]);
    return before < after ? before : after;
}

/* lo[j] = gamma lb_ij - log s_j for every j, lb_ij the projection's lower bound of
 * the squared distance (mir_local.h: p, r and nrm the projected squared norm,
 * residual norm and norm of the row, _i, and of the columns), and the position of
 * the smallest over j != own (the first on ties; own when there is none). */
MIR_MULTIVERSION
MIR_STATIC int64_t mir_projected_row(const float *g, int64_t n, int64_t own, double p_i,
                                     double r_i, double nrm_i, const double *p,
                                     const double *r, const double *nrm,
                                     const double *log_scale, double gamma, double e_p,
                                     double e_r, double *lo) {
    double best = INFINITY;
#pragma omp simd reduction(min : best)
    for (int64_t j = 0; j < n; j++) {
        double v = gamma * mir_local_bound(g[j], p_i, r_i, nrm_i, p[j], r[j], nrm[j], e_p, e_r)
                   - (log_scale ? log_scale[j] : 0.0);
        lo[j] = v;
        best = (j != own && v < best) ? v : best;
    }
    for (int64_t j = 0; j < n; j++) {
        if (j != own && lo[j] == best) return j;
    }
    return own;
}

/* The candidates (lo[j] <= limit, and own) counted, and the sum of
 * mir_pow2_floor_neg(lo[j]) over the other columns; vectorised. */
MIR_MULTIVERSION
MIR_STATIC int64_t mir_count_row(const double *lo, int64_t n, int64_t own, double limit,
                                 double *bound) {
    double sum = 0.0;
    int64_t count = 0;
#pragma omp simd reduction(+ : sum, count)
    for (int64_t j = 0; j < n; j++) {
        int candidate = lo[j] <= limit || j == own;
        sum += candidate ? 0.0 : mir_pow2_floor_neg(lo[j]);
        count += candidate;
    }
    *bound = sum;
    return count;
}

/* The candidates' indices (ascending) written to cand; their number returned. */
MIR_MULTIVERSION
MIR_STATIC int64_t mir_gather_row(const double *lo, int64_t n, int64_t own, double limit,
                                  int *cand) {
    int64_t count = 0;
    for (int64_t j = 0; j < n; j++) {
        if (j == own || lo[j] <= limit) cand[count++] = (int)j;
    }
    return count;
}

/* <a, b - mu> in double for a row a already centred (in double), b - mu rounded to
 * double first: the values of the centred float64 copy, for the exact distances of
 * the candidates.  Eight partial sums over k mod 8, added in a fixed order: the
 * same bits wherever the rows sit in memory (a vectorised reduction may peel
 * differently for other alignments). */
#define MIR_DOT_CENTRED(a, b, mu, d)                                                   \
    double lane[8] = {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};                          \
    int64_t k = 0;                                                                     \
    for (; k + 8 <= (d); k += 8)                                                       \
        for (int t = 0; t < 8; t++)                                                    \
            lane[t] += (a)[k + t] * ((double)(b)[k + t] - (mu)[k + t]);                \
    for (int t = 0; k + t < (d); t++)                                                  \
        lane[t] += (a)[k + t] * ((double)(b)[k + t] - (mu)[k + t]);                    \
    return ((lane[0] + lane[4]) + (lane[2] + lane[6]))                                 \
           + ((lane[1] + lane[5]) + (lane[3] + lane[7]));

MIR_MULTIVERSION
MIR_STATIC double mir_dot_centred_f32(const double *a, const float *b, const double *mu,
                                      int64_t d) {
    MIR_DOT_CENTRED(a, b, mu, d)
}

MIR_MULTIVERSION
MIR_STATIC double mir_dot_centred_f64(const double *a, const double *b, const double *mu,
                                      int64_t d) {
    MIR_DOT_CENTRED(a, b, mu, d)
}

#endif
