"""The CSR MIR kernel: sparse rows, never densified.

The dot products ``<u, l>`` of a tile of unlabelled rows with a tile of labelled
rows are produced in two parts, then folded by the same row reduction as the
dense kernel (``mir_rowfold.h``):

* head: the ``n_head`` features with the most matching pairs are stored densely
  and feature-major for the labelled rows (``lab_head_t``, n_head x l) and gathered
  densely (times -2, exact) for the unlabelled tile; a register-blocked product
  (``mir_head.h``) gives their part of ``-2 <u, l>``;
* tail: every other feature is scattered, row by row, into the same product row:
  for each non-zero ``u_f`` and each labelled row ``j`` holding ``f`` (the
  transpose of X_L restricted to the tail), ``g[j] += u_f * (-2 l_jf)``.

A tile is a few unlabelled rows against all labelled rows (one product row is
l doubles, and stays in cache while it is scattered into and folded).

Text data follow Zipf's law: a few terms occur in most documents, and scattering
them costs one read-modify-write per matching pair, far more than a small dense
product.  The caller picks ``n_head`` (possibly 0) from the feature counts.
Everything is computed in double; float32 data take the shorter exponential
(relative error < 1e-8, covered by the certificate).

Extra memory: the transpose of the tail of X_L and the dense head of X_L, plus a
dense head block and a product tile per thread.  OpenMP runs over tiles of
unlabelled rows whose bounds do not depend on the thread count.
"""

import numpy as np

from cython.parallel cimport prange
from libc.stdint cimport int32_t, int64_t
from libc.string cimport memset

from _fused cimport data_t, index_t
from _openmp_shim cimport mir_omp_thread_id
from mir_head cimport mir_head_products
from mir_rowfold cimport (
    mir_expand_f64,
    mir_fold_distances,
    mir_fold_distances_fast,
    mir_row_state,
    mir_state_init,
)


def row_sq_norms(const data_t[::1] data, const index_t[::1] indptr,
                 const int64_t[::1] rows, double[::1] out, int n_threads):
    """out[i] = squared norm of CSR row rows[i] (canonical format: no duplicates)."""
    cdef int64_t i, p, n = rows.shape[0]
    cdef double acc
    if n == 0:
        return
    with nogil:
        for i in prange(n, num_threads=n_threads, schedule='static'):
            acc = 0.0
            for p in range(indptr[rows[i]], indptr[rows[i] + 1]):
                acc = acc + <double>data[p] * <double>data[p]
            out[i] = acc


cdef void csr_tile(const data_t *data, const index_t *indices, const index_t *indptr,
                   const int64_t *rows, int64_t n_u, const int32_t *head_slot,
                   int n_head, const double *lab_head_t, const int64_t *tail_ptr,
                   const int32_t *tail_pos, const data_t *tail_val,
                   const double *norm_lab, int64_t n_lab, const double *norm_rows,
                   double gamma, double *uhead, double *g, double *dist,
                   int64_t *best, double *dmin, double *dsecond,
                   double *ssum) noexcept nogil:
    """Reduce one tile of unlabelled CSR rows against all labelled rows at once."""
    cdef int64_t i, p, q, f, slot
    cdef double v, tile_min
    cdef double *acc
    cdef mir_row_state state
    memset(uhead, 0, n_u * n_head * sizeof(double))
    for i in range(n_u):
        for p in range(indptr[rows[i]], indptr[rows[i] + 1]):
            slot = head_slot[indices[p]]
            if slot >= 0:
                uhead[i * n_head + slot] = -2.0 * <double>data[p]
    mir_head_products(lab_head_t, n_lab, uhead, n_u, n_head, g)
    for i in range(n_u):
        acc = g + i * n_lab
        for p in range(indptr[rows[i]], indptr[rows[i] + 1]):
            f = indices[p]
            v = data[p]
            for q in range(tail_ptr[f], tail_ptr[f + 1]):
                acc[tail_pos[q]] += v * <double>tail_val[q]
        tile_min = mir_expand_f64(acc, norm_lab, n_lab, norm_rows[i], dist)
        mir_state_init(&state)
        if data_t is float:  # float32 data: the shorter exp, its error is certified
            mir_fold_distances_fast(dist, n_lab, tile_min, gamma, 0, &state)
        else:
            mir_fold_distances(dist, n_lab, tile_min, gamma, 0, &state)
        best[i] = state.i
        dmin[i] = state.m
        dsecond[i] = state.m2
        ssum[i] = state.s


def fold_csr(const data_t[::1] data, const index_t[::1] indices,
             const index_t[::1] indptr, const int64_t[::1] rows,
             const int32_t[::1] head_slot, const double[:, ::1] lab_head_t,
             const int64_t[::1] tail_ptr, const int32_t[::1] tail_pos,
             const data_t[::1] tail_val, const double[::1] norm_lab,
             const double[::1] norm_rows, double gamma, int64_t tile_rows,
             int n_threads,
             int64_t[::1] best, double[::1] dmin, double[::1] dsecond,
             double[::1] ssum):
    """Fused reduction of CSR ``rows`` against the labelled rows.

    ``head_slot[f]`` is the row of feature ``f`` in ``lab_head_t`` (n_head x l,
    the labelled rows' head features, dense), or -1 for a tail feature, whose
    labelled entries are ``tail_pos`` / ``tail_val`` (``-2`` times the values, in
    the data's precision: exact) from ``tail_ptr[f]`` to ``tail_ptr[f + 1]``.  Each
    thread owns its scratch: the tile's head rows, its products with every
    labelled row, and one row's distances (tile_rows * (n_head + l) + l doubles).
    Outputs as for the dense kernel; ``norm_rows`` are the rows' squared norms.
    """
    cdef int64_t n_rows = rows.shape[0], n_lab = norm_lab.shape[0]
    cdef int n_head = lab_head_t.shape[0]
    cdef int64_t n_tiles = (n_rows + tile_rows - 1) // tile_rows
    cdef int64_t t, r0, n_u
    cdef double *uhead
    cdef double *g
    cdef double *dist
    if n_rows == 0:
        return
    cdef double[:, ::1] work = np.empty((n_threads, tile_rows * (n_head + n_lab) + n_lab))
    with nogil:
        for t in prange(n_tiles, num_threads=n_threads, schedule='dynamic'):
            uhead = &work[mir_omp_thread_id(), 0]
            g = uhead + tile_rows * n_head
            dist = g + tile_rows * n_lab
            r0 = t * tile_rows
            n_u = min(tile_rows, n_rows - r0)
            csr_tile(&data[0], &indices[0], &indptr[0], &rows[r0], n_u, &head_slot[0],
                     n_head, &lab_head_t[0, 0], &tail_ptr[0], &tail_pos[0], &tail_val[0],
                     &norm_lab[0], n_lab, &norm_rows[r0], gamma, uhead, g, dist,
                     &best[r0], &dmin[r0], &dsecond[r0], &ssum[r0])
