"""The RBF graph engine's compiled passes: the sparse form's product and its
extraction from blocks of affinity rows.

``sparse_product``: ``out[i] = left[i] * sum_p data[p] F[indices[p]]`` over the
CSR row ``i`` of the sparse form, with the row sums of ``out`` (the certificate's
scale).  Each entry is summed in storage order, as scipy's CSR product does, so
the result does not depend on the thread count or the column panels.

``extract_kept``: one pass over a block of affinity rows (``W[rows]``, n columns,
the diagonal already set) that keeps the diagonal and every entry of at least
``ratio`` times the row's largest off-diagonal entry (exact zeros are never
kept: they add nothing to a product or to the dropped mass), and returns, per row, the
degree (the sum of every entry, in column order), the kept entries (times the
optional column scale) and the dropped mass (the sum of the scaled entries not
kept).  The module ``mir_fast._core.graph`` documents the bound these feed.
"""

import numpy as np

from cython.parallel cimport prange
from libc.stdint cimport int64_t

from _fused cimport data_t, index_t
from _openmp_shim cimport mir_omp_thread_id
from libc.math cimport exp, log, fabs, INFINITY

cdef extern from "mir_graph.h" nogil:
    double mir_screen_row(const float *g, int64_t n, int64_t own, double sq_i,
                          double nrm_i, const double *sq, const double *nrm,
                          const double *log_scale, double gamma, double c0, double *lo)
    int64_t mir_projected_row(const float *g, int64_t n, int64_t own, double p_i, double r_i,
                              double nrm_i, const double *p, const double *r,
                              const double *nrm, const double *log_scale, double gamma,
                              double e_p, double e_r, double *lo)
    int64_t mir_count_row(const double *lo, int64_t n, int64_t own, double limit,
                          double *bound)
    int64_t mir_gather_row(const double *lo, int64_t n, int64_t own, double limit, int *cand)
    double mir_dot_centred_f32(const double *a, const float *b, const double *mu, int64_t d)
    double mir_dot_centred_f64(const double *a, const double *b, const double *mu, int64_t d)

#: Rows per chunk of the parallel loops (fixed: results do not depend on threads).
DEF CHUNK = 64
#: Candidates of a row the screen's first pass gathers (more: gathered again later).
DEF GATHER_CAP = 2048


cdef inline double _scale_row(double *row, int64_t k, double factor) noexcept nogil:
    """Multiply ``row`` (k entries) by ``factor`` in place; return its sum (in order)."""
    cdef int64_t c
    cdef double total = 0.0
    for c in range(k):
        row[c] = row[c] * factor
        total = total + row[c]
    return total


def sparse_product(const double[::1] data, const index_t[::1] indices,
                   const index_t[::1] indptr, const double[:, ::1] F,
                   const double[::1] left, const unsigned char[::1] live,
                   double[:, ::1] out, double[::1] row_sums, int64_t panel, int n_threads):
    """``out = diag(left) K F`` for the CSR matrix K, and ``row_sums = out.sum(1)``;
    the rows of F with ``live[j] == 0`` are zero and skipped.

    Each thread takes a contiguous range of rows and walks it once per panel of
    ``panel`` columns of F, so that the panel (n x panel doubles, chosen by the
    caller to fit the core's cache) is read from cache, not memory, by every row.
    """
    cdef int64_t n = out.shape[0], k = F.shape[1]
    cdef int64_t t, i, p, c, c0, c1, lo, hi
    cdef int64_t n_parts = max(1, min(n_threads, n))
    cdef double v
    cdef double *o
    cdef const double *f
    if n == 0:
        return
    if panel < 1:
        panel = k
    with nogil:
        for t in prange(n_parts, num_threads=n_threads, schedule='static', chunksize=1):
            lo = t * n // n_parts
            hi = (t + 1) * n // n_parts
            for i in range(lo, hi):
                o = &out[i, 0]
                for c in range(k):
                    o[c] = 0.0
            c0 = 0
            while c0 < k:
                c1 = min(c0 + panel, k)
                for i in range(lo, hi):
                    o = &out[i, 0]
                    for p in range(indptr[i], indptr[i + 1]):
                        if live[indices[p]] == 0:
                            continue
                        v = data[p]
                        f = &F[indices[p], 0]
                        for c in range(c0, c1):
                            o[c] += v * f[c]
                c0 = c1
            for i in range(lo, hi):
                row_sums[i] = _scale_row(&out[i, 0], k, left[i])


def extract_kept(double[:, ::1] W, const int64_t[::1] rows, const double[::1] column_scale,
                 bint scaled, double ratio, int n_threads):
    """Kept entries of a block of affinity rows (see the module docstring); ``W``
    is overwritten (each row's kept values are moved to its front).

    Returns
    -------
    indptr : int64 array (len(rows) + 1), indices : int32, data : float64
        The kept entries as CSR rows (times ``column_scale`` when ``scaled``).
    degrees, dropped : float64 arrays (len(rows))
    """
    cdef int64_t m = W.shape[0], n = W.shape[1]
    cdef int64_t r, j, own, kept
    cdef double top, w, threshold, deg, lost
    cdef double *row
    cdef int *at
    kept_np = np.zeros(m, dtype=np.int64)
    degrees_np = np.empty(m)
    dropped_np = np.empty(m)
    cdef int64_t[::1] kept_counts = kept_np
    cdef double[::1] degrees = degrees_np, dropped = dropped_np
    if m == 0:
        return (np.zeros(1, dtype=np.int64), np.empty(0, dtype=np.int32), np.empty(0),
                degrees_np, dropped_np)
    where_np = np.empty((m, n), dtype=np.int32)
    cdef int[:, ::1] where = where_np
    with nogil:
        for r in prange(m, num_threads=n_threads, schedule='static', chunksize=CHUNK):
            row = &W[r, 0]
            at = &where[r, 0]
            own = rows[r]
            deg = 0.0
            top = 0.0
            for j in range(n):
                w = row[j]
                deg = deg + w
                if scaled:
                    w = w * column_scale[j]
                    row[j] = w
                if j != own and w > top:
                    top = w
            degrees[r] = deg
            threshold = ratio * top
            kept = 0
            lost = 0.0
            for j in range(n):  # kept values moved to the row's front (kept <= j)
                w = row[j]
                if j == own or (w >= threshold and w > 0.0):
                    at[kept] = <int>j
                    row[kept] = w
                    kept = kept + 1
                else:
                    lost = lost + w
            kept_counts[r] = kept
            dropped[r] = lost
    return _compact_rows(kept_np, np.arange(m, dtype=np.int64) * n, where_np.reshape(-1),
                         np.asarray(W).reshape(-1), n_threads) + (degrees_np, dropped_np)


cdef inline void _centre(const data_t[:, ::1] X, const double[::1] mean, int64_t i,
                         double *out) noexcept nogil:
    """Row ``i`` of X minus the mean, in double (the centred float64 copy's row)."""
    cdef int64_t k
    for k in range(X.shape[1]):
        out[k] = <double>X[i, k] - mean[k]


cdef inline double _sq_distance(const data_t[:, ::1] X, const double[::1] mean,
                                const double[::1] sq, int64_t i, const double *centred_i,
                                int64_t j) noexcept nogil:
    """``|u_i|^2 + |u_j|^2 - 2 <u_i, u_j>`` of the centred rows (``centred_i``: row
    ``i`` centred, from ``_centre``), clamped at 0 (the values of the float64 pass)."""
    cdef double w
    if data_t is float:
        w = mir_dot_centred_f32(centred_i, &X[j, 0], &mean[0], X.shape[1])
    else:
        w = mir_dot_centred_f64(centred_i, &X[j, 0], &mean[0], X.shape[1])
    w = sq[i] + sq[j] - 2.0 * w
    return w if w > 0.0 else 0.0


def screened_kept(const float[:, ::1] G, const int64_t[::1] rows, const int64_t[::1] own_at,
                  const int64_t[::1] columns, const data_t[:, ::1] X, const double[::1] mean,
                  const double[::1] sq, const double[::1] row_nrm, const double[::1] col_sq,
                  const double[::1] col_nrm, const double[::1] row_p, const double[::1] col_p,
                  const double[::1] row_r, const double[::1] col_r, const double[::1] log_scale,
                  const double[::1] column_scale, bint scaled, double gamma, bint projected,
                  double c0, double e_p, double e_r, double diagonal, double ratio,
                  const double[::1] depths, bint keep_candidates, double max_share,
                  int n_threads):
    """``extract_kept`` from a float32 product ``G`` (rows x columns, ``~ X[rows] @
    X[columns].T``) with its error bound ``c0 |u||v|``: the entries the bound cannot
    rule out are computed exactly from ``X - mean`` (in float64); the others only
    enter the dropped mass, by an upper bound (``mir_graph.h``), and are left out of
    the degrees (which are then low by at most that mass).  Returns None, having
    done no exact work, when more than ``max_share`` of the block's entries are
    candidates.

    The columns are ``columns`` (ascending; every input when empty); ``own_at[r]`` is
    the position of ``rows[r]`` among them (-1: absent).  ``sq``: every input's
    squared centred norm; ``row_*`` and ``col_*``: the norms (and, projected, the
    projections' squared norms ``p`` and residual norms ``r``) of the rows and of
    the columns; ``log_scale`` and ``column_scale`` per column.

    With ``projected``, ``G`` holds the products of the rows' projections instead
    (``mir_local.h``, margins ``e_p``, ``e_r``), and the limit of row ``i`` comes from
    the computed entry of the column of smallest bound, ``j*``: every column kept
    has a computed ``e_ij <= e_ij* + 60 ln 2`` and so a true one below ``e_ij* + 60
    ln 2 + gamma delta_i``, ``delta_i = (d + 8) 2^-52 1.01 (|u_i|^2 + max_j
    |u_j|^2)`` bounding the rounding of a computed squared distance (centring,
    ``d`` products, the norms).

    With ``depths`` (one per row, else empty) row ``r`` keeps every non-zero entry of
    at least ``exp(-depths[r])`` instead (found among the entries the bound cannot
    put below it, exact), and its dropped mass bounds the others.  With
    ``keep_candidates`` it keeps every candidate (a superset of the entries within
    ``ratio`` of the largest in units of ``log_scale``, which then need not be
    those of ``column_scale``; the dropped mass is then meaningless).

    Two passes over each row: the first bounds and counts the candidates (and
    gathers them when there are at most ``GATHER_CAP``), the second moves them into
    storage of their size (the bounds recomputed, bit for bit, for the rows with
    more) and computes them.
    """
    cdef int64_t m = G.shape[0], n = G.shape[1], d = X.shape[1]
    cdef int64_t r, q, j, own, at, count, kept, start
    cdef int64_t cap = min(n, GATHER_CAP)
    cdef double top, w, ws, deg, lost, threshold, bound, u_best
    cdef double *lo
    cdef double *centred
    cdef int *cand
    cdef double *vals
    cdef const double *ls = &log_scale[0] if scaled else NULL
    cdef const int64_t *col = &columns[0] if columns.shape[0] > 0 else NULL
    cdef double drop_log = -log(ratio)
    cdef bint deep = depths.shape[0] > 0
    cdef double rounding = 1.01 * (d + 8) * 2.0**-52 * gamma
    cdef double sq_max = np.max(col_sq) if n > 0 else 0.0
    counts_np = np.zeros(m + 1, dtype=np.int64)
    kept_np = np.zeros(m, dtype=np.int64)
    degrees_np = np.zeros(m)
    dropped_np = np.zeros(m)
    bounds_np = np.zeros(m)
    limits_np = np.zeros(m)
    cdef int64_t[::1] counts = counts_np, kept_counts = kept_np
    cdef double[::1] degrees = degrees_np, dropped = dropped_np, bounds = bounds_np
    cdef double[::1] limits = limits_np
    if m == 0 or n == 0:
        return (np.zeros(m + 1, dtype=np.int64), np.empty(0, dtype=np.int32), np.empty(0),
                degrees_np, dropped_np)
    scratch_np = np.empty((n_threads, n + d))
    cdef double[:, ::1] scratch = scratch_np
    gathered_np = np.empty((m, cap), dtype=np.int32)
    cdef int[:, ::1] gathered = gathered_np
    with nogil:
        for r in prange(m, num_threads=n_threads, schedule='static', chunksize=CHUNK):
            lo = &scratch[mir_omp_thread_id(), 0]
            centred = &scratch[mir_omp_thread_id(), n]
            at = own_at[r]
            own = rows[r]
            if projected:
                j = mir_projected_row(&G[r, 0], n, at, row_p[r], row_r[r], row_nrm[r],
                                      &col_p[0], &col_r[0], &col_nrm[0], ls, gamma, e_p, e_r,
                                      lo)
                u_best = INFINITY
                if j >= 0 and j != at:
                    _centre(X, mean, own, centred)
                    u_best = (gamma * _sq_distance(X, mean, sq, own, centred,
                                                   col[j] if col else j)
                              - (ls[j] if scaled else 0.0))
                u_best = u_best + rounding * (sq[own] + sq_max)
            else:
                u_best = mir_screen_row(&G[r, 0], n, at, sq[own], row_nrm[r], &col_sq[0],
                                        &col_nrm[0], ls, gamma, c0, lo)
            if deep:
                limits[r] = depths[r] + 1e-12 * (fabs(depths[r]) + 1.0)
                if projected:
                    limits[r] = limits[r] + rounding * (sq[own] + sq_max)
            else:
                limits[r] = u_best + drop_log + 1e-12 * (fabs(u_best) + 1.0)
            count = mir_count_row(lo, n, at, limits[r], &bound)
            counts[r + 1] = count
            bounds[r] = bound
            if count <= cap:
                mir_gather_row(lo, n, at, limits[r], &gathered[r, 0])
    np.cumsum(counts_np, out=counts_np)
    if counts_np[m] > max_share * m * n:
        return None
    cand_np = np.empty(counts_np[m], dtype=np.int32)
    vals_np = np.empty(counts_np[m])
    cdef int[::1] cand_all = cand_np
    cdef double[::1] vals_all = vals_np
    with nogil:
        for r in prange(m, num_threads=n_threads, schedule='static', chunksize=CHUNK):
            lo = &scratch[mir_omp_thread_id(), 0]
            centred = &scratch[mir_omp_thread_id(), n]
            at = own_at[r]
            own = rows[r]
            start = counts[r]
            cand = &cand_all[start]
            vals = &vals_all[start]
            count = counts[r + 1] - start
            if count <= cap:
                for q in range(count):
                    cand[q] = gathered[r, q]
            else:  # the bounds again, bit for bit
                if projected:
                    mir_projected_row(&G[r, 0], n, at, row_p[r], row_r[r], row_nrm[r],
                                      &col_p[0], &col_r[0], &col_nrm[0], ls, gamma, e_p, e_r,
                                      lo)
                else:
                    mir_screen_row(&G[r, 0], n, at, sq[own], row_nrm[r], &col_sq[0],
                                   &col_nrm[0], ls, gamma, c0, lo)
                mir_gather_row(lo, n, at, limits[r], cand)
            _centre(X, mean, own, centred)
            deg = 0.0
            top = 0.0
            for q in range(count):
                j = cand[q]
                if j == at:
                    w = diagonal
                else:
                    w = exp(-gamma * _sq_distance(X, mean, sq, own, centred,
                                                  col[j] if col else j))
                deg = deg + w
                ws = w * column_scale[j] if scaled else w
                vals[q] = ws
                if j != at and ws > top:
                    top = ws
                if col:
                    cand[q] = <int>col[j]
            degrees[r] = deg
            if deep:
                threshold = exp(-depths[r])
            else:
                threshold = 0.0 if keep_candidates else ratio * top
            lost = bounds[r]
            kept = 0
            for q in range(count):
                if cand[q] == own or (vals[q] >= threshold and vals[q] > 0.0):
                    cand[kept] = cand[q]
                    vals[kept] = vals[q]
                    kept = kept + 1
                else:
                    lost = lost + vals[q]
            kept_counts[r] = kept
            dropped[r] = lost
    return _compact_rows(kept_np, counts_np, cand_np, vals_np, n_threads) + (degrees_np,
                                                                               dropped_np)


def _compact_rows(const int64_t[::1] counts, const int64_t[::1] starts, const int[::1] indices,
                  const double[::1] values, int n_threads):
    """(indptr, indices, data) of the CSR rows whose entries are the first
    ``counts[r]`` of ``indices`` / ``values`` from ``starts[r]`` on."""
    cdef int64_t m = counts.shape[0], r, q
    indptr_np = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr_np[1:])
    indices_np = np.empty(indptr_np[m], dtype=np.int32)
    data_np = np.empty(indptr_np[m])
    cdef int64_t[::1] indptr = indptr_np
    cdef int[::1] out_indices = indices_np
    cdef double[::1] data = data_np
    with nogil:
        for r in prange(m, num_threads=n_threads, schedule='static', chunksize=CHUNK):
            for q in range(counts[r]):
                out_indices[indptr[r] + q] = indices[starts[r] + q]
                data[indptr[r] + q] = values[starts[r] + q]
    return indptr_np, indices_np, data_np


cdef inline int64_t _significant_entries(const double *row, int64_t m, int64_t group,
                                         double ratio, int *indices, double *data) noexcept nogil:
    """The entries of ``row`` of at least ``ratio`` times their vector's mass (``group``
    columns each), exact zeros left out: counted, and written to ``indices`` /
    ``data`` unless they are NULL."""
    cdef int64_t g = 0, c, kept = 0
    cdef double mass, threshold, f
    while g < m:
        mass = 0.0
        for c in range(g, g + group):
            mass = mass + row[c]
        threshold = ratio * mass
        for c in range(g, g + group):
            f = row[c]
            if f > 0.0 and f >= threshold:
                if indices != NULL:
                    indices[kept] = <int>c
                    data[kept] = f
                kept = kept + 1
        g = g + group
    return kept


def significant_rows(const double[:, ::1] F, int64_t group, double ratio,
                     int64_t max_entries, int n_threads):
    """The entries of F (>= 0) of at least ``ratio`` times the row mass of their
    vector (``group`` columns side by side; exact zeros never kept), as CSR
    ``(indptr, indices, data)``, or None when more than ``max_entries`` would be
    kept (counted first, nothing allocated: then the dense product is cheaper).
    Rows in parallel, columns in order."""
    cdef int64_t n = F.shape[0], m = F.shape[1]
    cdef int64_t i
    counts_np = np.zeros(n + 1, dtype=np.int64)
    cdef int64_t[::1] counts = counts_np
    if group < 1 or m % group:
        group = m
    with nogil:
        for i in prange(n, num_threads=n_threads, schedule='static', chunksize=CHUNK):
            counts[i + 1] = _significant_entries(&F[i, 0], m, group, ratio, NULL, NULL)
    np.cumsum(counts_np, out=counts_np)
    if counts_np[n] > max_entries:
        return None
    indices_np = np.empty(max(counts_np[n], 1), dtype=np.int32)
    data_np = np.empty(max(counts_np[n], 1))
    cdef int[::1] indices = indices_np
    cdef double[::1] data = data_np
    with nogil:
        for i in prange(n, num_threads=n_threads, schedule='static', chunksize=CHUNK):
            _significant_entries(&F[i, 0], m, group, ratio, &indices[counts[i]],
                                 &data[counts[i]])
    return counts_np, indices_np[: counts_np[n]], data_np[: counts_np[n]]


def sparse_sparse_product(const double[::1] data, const index_t[::1] indices,
                          const index_t[::1] indptr, const int64_t[::1] f_indptr,
                          const int[::1] f_indices, const double[::1] f_data,
                          const double[::1] left, double[:, ::1] out, double[::1] row_sums,
                          int n_threads):
    """``out = diag(left) K F`` with F given by its CSR rows (``significant_rows``)
    and ``row_sums = out.sum(1)``: row ``i`` of ``out`` is the accumulator, each
    entry summed in the storage order of K's row, so the result does not depend on
    the thread count."""
    cdef int64_t n = out.shape[0], k = out.shape[1]
    cdef int64_t i, p, q, c, j
    cdef double v
    cdef double *o
    if n == 0:
        return
    with nogil:
        for i in prange(n, num_threads=n_threads, schedule='static', chunksize=CHUNK):
            o = &out[i, 0]
            for c in range(k):
                o[c] = 0.0
            for p in range(indptr[i], indptr[i + 1]):
                v = data[p]
                j = indices[p]
                for q in range(f_indptr[j], f_indptr[j + 1]):
                    o[f_indices[q]] += v * f_data[q]
            row_sums[i] = _scale_row(o, k, left[i])


def copy_rows(const int64_t[::1] src_indptr, const int[::1] src_indices,
              const double[::1] src_data, const int64_t[::1] src_rows,
              const int64_t[::1] dst_indptr, const int64_t[::1] dst_rows,
              int[::1] dst_indices, double[::1] dst_data, int n_threads):
    """Copy the CSR rows ``src_rows[q]`` of one matrix to the rows ``dst_rows[q]``
    of another (whose ``dst_indptr`` gives them room), rows in parallel."""
    cdef int64_t m = src_rows.shape[0], q, p, start, at
    with nogil:
        for q in prange(m, num_threads=n_threads, schedule='static', chunksize=CHUNK):
            start = src_indptr[src_rows[q]]
            at = dst_indptr[dst_rows[q]]
            for p in range(src_indptr[src_rows[q] + 1] - start):
                dst_indices[at + p] = src_indices[start + p]
                dst_data[at + p] = src_data[start + p]
