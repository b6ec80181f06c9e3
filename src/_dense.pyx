"""The fused dense MIR kernel.

For every unlabelled row ``u`` (``rows``) and every labelled row ``l`` (``labelled``)
the squared distance is expanded as

    d_ul = ||u - mu||^2 + ||l - mu||^2 - 2 <u - mu, l - mu>

where ``mu`` is the column mean (distances do not change under translation, and
centring shrinks the norms that the rounding error of the expansion grows with).
Work is cut into tiles of ``tile_rows`` unlabelled rows by ``tile_labelled``
labelled rows.  For each pair of tiles both are gathered (centred, in the compute
precision ``work_t``) into per-thread buffers, single-threaded BLAS GEMMs produce
``-2 <u, l>`` for the whole pair, and every row of the product is folded at once
into that row's running (min, argmin, second min, sum of weights) state
(``mir_rowfold.h``).  No U x L matrix is ever stored.

In float32 the features are cut into slices of at most ``k_slice``: one SGEMM per
slice, whose partial products are summed in double.  The rounding error of a dot
product grows with the number of terms summed in float32, so the slices make the
error bound (and the number of rows sent to the float64 pass) several times
smaller for a few percent more work.

OpenMP runs over tiles of unlabelled rows; a row's result depends only on its tile,
whose bounds depend only on ``tile_rows``, so results are identical bit for bit
for any number of threads.  The caller must keep BLAS single-threaded.

``fold_packed`` is the same reduction on the kernel's own product
(``mir_packed.h``, ``mir_fast/_core/packed.py``): the labelled rows packed once per
call and shared by the threads, every float32 feature slice summed in registers and
added in double as it leaves them; its products depend on neither tiles nor threads.
``block_statistics`` gives the whole-data column sums and largest row norm.
"""

import numpy as np

from cython.parallel cimport prange
from libc.stdint cimport int64_t
from scipy.linalg.cython_blas cimport dgemm, sgemm

from _fused cimport data_t, work_t
from _openmp_shim cimport mir_omp_thread_id
from mir_rowfold cimport (
    mir_accumulate_f32,
    mir_centre_f32_f32,
    mir_centre_f32_f64,
    mir_centre_f64_f64,
    mir_expand_f64,
    mir_fold_distances,
    mir_fold_distances_fast,
    mir_row_state,
    mir_sqnorm_f32,
    mir_sqnorm_f64,
    mir_state_init,
    mir_states_init,
    mir_states_unpack,
)


cdef inline void centre(const data_t *x, const work_t *mean, int64_t d,
                        work_t *out) noexcept nogil:
    """out = x - mean, rounded to work_t."""
    if data_t is float and work_t is float:
        mir_centre_f32_f32(x, mean, d, out)
    elif data_t is float and work_t is double:
        mir_centre_f32_f64(x, mean, d, out)
    elif data_t is double and work_t is double:
        mir_centre_f64_f64(x, mean, d, out)


cdef inline double sq_norm(const work_t *x, int64_t d) noexcept nogil:
    if work_t is float:
        return mir_sqnorm_f32(x, d)
    else:
        return mir_sqnorm_f64(x, d)


cdef inline void minus_two_dots(work_t *lbuf, work_t *ubuf, work_t *gbuf,
                                int n_l, int n_u, int d) noexcept nogil:
    """gbuf[i * n_l + j] = -2 <ubuf[i], lbuf[j]> by one GEMM (Fortran order)."""
    cdef char transa = b'T'
    cdef char transb = b'N'
    cdef work_t alpha = -2.0
    cdef work_t beta = 0.0
    if work_t is float:
        sgemm(&transa, &transb, &n_l, &n_u, &d, &alpha, lbuf, &d, ubuf, &d,
              &beta, gbuf, &n_l)
    else:
        dgemm(&transa, &transb, &n_l, &n_u, &d, &alpha, lbuf, &d, ubuf, &d,
              &beta, gbuf, &n_l)


cdef void minus_two_dots_sliced(float *lbuf, float *ubuf, float *gbuf, double *acc,
                                int n_l, int n_u, int d, int k_slice) noexcept nogil:
    """acc[i * n_l + j] = -2 <ubuf[i], lbuf[j]>: one SGEMM per feature slice, summed in double."""
    cdef int k0 = 0, width
    cdef char transa = b'T'
    cdef char transb = b'N'
    cdef float alpha = -2.0
    cdef float beta = 0.0
    while k0 < d:
        width = min(k_slice, d - k0)
        sgemm(&transa, &transb, &n_l, &n_u, &width, &alpha, lbuf + k0, &d, ubuf + k0, &d,
              &beta, gbuf, &n_l)
        mir_accumulate_f32(gbuf, acc, <int64_t>n_l * n_u, k0 == 0)
        k0 += width


cdef inline void fold_products(work_t *kind, const double *g, const double *norm_l,
                               int64_t n, double norm_u, double gamma, int64_t col0,
                               double *dist, mir_row_state *state) noexcept nogil:
    """Fold one row's products ``g`` = -2 <u, l> with columns col0 .. col0 + n - 1
    into its state (``mir_rowfold.h``); the float32 passes use the shorter
    exponential, which their error bound accounts for.  ``kind`` only selects
    work_t (pass NULL)."""
    cdef double tile_min = mir_expand_f64(g, norm_l, n, norm_u, dist)
    if work_t is float:
        mir_fold_distances_fast(dist, n, tile_min, gamma, col0, state)
    else:
        mir_fold_distances(dist, n, tile_min, gamma, col0, state)


cdef void fold_tile(const data_t *X, int64_t d, const int64_t *labelled, int64_t n_lab,
                    const int64_t *rows, int64_t n_u, const work_t *mean,
                    const double *norm_lab, double gamma, int64_t tile_labelled,
                    int64_t k_slice, work_t *ubuf, work_t *lbuf, work_t *gbuf,
                    double *acc, double *dist, mir_row_state *states, int64_t *best,
                    double *dmin, double *dsecond, double *ssum,
                    double *norm_u) noexcept nogil:
    """Reduce one tile of unlabelled rows against all labelled rows."""
    cdef int64_t i, j, l0, n_l
    for i in range(n_u):
        centre(X + rows[i] * d, mean, d, ubuf + i * d)
        norm_u[i] = sq_norm(ubuf + i * d, d)
        mir_state_init(&states[i])
    l0 = 0
    while l0 < n_lab:
        n_l = min(tile_labelled, n_lab - l0)
        for j in range(n_l):
            centre(X + labelled[l0 + j] * d, mean, d, lbuf + j * d)
        if work_t is float:
            minus_two_dots_sliced(lbuf, ubuf, gbuf, acc, <int>n_l, <int>n_u, <int>d,
                                  <int>k_slice)
        else:
            minus_two_dots(lbuf, ubuf, gbuf, <int>n_l, <int>n_u, <int>d)
        if work_t is double:
            acc = gbuf  # the GEMM's products are already in double
        for i in range(n_u):
            fold_products(<work_t *>NULL, acc + i * n_l, norm_lab + l0, n_l, norm_u[i],
                          gamma, l0, dist, &states[i])
        l0 += n_l
    mir_states_unpack(states, n_u, best, dmin, dsecond, ssum)


#: Doubles per row state (``mir_row_state``) in the per-thread scratch.
cdef int64_t STATE_DOUBLES = sizeof(mir_row_state) // sizeof(double)


cdef object numpy_dtype(work_t *kind):
    return np.float32 if work_t is float else np.float64


cdef void refuse_float64_in_float32() except *:
    raise TypeError("float64 data are never folded in float32 (the float32 pass is only "
                    "for float32 data)")


def centred_sq_norms(const data_t[:, ::1] X, const int64_t[::1] rows,
                     const work_t[::1] mean, double[::1] out, int n_threads):
    """out[i] = ||X[rows[i]] - mean||^2, centred in work_t exactly as the kernel does."""
    cdef int64_t i, n = rows.shape[0], d = X.shape[1]
    cdef work_t *buf
    if data_t is double and work_t is float:
        refuse_float64_in_float32()
    if n == 0:
        return
    cdef work_t[:, ::1] work = np.empty((n_threads, d), dtype=numpy_dtype(<work_t *>NULL))
    with nogil:
        for i in prange(n, num_threads=n_threads, schedule='static'):
            buf = &work[mir_omp_thread_id(), 0]
            centre(&X[0, 0] + rows[i] * d, &mean[0], d, buf)
            out[i] = sq_norm(buf, d)


def fold_dense(const data_t[:, ::1] X, const int64_t[::1] labelled,
               const int64_t[::1] rows, const work_t[::1] mean,
               const double[::1] norm_lab, double gamma,
               int64_t tile_rows, int64_t tile_labelled, int64_t k_slice, int n_threads,
               int64_t[::1] best, double[::1] dmin, double[::1] dsecond,
               double[::1] ssum, double[::1] norm_rows):
    """Run the fused reduction for ``rows`` against ``labelled``.

    Each thread owns its scratch: in ``work_t``, the gathered unlabelled and labelled
    tiles and their product ((tile_rows + tile_labelled) * d + tile_rows *
    tile_labelled); in double, the distances of one row (tile_labelled), the row
    states (tile_rows of them) and, in float32, the double accumulator of the
    sliced products (tile_rows * tile_labelled).  ``k_slice`` is the float32 feature
    slice (ignored in float64).  Outputs, one entry per row: ``best`` (position in ``labelled`` of the
    nearest labelled row, first on ties), ``dmin``, ``dsecond`` (smallest and second
    smallest squared distance), ``ssum`` (sum of exp(-gamma (d - dmin))) and
    ``norm_rows`` (squared norm of the centred row, for the error bound).
    """
    cdef int64_t n_rows = rows.shape[0], n_lab = labelled.shape[0], d = X.shape[1]
    cdef int64_t n_tiles = (n_rows + tile_rows - 1) // tile_rows
    cdef int64_t t, r0, n_u
    cdef int tid
    cdef work_t *ubuf
    cdef work_t *lbuf
    cdef work_t *gbuf
    cdef double *dist
    cdef double *acc
    cdef mir_row_state *states
    if data_t is double and work_t is float:
        refuse_float64_in_float32()
    if n_rows == 0:
        return
    cdef int64_t accumulator = tile_rows * tile_labelled if work_t is float else 0
    cdef work_t[:, ::1] work = np.empty(
        (n_threads, (tile_rows + tile_labelled) * d + tile_rows * tile_labelled),
        dtype=numpy_dtype(<work_t *>NULL))
    cdef double[:, ::1] dwork = np.empty(
        (n_threads, tile_labelled + STATE_DOUBLES * tile_rows + accumulator))
    with nogil:
        for t in prange(n_tiles, num_threads=n_threads, schedule='dynamic'):
            tid = mir_omp_thread_id()
            ubuf = &work[tid, 0]
            lbuf = ubuf + tile_rows * d
            gbuf = lbuf + tile_labelled * d
            dist = &dwork[tid, 0]
            states = <mir_row_state *>(dist + tile_labelled)
            acc = dist + tile_labelled + STATE_DOUBLES * tile_rows
            r0 = t * tile_rows
            n_u = min(tile_rows, n_rows - r0)
            fold_tile(&X[0, 0], d, &labelled[0], n_lab, &rows[r0], n_u, &mean[0],
                      &norm_lab[0], gamma, tile_labelled, k_slice, ubuf, lbuf, gbuf,
                      acc, dist, states, &best[r0], &dmin[r0], &dsecond[r0], &ssum[r0],
                      &norm_rows[r0])


# ---------------------------------------------------------------------------------
# The packed path: the kernel's own product (mir_packed.h) instead of BLAS.

cdef extern from "mir_packed.h" nogil:
    int mir_packed_isa()
    int mir_packed_mr(int isa)
    int mir_packed_nr(int isa, int itemsize)
    void mir_packed_products_f32(int isa, const float *a, int64_t n_a, const float *b,
                                 int64_t n_b, int64_t d, int64_t slice, double *c,
                                 int64_t ldc)
    void mir_packed_products_f64(int isa, const double *a, int64_t n_a, const double *b,
                                 int64_t n_b, int64_t d, int64_t slice, double *c,
                                 int64_t ldc)
    void mir_transpose_f32(const float *rows, int64_t w, int64_t d, float *panel)
    void mir_transpose_f64(const double *rows, int64_t w, int64_t d, double *panel)


#: Bytes of vector alignment of the packed buffers.
cdef int64_t ALIGN = 64


def packed_isa():
    """The instruction set of the packed kernels on this CPU: 2 (x86-64-v4), 1
    (x86-64-v3), 0 (none: the dense kernel uses BLAS)."""
    return mir_packed_isa()


def aligned_empty(int64_t rows, int64_t cols, object dtype):
    """An uninitialised C-ordered (rows, cols) array that starts ALIGN-aligned (so do
    its rows when cols * itemsize is a multiple of ALIGN); the other kernels' too."""
    itemsize = np.dtype(dtype).itemsize
    raw = np.empty(rows * cols * itemsize + ALIGN, dtype=np.uint8)
    start = (-raw.ctypes.data) % ALIGN
    return raw[start:start + rows * cols * itemsize].view(dtype).reshape(rows, cols)


cdef inline void transpose(const work_t *rows, int64_t width, int64_t d,
                           work_t *panel) noexcept nogil:
    if work_t is float:
        mir_transpose_f32(rows, width, d, panel)
    else:
        mir_transpose_f64(rows, width, d, panel)


cdef inline void packed_products(int isa, const work_t *a, int64_t n_a, const work_t *b,
                                 int64_t n_b, int64_t d, int64_t slice,
                                 double *c, int64_t ldc) noexcept nogil:
    if work_t is float:
        mir_packed_products_f32(isa, a, n_a, b, n_b, d, slice, c, ldc)
    else:
        mir_packed_products_f64(isa, a, n_a, b, n_b, d, slice, c, ldc)


cdef void pack_rows(const data_t *X, int64_t d, const int64_t *rows, int64_t n,
                    const work_t *mean, int64_t width, work_t *scratch, work_t *packed,
                    double *sq_norms) noexcept nogil:
    """Centre rows[0 .. n-1] into ``packed`` (panels of ``width`` rows, the last one
    padded with zero rows), a panel at a time: centred row by row into ``scratch``
    (width x d), then ``transpose``d; their squared norms into ``sq_norms`` unless
    it is NULL."""
    cdef int64_t p0 = 0, i, m
    while p0 < n:
        m = min(width, n - p0)
        for i in range(m):
            centre(X + rows[p0 + i] * d, mean, d, scratch + i * d)
            if sq_norms != NULL:
                sq_norms[p0 + i] = sq_norm(scratch + i * d, d)
        for i in range(m * d, width * d):
            scratch[i] = 0
        transpose(scratch, width, d, packed + p0 * d)
        p0 += width


cdef void fold_packed_tile(const data_t *X, int64_t d, const work_t *packed_lab,
                           int64_t lab0, int64_t n_lab, const int64_t *rows, int64_t n_u,
                           const work_t *mean, const double *norm_lab, double gamma,
                           int isa, int64_t mr, int64_t nr, int64_t block, int64_t slice,
                           work_t *scratch, work_t *packed_u, double *products, double *dist,
                           mir_row_state *states, double *norm_rows,
                           bint first_chunk) noexcept nogil:
    """Fold unlabelled ``rows`` against the packed labelled rows lab0 .. lab0 + n_lab
    - 1 (``packed_lab`` starts at lab0's panel), ``block`` labelled rows at a time;
    the rows' squared norms go to ``norm_rows`` with the first chunk."""
    cdef int64_t i, b0, n_b, n_a = (n_u + mr - 1) // mr
    pack_rows(X, d, rows, n_u, mean, mr, scratch, packed_u,
              norm_rows if first_chunk else NULL)
    b0 = 0
    while b0 < n_lab:
        n_b = min(block, n_lab - b0)
        packed_products(isa, packed_u, n_a, packed_lab + b0 * d, (n_b + nr - 1) // nr,
                        d, slice, products, block)
        for i in range(n_u):
            fold_products(<work_t *>NULL, products + i * block, norm_lab + lab0 + b0, n_b,
                          norm_rows[i], gamma, lab0 + b0, dist, &states[i])
        b0 += n_b


def fold_packed(const data_t[:, ::1] X, const int64_t[::1] labelled,
                const int64_t[::1] rows, const work_t[::1] mean,
                const double[::1] norm_lab, double gamma, int isa,
                int64_t tile_rows, int64_t block, int64_t chunk, int64_t slice,
                int n_threads, int64_t[::1] best, double[::1] dmin, double[::1] dsecond,
                double[::1] ssum, double[::1] norm_rows):
    """``fold_dense`` on the packed kernels of instruction set ``isa`` (``packed_isa``).

    The labelled rows are centred and packed once per ``chunk`` of them (a multiple
    of ``block``, which is a multiple of the labelled panel width), shared by all
    threads; each thread packs its tiles of ``tile_rows`` unlabelled rows (a
    multiple of the unlabelled panel width) and folds them ``block`` labelled rows
    at a time.  ``slice``: features summed in the work type before the sum moves to
    double.  A product depends on neither tiles nor threads, and the fold's blocks
    sit on a fixed grid of the labelled rows, so the results are identical for any
    number of threads and any ``tile_rows``.  Outputs as ``fold_dense``.
    """
    cdef int64_t n_rows = rows.shape[0], n_lab = labelled.shape[0], d = X.shape[1]
    cdef int64_t mr = mir_packed_mr(isa), nr = mir_packed_nr(isa, sizeof(work_t))
    cdef int64_t n_tiles = (n_rows + tile_rows - 1) // tile_rows
    cdef int64_t t, p, r0, n_u, c0, n_c, n_panels
    cdef int tid
    if data_t is double and work_t is float:
        refuse_float64_in_float32()
    if n_rows == 0:
        return
    if n_lab == 0:
        raise ValueError("fold_packed needs at least one labelled row")
    if tile_rows % mr or block % nr or chunk % block:
        raise ValueError("tile_rows, block and chunk must be multiples of the panel widths")
    dtype = numpy_dtype(<work_t *>NULL)
    cdef work_t[:, ::1] packed_lab = aligned_empty(
        1, (min(chunk, n_lab) + nr - 1) // nr * nr * d, dtype)
    cdef work_t[:, ::1] packed_u = aligned_empty(n_threads, (tile_rows * d + 15) // 16 * 16,
                                                 dtype)
    cdef work_t[:, ::1] rowbuf = np.empty((n_threads, max(mr, nr) * d), dtype=dtype)
    cdef double[:, ::1] products = aligned_empty(n_threads, tile_rows * block, np.float64)
    cdef double[:, ::1] dist = np.empty((n_threads, block))
    cdef double[:, ::1] state_buf = np.empty((n_rows, STATE_DOUBLES))
    cdef mir_row_state *states = <mir_row_state *>&state_buf[0, 0]
    with nogil:
        mir_states_init(states, n_rows)
        c0 = 0
        while c0 < n_lab:
            n_c = min(chunk, n_lab - c0)
            n_panels = (n_c + nr - 1) // nr
            for p in prange(n_panels, num_threads=n_threads, schedule='static'):
                tid = mir_omp_thread_id()
                pack_rows(&X[0, 0], d, &labelled[c0 + p * nr], min(nr, n_c - p * nr),
                          &mean[0], nr, &rowbuf[tid, 0], &packed_lab[0, 0] + p * nr * d,
                          NULL)
            for t in prange(n_tiles, num_threads=n_threads, schedule='dynamic'):
                tid = mir_omp_thread_id()
                r0 = t * tile_rows
                n_u = min(tile_rows, n_rows - r0)
                fold_packed_tile(&X[0, 0], d, &packed_lab[0, 0], c0, n_c, &rows[r0], n_u,
                                 &mean[0], &norm_lab[0], gamma, isa, mr, nr, block, slice,
                                 &rowbuf[tid, 0], &packed_u[tid, 0], &products[tid, 0],
                                 &dist[tid, 0], &states[r0], &norm_rows[r0], c0 == 0)
            c0 += n_c
        mir_states_unpack(states, n_rows, &best[0], &dmin[0], &dsecond[0], &ssum[0])


# ---------------------------------------------------------------------------------
# Whole-data statistics.

cdef double block_sums(const data_t *X, int64_t n, int64_t d, double *sums) noexcept nogil:
    """sums = column sums of the n x d rows X, rows added in order; returns the
    largest squared row norm (NaN if a row has one)."""
    cdef int64_t i, k
    cdef double norm, largest = 0.0
    for k in range(d):
        sums[k] = 0.0
    for i in range(n):
        for k in range(d):
            sums[k] += X[i * d + k]
        if data_t is float:
            norm = mir_sqnorm_f32(X + i * d, d)
        else:
            norm = mir_sqnorm_f64(X + i * d, d)
        if norm > largest or norm != norm:
            largest = norm
    return largest


def block_statistics(const data_t[:, ::1] X, int64_t block_rows, int n_threads,
                     double[:, ::1] sums, double[::1] max_sq_norms):
    """Per block of ``block_rows`` rows (from row 0): the column sums in double,
    rows added in order (``sums[b]``), and the largest squared row norm in double
    (``max_sq_norms[b]``).  Blocks run in parallel; each is summed on one thread, so
    the results do not depend on the number of threads."""
    cdef int64_t n = X.shape[0], d = X.shape[1], b, start
    cdef int64_t n_blocks = (n + block_rows - 1) // block_rows
    if n == 0:
        return
    with nogil:
        for b in prange(n_blocks, num_threads=n_threads, schedule='static'):
            start = b * block_rows
            max_sq_norms[b] = block_sums(&X[0, 0] + start * d, min(block_rows, n - start),
                                         d, &sums[b, 0])
