/*
 * The CSR kernel's dense head: the products of a tile of unlabelled rows with all
 * labelled rows over the few most frequent features.
 *
 *     g[i n_lab + j] = sum_{k < n_head} u[i n_head + k] * lab_t[k n_lab + j]
 *
 * for i < n_u, j < n_lab, summed in the order k = 0, 1, ... for every (i, j), so a
 * product does not depend on where its row sits in the tile.  The head is thin (a
 * few dozen features) and the labelled side long, so instead of a BLAS GEMM (which
 * packs the labelled head again for every tile) a register block of MIR_HEAD_ROWS
 * unlabelled rows by MIR_HEAD_COLS labelled rows is kept in vector registers while
 * k runs, reading the feature-major labelled head (lab_t, n_head x n_lab) in place.
 */
#ifndef MIR_FAST_HEAD_H
#define MIR_FAST_HEAD_H

#include "mir_rowfold.h"

#define MIR_HEAD_ROWS 4
#define MIR_HEAD_COLS 16

/* One block of rows i0 .. i0 + n_i - 1 by columns j0 .. j0 + n_j - 1, any size. */
MIR_INLINE void mir_head_block_edge(const double *restrict lab_t, int64_t n_lab,
                                    const double *restrict u, int64_t n_head, int64_t i0,
                                    int64_t n_i, int64_t j0, int64_t n_j,
                                    double *restrict g)
{
    int64_t r, jj, k;
    for (r = 0; r < n_i; ++r) {
        const double *ur = u + (i0 + r) * n_head;
        double *gr = g + (i0 + r) * n_lab + j0;
        for (jj = 0; jj < n_j; ++jj)
            gr[jj] = 0.0;
        for (k = 0; k < n_head; ++k) {
            const double *lk = lab_t + k * n_lab + j0;
            for (jj = 0; jj < n_j; ++jj)
                gr[jj] += ur[k] * lk[jj];
        }
    }
}

MIR_MULTIVERSION
MIR_STATIC void mir_head_products(const double *restrict lab_t, int64_t n_lab,
                                  const double *restrict u, int64_t n_u, int64_t n_head,
                                  double *restrict g)
{
    int64_t i0, j0, r, jj, k;
    int64_t full_rows = n_u - n_u % MIR_HEAD_ROWS;
    int64_t full_cols = n_lab - n_lab % MIR_HEAD_COLS;
    for (i0 = 0; i0 < full_rows; i0 += MIR_HEAD_ROWS) {
        for (j0 = 0; j0 < full_cols; j0 += MIR_HEAD_COLS) {
            double acc[MIR_HEAD_ROWS][MIR_HEAD_COLS] = {{0.0}};
            for (k = 0; k < n_head; ++k) {
                const double *lk = lab_t + k * n_lab + j0;
                for (r = 0; r < MIR_HEAD_ROWS; ++r) {
                    double urk = u[(i0 + r) * n_head + k];
#pragma omp simd
                    for (jj = 0; jj < MIR_HEAD_COLS; ++jj)
                        acc[r][jj] += urk * lk[jj];
                }
            }
            for (r = 0; r < MIR_HEAD_ROWS; ++r)
                for (jj = 0; jj < MIR_HEAD_COLS; ++jj)
                    g[(i0 + r) * n_lab + j0 + jj] = acc[r][jj];
        }
        mir_head_block_edge(lab_t, n_lab, u, n_head, i0, MIR_HEAD_ROWS, full_cols,
                            n_lab - full_cols, g);
    }
    mir_head_block_edge(lab_t, n_lab, u, n_head, full_rows, n_u - full_rows, 0, n_lab, g);
}

#endif /* MIR_FAST_HEAD_H */
