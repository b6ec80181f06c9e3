"""The exact re-check: rows whose decision the fast kernels cannot certify.

Every squared distance is first computed from its definition,
``sum_k (u_k - l_k)^2``, in double precision from the input values (no expansion,
no centring).  Where more than one labelled row lies within that sum's rounding
error of the nearest one (a near tie), those rows are recomputed in double-double
(``mir_dd_add_sq_diff``): distances that are equal in exact arithmetic
(duplicates, symmetric points) come out equal, and the lower index wins.  A
nearest labelled row alone within the rounding keeps its double distance:
every other row is farther whatever the rounding and its own weight is exactly 1,
so its double-double sum (a chain of dependent additions, far dearer than a plain
distance; it cost the local path on 60,000 MNIST images about a fifth of its time)
would change only the last bits of its distance.  Finally every weight is folded
relative to the winner,

    s = sum_l exp(-gamma * delta_l),   delta_l = d_l - d_min  (double-double for the
                                        candidates, so exact ties give exactly 1).

Cost: O(l * d) per dense row, O(l * (nnz_u + nnz_l)) per sparse row; it only runs
on the few rows that the error bound flags.
"""

import numpy as np

from cython.parallel cimport prange
from libc.math cimport NAN
from libc.stdint cimport int64_t

from _fused cimport data_t, index_t
from _openmp_shim cimport mir_omp_thread_id
from mir_rowfold cimport (
    mir_dd_add_sq_diff,
    mir_dd_normalise,
    mir_fold_distances,
    mir_min,
    mir_row_state,
    mir_sqdist_dd_f32,
    mir_sqdist_dd_f64,
    mir_sqdist_f32,
    mir_sqdist_f64,
    mir_sqdist_f64_f32,
    mir_state_init,
)

cdef extern from "mir_local.h" nogil:
    int64_t mir_local_bounds(const float *g, int64_t n, double pu_sq, double r_u,
                             double n_u, const double *pl_sq, const double *r_l,
                             const double *n_l, double e_p, double e_r, double *lb)
    int64_t mir_local_candidates(const double *lb, int64_t n, double limit, int64_t *cand)

# Relative error of a double sum of k squares is below (k + 2) 2^-53; candidates are
# taken within twice a generous version of that.
cdef double CANDIDATE_SLACK = 2.0 ** -50


cdef inline double dense_dd(const data_t *X, int64_t d, int64_t r, int64_t l,
                            double *lo) noexcept nogil:
    if data_t is float:
        return mir_sqdist_dd_f32(X + r * d, X + l * d, d, lo)
    else:
        return mir_sqdist_dd_f64(X + r * d, X + l * d, d, lo)


cdef double sparse_sqdist(const data_t *data, const index_t *indices, int64_t a0,
                          int64_t a1, int64_t b0, int64_t b1, double *lo) noexcept nogil:
    """||a - b||^2 of two CSR rows (sorted, unique indices); double-double if lo != NULL."""
    cdef double s = 0.0, c = 0.0, x, y, diff
    while a0 < a1 or b0 < b1:
        if b0 >= b1 or (a0 < a1 and indices[a0] < indices[b0]):
            x = data[a0]
            y = 0.0
            a0 += 1
        elif a0 >= a1 or indices[b0] < indices[a0]:
            x = 0.0
            y = data[b0]
            b0 += 1
        else:
            x = data[a0]
            y = data[b0]
            a0 += 1
            b0 += 1
        if lo != NULL:
            mir_dd_add_sq_diff(x, y, &s, &c)
        else:
            diff = x - y
            s += diff * diff
    if lo != NULL:
        return mir_dd_normalise(s, c, lo)
    return s


cdef bint mark_near_ties(const double *dist, double *lo, int64_t n_lab,
                         double cutoff) noexcept nogil:
    """``lo[j] = 0`` for the rows within ``cutoff`` of the plain distances, NaN for
    the others; True when two or more are within it (a near tie, whose rows the
    caller recomputes in double-double).  A lone row keeps its plain distance."""
    cdef int64_t j, close = 0
    for j in range(n_lab):
        if dist[j] <= cutoff:
            lo[j] = 0.0
            close = close + 1
        else:
            lo[j] = NAN
    return close > 1


cdef void settle(double *dist, double *lo, int64_t n_lab, double gamma,
                 mir_row_state *st, int64_t *best, double *dmin, double *dsecond,
                 double *ssum) noexcept nogil:
    """Pick the nearest candidate and fold every weight relative to it.

    Candidates hold double-double distances ``dist[j] + lo[j]``; the other rows
    hold ``lo[j] = NaN`` and a plain double distance.
    """
    cdef int64_t j, arg = -1
    cdef double hi_best = 0.0, lo_best = 0.0, delta
    for j in range(n_lab):
        if lo[j] == lo[j] and (arg < 0 or dist[j] < hi_best or
                               (dist[j] == hi_best and lo[j] < lo_best)):
            arg = j
            hi_best = dist[j]
            lo_best = lo[j]
    for j in range(n_lab):
        if lo[j] == lo[j]:
            delta = (dist[j] - hi_best) + (lo[j] - lo_best)
        else:
            delta = dist[j] - hi_best
        dist[j] = delta if delta > 0.0 else 0.0
    dist[arg] = 0.0
    mir_state_init(st)
    mir_fold_distances(dist, n_lab, 0.0, gamma, 0, st)
    best[0] = st.i
    dmin[0] = hi_best + lo_best
    dsecond[0] = hi_best + lo_best + st.m2
    ssum[0] = st.s


cdef void settle_dense(const data_t *X, int64_t d, int64_t r, const int64_t *labelled,
                       const int64_t *near, int64_t count, double *dist, double *lo,
                       double gamma, mir_row_state *st, int64_t *best, double *dmin,
                       double *dsecond, double *ssum) noexcept nogil:
    """``settle`` a dense row's plain distances ``dist`` to the labelled rows
    ``labelled[near[c]]`` (``labelled[c]`` when ``near`` is NULL), a near tie within
    the sum's rounding of the smallest first recomputed in double-double
    (``mark_near_ties``)."""
    cdef int64_t c
    cdef double cutoff = mir_min(dist, count) * (1.0 + (d + 4) * CANDIDATE_SLACK)
    if mark_near_ties(dist, lo, count, cutoff):
        for c in range(count):
            if lo[c] == 0.0:
                dist[c] = dense_dd(X, d, r, labelled[c if near == NULL else near[c]], &lo[c])
    settle(dist, lo, count, gamma, st, best, dmin, dsecond, ssum)


cdef double[:, ::1] per_thread_row_scratch(int n_threads, int64_t n_lab, int64_t d):
    """Distances, double-double tails, the row state and the row in double
    (``row_in_double``), for one row per thread."""
    return np.empty((n_threads, 2 * n_lab + sizeof(mir_row_state) // sizeof(double) + d))


cdef inline double *row_in_double(const data_t *X, int64_t d, int64_t r,
                                  double *scratch) noexcept nogil:
    """Row ``r`` of X as double: converted into ``scratch`` once (float32 X), so that
    its distances to many rows do not convert it again; X's own row (float64 X)."""
    cdef int64_t k
    if data_t is float:
        for k in range(d):
            scratch[k] = X[r * d + k]
        return scratch
    else:
        return <double *>(X + r * d)


cdef inline double plain_sqdist(const data_t *X, int64_t d, const double *u,
                                int64_t l) noexcept nogil:
    """``sum_k (u_k - X[l, k])^2`` in double, ``u`` from ``row_in_double``: the
    bits of ``mir_sqdist_f32`` / ``mir_sqdist_f64`` of the two rows."""
    if data_t is float:
        return mir_sqdist_f64_f32(u, X + l * d, d)
    else:
        return mir_sqdist_f64(u, X + l * d, d)


cdef inline double *row_scratch(double *lo, int64_t n_lab) noexcept nogil:
    """The ``row_in_double`` part of a ``per_thread_row_scratch`` row."""
    return lo + n_lab + sizeof(mir_row_state) // sizeof(double)


def exact_dense(const data_t[:, ::1] X, const int64_t[::1] labelled,
                const int64_t[::1] rows, double gamma,
                int n_threads, int64_t[::1] best, double[::1] dmin,
                double[::1] dsecond, double[::1] ssum):
    """Exact (argmin, min, second min, sum) for dense ``rows``.

    Each thread owns one row's distances, their double-double tails and its state.
    """
    cdef int64_t i, j, r, n_rows = rows.shape[0], n_lab = labelled.shape[0]
    cdef int64_t d = X.shape[1]
    cdef double *dist
    cdef double *lo
    cdef const double *u
    if n_rows == 0:
        return
    cdef double[:, ::1] dwork = per_thread_row_scratch(n_threads, n_lab, d)
    with nogil:
        for i in prange(n_rows, num_threads=n_threads, schedule='dynamic'):
            dist = &dwork[mir_omp_thread_id(), 0]
            lo = dist + n_lab
            r = rows[i]
            u = row_in_double(&X[0, 0], d, r, row_scratch(lo, n_lab))
            for j in range(n_lab):
                dist[j] = plain_sqdist(&X[0, 0], d, u, labelled[j])
            settle_dense(&X[0, 0], d, r, &labelled[0], NULL, n_lab, dist, lo, gamma,
                         <mir_row_state *>(lo + n_lab), &best[i], &dmin[i], &dsecond[i],
                         &ssum[i])


def exact_csr(const data_t[::1] data, const index_t[::1] indices,
              const index_t[::1] indptr, const int64_t[::1] labelled,
              const int64_t[::1] rows, double gamma,
              int n_threads, int64_t[::1] best, double[::1] dmin,
              double[::1] dsecond, double[::1] ssum):
    """Exact (argmin, min, second min, sum) for CSR ``rows`` (canonical format).

    Each thread owns one row's distances, their double-double tails and its state.
    """
    cdef int64_t i, j, r, l, n_terms, n_rows = rows.shape[0], n_lab = labelled.shape[0]
    cdef double *dist
    cdef double *lo
    cdef double cutoff
    if n_rows == 0:
        return
    cdef double[:, ::1] dwork = per_thread_row_scratch(n_threads, n_lab, 0)
    with nogil:
        for i in prange(n_rows, num_threads=n_threads, schedule='dynamic'):
            dist = &dwork[mir_omp_thread_id(), 0]
            lo = dist + n_lab
            r = rows[i]
            n_terms = 0
            for j in range(n_lab):
                l = labelled[j]
                dist[j] = sparse_sqdist(&data[0], &indices[0], indptr[r], indptr[r + 1],
                                        indptr[l], indptr[l + 1], NULL)
                n_terms = max(n_terms, indptr[r + 1] - indptr[r] + indptr[l + 1] - indptr[l])
            cutoff = mir_min(dist, n_lab) * (1.0 + (n_terms + 4) * CANDIDATE_SLACK)
            if mark_near_ties(dist, lo, n_lab, cutoff):
                for j in range(n_lab):
                    l = labelled[j]
                    if lo[j] == 0.0:
                        dist[j] = sparse_sqdist(&data[0], &indices[0], indptr[r],
                                                indptr[r + 1], indptr[l], indptr[l + 1],
                                                &lo[j])
            settle(dist, lo, n_lab, gamma, <mir_row_state *>(lo + n_lab),
                   &best[i], &dmin[i], &dsecond[i], &ssum[i])


def local_candidates(const data_t[:, ::1] X, const int64_t[::1] labelled,
                     const int64_t[::1] rows, const float[:, ::1] G,
                     const double[::1] pu_sq, const double[::1] r_u, const double[::1] n_u,
                     const double[::1] pl_sq, const double[::1] r_l, const double[::1] n_l,
                     double e_p, double e_r, double window, int n_threads,
                     int[:, ::1] candidates, int64_t[::1] counts, int64_t[::1] anchors):
    """The labelled rows that may matter to each of ``rows`` (``mir_local.h``).

    Row ``i`` bounds every distance from below (``G[i]``: its projected dot products,
    float32), takes ``ub``, the distance to the labelled row of the smallest bound
    (its ``anchors[i]``), raised by its rounding, and keeps the labelled rows whose
    bound is at most ``ub + window``: every other one is more than ``window``
    farther than the nearest.  Their positions go to ``candidates[i]`` (ascending)
    and their number to ``counts[i]``; a row with more than ``candidates.shape[1]``
    gets ``counts[i] = -1`` and nothing else.
    """
    cdef int64_t i, c, j, r, count, n_rows = rows.shape[0], n_lab = labelled.shape[0]
    cdef int64_t d = X.shape[1], cap = candidates.shape[1]
    cdef double ub
    cdef double *lb
    cdef int64_t *cand
    if n_rows == 0 or n_lab == 0:
        return
    cdef double[:, ::1] bwork = np.empty((n_threads, n_lab))
    cdef int64_t[:, ::1] cwork = np.empty((n_threads, n_lab), dtype=np.int64)
    with nogil:
        for i in prange(n_rows, num_threads=n_threads, schedule='static'):
            lb = &bwork[mir_omp_thread_id(), 0]
            cand = &cwork[mir_omp_thread_id(), 0]
            r = rows[i]
            j = mir_local_bounds(&G[i, 0], n_lab, pu_sq[i], r_u[i], n_u[i], &pl_sq[0],
                                 &r_l[0], &n_l[0], e_p, e_r, lb)
            anchors[i] = j
            if data_t is float:
                ub = mir_sqdist_f32(&X[r, 0], &X[labelled[j], 0], d)
            else:
                ub = mir_sqdist_f64(&X[r, 0], &X[labelled[j], 0], d)
            ub = ub * (1.0 + (d + 4) * CANDIDATE_SLACK)
            count = mir_local_candidates(lb, n_lab, ub + window, cand)
            if count > cap:
                counts[i] = -1
                continue
            counts[i] = count
            for c in range(count):
                candidates[i, c] = <int>cand[c]


def exact_dense_candidates(const data_t[:, ::1] X, const int64_t[::1] labelled,
                           const int64_t[::1] rows, const int64_t[::1] indptr,
                           const int[::1] indices, const int64_t[::1] order, double window,
                           double gamma, int n_threads, int64_t[::1] best, double[::1] dmin,
                           double[::1] dsecond, double[::1] ssum):
    """``exact_dense`` of ``rows[i]`` over its candidates only (positions into
    ``labelled``: ``indices[indptr[i]:indptr[i + 1]]``, ascending, every labelled
    row within ``window`` of the nearest among them), the rows taken in ``order``
    (rows with shared candidates next to each other read them from cache).

    Only the candidates whose computed distance is within ``window`` of the
    smallest are folded: the same set whatever superset the bounds let through, so
    the result does not depend on the bounds' rounding.  The same nearest row,
    distance and ties as ``exact_dense``; the weight sum over those rows.
    """
    cdef int64_t q, i, c, r, count, kept, n_rows = order.shape[0], n_lab = labelled.shape[0]
    cdef int64_t d = X.shape[1]
    cdef double *dist
    cdef double *lo
    cdef int64_t *near
    cdef const int *cand
    cdef const double *u
    cdef double limit
    if n_rows == 0 or n_lab == 0:
        return
    cdef double[:, ::1] dwork = per_thread_row_scratch(n_threads, n_lab, d)
    cdef int64_t[:, ::1] nwork = np.empty((n_threads, n_lab), dtype=np.int64)
    with nogil:
        for q in prange(n_rows, num_threads=n_threads, schedule='static', chunksize=16):
            i = order[q]
            dist = &dwork[mir_omp_thread_id(), 0]
            lo = dist + n_lab
            near = &nwork[mir_omp_thread_id(), 0]
            r = rows[i]
            cand = &indices[indptr[i]]
            count = indptr[i + 1] - indptr[i]
            u = row_in_double(&X[0, 0], d, r, row_scratch(lo, n_lab))
            for c in range(count):
                dist[c] = plain_sqdist(&X[0, 0], d, u, labelled[cand[c]])
            limit = mir_min(dist, count) + window
            kept = 0
            for c in range(count):  # ascending positions, as in exact_dense
                if dist[c] <= limit:
                    dist[kept] = dist[c]
                    near[kept] = cand[c]
                    kept = kept + 1
            settle_dense(&X[0, 0], d, r, &labelled[0], near, kept, dist, lo, gamma,
                         <mir_row_state *>(lo + n_lab), &best[i], &dmin[i], &dsecond[i],
                         &ssum[i])
            best[i] = near[best[i]]


def local_bounds(const float[:, ::1] G, const double[::1] pu_sq, const double[::1] r_u,
                 const double[::1] n_u, const double[::1] pl_sq, const double[::1] r_l,
                 const double[::1] n_l, double e_p, double e_r, double[:, ::1] out):
    """The lower bounds ``local_candidates`` computes (``mir_local.h``), for tests."""
    cdef int64_t i
    for i in range(G.shape[0]):
        mir_local_bounds(&G[i, 0], G.shape[1], pu_sq[i], r_u[i], n_u[i], &pl_sq[0], &r_l[0],
                         &n_l[0], e_p, e_r, &out[i, 0])
