/*
 * Lower bounds of squared distances from a projection, for the exact pass's local
 * path (see mir_fast/_core/local.py for the bound and its proof).
 *
 * With p = P (x - mean) the projected coordinates, r the norm of the residual
 * (x - mean) - P^T p and n = |x - mean|, a lower bound of ||u - l||^2 is
 *
 *     lb = max(|p_u|^2 + |p_l|^2 - 2 <p_u, p_l> - e_p (n_u + n_l)^2, 0)
 *        + max(|r_u - r_l| - e_r (n_u + n_l), 0)^2,
 *
 * e_p and e_r covering P's distance from an orthonormal basis and every rounding
 * (the dot products g come from a float32 product of the rounded projections).
 */
#ifndef MIR_FAST_LOCAL_H
#define MIR_FAST_LOCAL_H

#include <math.h>
#include <stdint.h>
#include "mir_rowfold.h"

/* The bound of one pair (g ~ <p_u, p_l>, float32). */
MIR_INLINE double mir_local_bound(float g, double pu_sq, double r_u, double n_u,
                                  double pl_sq, double r_l, double n_l, double e_p,
                                  double e_r)
{
    double reach = n_u + n_l;
    double projected = pu_sq + pl_sq - 2.0 * (double)g - e_p * reach * reach;
    projected = projected > 0.0 ? projected : 0.0;
    double residual = fabs(r_u - r_l) - e_r * reach;
    residual = residual > 0.0 ? residual : 0.0;
    return projected + residual * residual;
}

/* lb[j] for one row (g[j] ~ <p_u, p_l_j>, float32); returns the position of the
 * smallest (the first on ties). */
MIR_MULTIVERSION
MIR_STATIC int64_t mir_local_bounds(const float *g, int64_t n, double pu_sq, double r_u,
                                    double n_u, const double *pl_sq, const double *r_l,
                                    const double *n_l, double e_p, double e_r, double *lb)
{
    double best = INFINITY;
#pragma omp simd reduction(min : best)
    for (int64_t j = 0; j < n; j++) {
        double bound = mir_local_bound(g[j], pu_sq, r_u, n_u, pl_sq[j], r_l[j], n_l[j], e_p,
                                       e_r);
        lb[j] = bound;
        best = bound < best ? bound : best;
    }
    for (int64_t j = 0; j < n; j++) {
        if (lb[j] == best) return j;
    }
    return 0;
}

/* Positions j with lb[j] <= limit, ascending, into cand; their number. */
MIR_MULTIVERSION
MIR_STATIC int64_t mir_local_candidates(const double *lb, int64_t n, double limit,
                                        int64_t *cand)
{
    int64_t count = 0;
    for (int64_t j = 0; j < n; j++) {
        if (lb[j] <= limit) cand[count++] = j;
    }
    return count;
}

#endif
