"""The CSR MIR kernel: sparse rows, never densified.

The labelled rows are given feature-major (``lab_ptr``, ``lab_pos``, ``lab_val``:
for feature ``f`` the labelled positions holding it and ``-2`` times their values,
i.e. the transpose of X_L, built once, O(nnz_L)).  For each unlabelled row ``u``
the products are scattered into a dense per-thread accumulator over the labelled
rows,

    acc[j] = sum_{f in u} u_f * (-2 l_jf) = -2 <u, l_j>,

which then becomes the distances ``||u||^2 + ||l_j||^2 + acc[j]`` and is folded
in one tile by the same row reduction as the dense kernel (``mir_rowfold.h``),
resetting the accumulator on the way.  Everything is accumulated in double.

Extra memory: the transpose of X_L plus 2 l doubles per thread.  OpenMP runs over
blocks of unlabelled rows; each row's result is independent of the thread count.
"""

from cython.parallel cimport prange
from libc.stdint cimport int32_t, int64_t

from _openmp_shim cimport mir_omp_thread_id
from mir_rowfold cimport (
    mir_expand_reset,
    mir_fold_distances,
    mir_row_state,
    mir_state_init,
)

ctypedef fused data_t:
    float
    double

ctypedef fused index_t:
    int32_t
    int64_t


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


def fold_csr(const data_t[::1] data, const index_t[::1] indices,
             const index_t[::1] indptr, const int64_t[::1] rows,
             const int64_t[::1] lab_ptr, const int64_t[::1] lab_pos,
             const double[::1] lab_val, const double[::1] norm_lab,
             const double[::1] norm_rows, double gamma, double[:, ::1] dwork,
             int n_threads, int64_t[::1] best, double[::1] dmin,
             double[::1] dsecond, double[::1] ssum):
    """Fused reduction of CSR ``rows`` against the labelled rows.

    ``dwork`` is n_threads x (2 l + 4) and its first l columns must be zero on
    entry (the accumulator, reset after every row); then the distances and the
    row state.  Outputs as for the dense kernel.
    """
    cdef int64_t i, p, q, f, r, n_rows = rows.shape[0], n_lab = norm_lab.shape[0]
    cdef double v, tile_min
    cdef double *acc
    cdef double *dist
    cdef mir_row_state *st
    if n_rows == 0:
        return
    with nogil:
        for i in prange(n_rows, num_threads=n_threads, schedule='dynamic', chunksize=64):
            acc = &dwork[mir_omp_thread_id(), 0]
            dist = acc + n_lab
            st = <mir_row_state *>(dist + n_lab)
            r = rows[i]
            for p in range(indptr[r], indptr[r + 1]):
                f = indices[p]
                v = data[p]
                for q in range(lab_ptr[f], lab_ptr[f + 1]):
                    acc[lab_pos[q]] += v * lab_val[q]
            tile_min = mir_expand_reset(acc, &norm_lab[0], n_lab, norm_rows[i], dist)
            mir_state_init(st)
            mir_fold_distances(dist, n_lab, tile_min, gamma, 0, st)
            best[i] = st.i
            dmin[i] = st.m
            dsecond[i] = st.m2
            ssum[i] = st.s
