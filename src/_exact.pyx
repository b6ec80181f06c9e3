"""The exact re-check: rows whose decision the fast kernels cannot certify.

Here every squared distance is computed straight from its definition,
``sum_k (u_k - l_k)^2`` in double precision from the input values (no expansion,
no centring), so exact ties (duplicate inputs, symmetric points) stay exact ties
and go to the lower index.  The share is then folded over all labelled rows in
one tile.  Cost: O(l * d) per dense row, O(l * (nnz_u + nnz_l)) per sparse row;
it only runs on the few rows the error bound flags.
"""

from cython.parallel cimport prange
from libc.stdint cimport int32_t, int64_t

from _openmp_shim cimport mir_omp_thread_id
from mir_rowfold cimport (
    mir_fold_distances,
    mir_min,
    mir_row_state,
    mir_sqdist_f32,
    mir_sqdist_f64,
    mir_state_init,
)

ctypedef fused data_t:
    float
    double

ctypedef fused index_t:
    int32_t
    int64_t


cdef inline void store(mir_row_state *st, int64_t *best, double *dmin,
                       double *dsecond, double *ssum) noexcept nogil:
    best[0] = st.i
    dmin[0] = st.m
    dsecond[0] = st.m2
    ssum[0] = st.s


def exact_dense(const data_t[:, ::1] X, const int64_t[::1] labelled,
                const int64_t[::1] rows, double gamma, double[:, ::1] dwork,
                int n_threads, int64_t[::1] best, double[::1] dmin,
                double[::1] dsecond, double[::1] ssum):
    """Exact (min, argmin, second min, sum) for dense ``rows``.

    ``dwork`` is n_threads x (l + 4): each thread's distances and row state.
    """
    cdef int64_t i, j, r, n_rows = rows.shape[0], n_lab = labelled.shape[0]
    cdef int64_t d = X.shape[1]
    cdef double *dist
    cdef mir_row_state *st
    if n_rows == 0:
        return
    with nogil:
        for i in prange(n_rows, num_threads=n_threads, schedule='dynamic'):
            dist = &dwork[mir_omp_thread_id(), 0]
            st = <mir_row_state *>(dist + n_lab)
            r = rows[i]
            for j in range(n_lab):
                if data_t is float:
                    dist[j] = mir_sqdist_f32(&X[r, 0], &X[labelled[j], 0], d)
                else:
                    dist[j] = mir_sqdist_f64(&X[r, 0], &X[labelled[j], 0], d)
            mir_state_init(st)
            mir_fold_distances(dist, n_lab, mir_min(dist, n_lab), gamma, 0, st)
            store(st, &best[i], &dmin[i], &dsecond[i], &ssum[i])


cdef double sparse_sqdist(const data_t *data, const index_t *indices,
                          int64_t a0, int64_t a1, int64_t b0, int64_t b1) noexcept nogil:
    """||a - b||^2 of two CSR rows with sorted, unique column indices."""
    cdef double acc = 0.0, diff
    while a0 < a1 and b0 < b1:
        if indices[a0] == indices[b0]:
            diff = <double>data[a0] - <double>data[b0]
            a0 += 1
            b0 += 1
        elif indices[a0] < indices[b0]:
            diff = data[a0]
            a0 += 1
        else:
            diff = data[b0]
            b0 += 1
        acc += diff * diff
    while a0 < a1:
        acc += <double>data[a0] * <double>data[a0]
        a0 += 1
    while b0 < b1:
        acc += <double>data[b0] * <double>data[b0]
        b0 += 1
    return acc


def exact_csr(const data_t[::1] data, const index_t[::1] indices,
              const index_t[::1] indptr, const int64_t[::1] labelled,
              const int64_t[::1] rows, double gamma, double[:, ::1] dwork,
              int n_threads, int64_t[::1] best, double[::1] dmin,
              double[::1] dsecond, double[::1] ssum):
    """Exact (min, argmin, second min, sum) for CSR ``rows`` (canonical format).

    ``dwork`` is n_threads x (l + 4): each thread's distances and row state.
    """
    cdef int64_t i, j, r, l, n_rows = rows.shape[0], n_lab = labelled.shape[0]
    cdef double *dist
    cdef mir_row_state *st
    if n_rows == 0:
        return
    with nogil:
        for i in prange(n_rows, num_threads=n_threads, schedule='dynamic'):
            dist = &dwork[mir_omp_thread_id(), 0]
            st = <mir_row_state *>(dist + n_lab)
            r = rows[i]
            for j in range(n_lab):
                l = labelled[j]
                dist[j] = sparse_sqdist(&data[0], &indices[0], indptr[r], indptr[r + 1],
                                        indptr[l], indptr[l + 1])
            mir_state_init(st)
            mir_fold_distances(dist, n_lab, mir_min(dist, n_lab), gamma, 0, st)
            store(st, &best[i], &dmin[i], &dsecond[i], &ssum[i])
