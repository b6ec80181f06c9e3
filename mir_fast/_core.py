"""Dispatch to the kernels, and the certificate that makes their answers exact.

Every unlabelled row ``u`` needs three facts about its distances
``d_ul = ||u - l||^2`` to the labelled rows: the nearest labelled row (first on
ties), ``d_min``, and ``s_u = sum_l exp(-gamma (d_ul - d_min))``, whose inverse is
the share of the labelled influence held by the nearest one.  The fast kernels
compute ``d_ul`` by the expansion ``||u||^2 + ||l||^2 - 2 <u, l>``; their error is
bounded (Higham's bound for a dot product of ``k`` terms) by

    delta_u = (k + 4) * (eps + 2^-53) * (||u|| + max_l ||l||)^2,

with ``eps`` the unit roundoff of the precision of the dot products (2^-24 for
float32, 2^-53 for float64), ``k`` the number of terms summed in that precision
(the number of features; in float32 the width of a feature slice, whose partial
sums are added in double; for CSR the largest number of non-zeros in a row), and
norms taken after centring (dense).  The rounding of the dot product contributes
at most ``2 gamma_k ||u|| ||l|| <= (k / 2) eps (||u|| + ||l||)^2``, the centring
``2 eps (||u|| + ||l||)^2``, and the squared norms (always accumulated in double)
``k 2^-53 (||u|| + ||l||)^2``; the constant covers their sum with a factor of
about two to spare.  In code: ``delta_u = (k + 4) (eps + 2^-53) (...)^2``.

A row's decision is certain when

* the gap between the second-nearest and the nearest distance exceeds
  ``2 delta_u`` (so the nearest labelled row is the true one, and no exact tie is
  possible), and
* ``|log(s_u) + log(threshold)| > 2 gamma delta_u + (l + 64) 2^-50 (+ 2e-8 in the
  float32 pass)``: each weight's exponent is off by at most ``2 gamma delta_u``, and
  the other terms bound the rounding of the exponentials (the float32 pass uses a
  shorter polynomial, relative error below 1e-8), the sums and the rescalings, so
  ``share > threshold`` cannot change.

Rows that fail either test go to the next, more precise pass: float32 dot products,
then float64 dot products, then the exact pass (``_exact``) that computes every
distance from its definition.  float32 and float64 copies of the same data
therefore give the same nearest inputs and the same counts.
"""

from dataclasses import dataclass

import numpy as np

from . import _dense, _exact, _sparse

UNIT_ROUNDOFF = {np.dtype(np.float32): 2.0**-24, np.dtype(np.float64): 2.0**-53}

#: Unlabelled rows per tile once there are enough rows to keep every thread busy.
TILE_ROWS = 512
#: Rows of unlabelled inputs that callers may fold separately without changing a bit
#: (a multiple of every tile height).
SUPER_TILE_ROWS = 32 * TILE_ROWS
#: Bytes of labelled rows a thread gathers per tile (sets the labelled tile height).
LABELLED_TILE_BYTES = 2 << 20
#: Bytes of the CSR kernel's product tile (a few unlabelled rows x all labelled rows).
CSR_PRODUCT_TILE_BYTES = 1 << 20
#: One scattered multiply-add of the CSR kernel costs about this many flops of the
#: dense head product (measured here: ~0.7 ns per scattered pair, ~59 GFLOP/s per
#: core for the head's register-blocked product; the choice is flat around it).
SCATTER_COST_IN_FLOPS = 40
#: Candidate numbers of dense head features for the CSR kernel.
HEAD_SIZES = (0, 8, 16, 24, 32, 48, 64, 96, 128, 192, 256)
#: Relative error bound of the float32 pass's exponentials (degree-7 polynomial).
FAST_EXP_ERROR = 1e-8
#: Largest number of features summed in float32 before the sum moves to double.
FLOAT32_SLICE = 256
#: float32 dot products are only used when every |<u, l>| stays far from float32 overflow.
FLOAT32_MAX_SQ_NORM = 1e36


@dataclass
class RowFold:
    """Per-unlabelled-row results of the reduction (one entry per row)."""

    nearest: np.ndarray  # position in ``labelled`` of the nearest labelled row
    d_min: np.ndarray  # its squared distance
    weight_sum: np.ndarray  # s_u = sum_l exp(-gamma (d_ul - d_min)) >= 1
    stage: np.ndarray  # 0, 1, ...: the pass that certified the row (last = exact)

    @classmethod
    def concatenate(cls, parts):
        return cls(*(np.concatenate([getattr(p, name) for p in parts])
                     for name in ("nearest", "d_min", "weight_sum", "stage")))

    @classmethod
    def empty(cls, n_rows):
        return cls(
            nearest=np.empty(n_rows, dtype=np.int64),
            d_min=np.empty(n_rows),
            weight_sum=np.empty(n_rows),
            stage=np.zeros(n_rows, dtype=np.int8),
        )


def float32_slice(n_features):
    """Features per float32 GEMM slice: the fewest slices of at most FLOAT32_SLICE,
    evened out (their partial dot products are summed in double)."""
    n_slices = -(-n_features // FLOAT32_SLICE)
    return int(-(-n_features // n_slices))


def tile_rows(n_rows):
    """Unlabelled rows per tile: a function of the row count only (never of threads)."""
    if n_rows >= 8 * TILE_ROWS:
        return TILE_ROWS
    per_tile = -(-n_rows // 8)
    return int(max(16, -(-per_tile // 16) * 16))


def csr_tile_rows(n_rows, n_labelled):
    """Unlabelled rows per CSR tile: a power of two, about CSR_PRODUCT_TILE_BYTES of
    products, 4..64 (so tiles never straddle the chunks of whole dense tiles)."""
    height = min(max(CSR_PRODUCT_TILE_BYTES // (8 * n_labelled), 4), 64)
    height = 1 << (int(height).bit_length() - 1)
    return int(min(height, tile_rows(n_rows)))


def tile_labelled(n_features, itemsize, n_labelled):
    """Labelled rows per tile: about LABELLED_TILE_BYTES of gathered rows, 16..1024."""
    height = LABELLED_TILE_BYTES // (n_features * itemsize) // 16 * 16
    return int(min(max(height, 16), 1024, n_labelled))


def uncertain_rows(nearest_gap, weight_sum, sq_norms, max_sq_norm_labelled, terms, eps,
                   gamma, threshold, n_labelled, exp_error=0.0):
    """Boolean mask of rows whose decision the pass cannot certify (see module doc).

    ``exp_error`` is the relative error of the exponentials the pass used beyond
    double precision (the float32 pass uses a shorter polynomial).
    """
    delta = (terms + 4.0) * (eps + 2.0**-53) * (
        np.sqrt(sq_norms) + np.sqrt(max_sq_norm_labelled)
    ) ** 2
    close_to_tie = nearest_gap <= 2.0 * delta
    slack = 2.0 * gamma * delta + (n_labelled + 64) * 2.0**-50 + 2.0 * exp_error
    close_to_threshold = np.abs(np.log(weight_sum) + np.log(threshold)) <= slack
    return close_to_tie | close_to_threshold


def _outputs(n_rows):
    return (
        np.empty(n_rows, dtype=np.int64),
        np.empty(n_rows),
        np.empty(n_rows),
        np.empty(n_rows),
    )


def _store(fold, positions, stage, best, dmin, ssum):
    fold.nearest[positions] = best
    fold.d_min[positions] = dmin
    fold.weight_sum[positions] = ssum
    fold.stage[positions] = stage


def _centred_sq_norms(X, rows, mean, n_threads):
    out = np.empty(len(rows))
    work = np.empty((n_threads, X.shape[1]), dtype=mean.dtype)
    _dense.centred_sq_norms(X, rows, mean, work, out, n_threads)
    return out


#: Rows per block of the column sums behind the centring mean.  The blocks start at
#: row 0 whatever the caller's chunking, so the mean is the same bits everywhere.
STATISTICS_BLOCK_ROWS = 1024


@dataclass
class DenseStatistics:
    """What the dense passes need to know about all of X: the mean they centre with
    and the largest squared row norm (which decides whether float32 is safe)."""

    mean: np.ndarray  # float64
    max_sq_norm: float  # of the uncentred rows, in float64

    @classmethod
    def of(cls, X):
        return cls.combine([block_statistics(X, start)
                            for start in range(0, X.shape[0], STATISTICS_BLOCK_ROWS)],
                           X.shape[0])

    @classmethod
    def combine(cls, partials, n_rows):
        """From ``block_statistics`` of every block, in row order."""
        total = np.zeros_like(partials[0][0])
        for sums, _ in partials:
            total += sums
        return cls(total / n_rows, max(p[1] for p in partials))


def block_statistics(X, start):
    """(column sums in float64, largest squared row norm) of rows ``start`` to
    ``start + STATISTICS_BLOCK_ROWS`` (a block of the row-block grid)."""
    block = np.asarray(X[start : start + STATISTICS_BLOCK_ROWS], dtype=np.float64)
    return block.sum(axis=0), float(np.einsum("ij,ij->i", block, block).max())


def _by_super_tile(positions):
    """``positions`` (sorted) split by the super-tile they fall in."""
    cuts = np.flatnonzero(np.diff(positions // SUPER_TILE_ROWS)) + 1
    return np.split(positions, cuts)


def _dense_pass(X, labelled, rows, mean, norm_lab, gamma, height, work_dtype, n_threads):
    """One kernel pass in ``work_dtype``: (best, d_min, d_second, sum, row norms)."""
    n_features = X.shape[1]
    best, dmin, dsecond, ssum = _outputs(len(rows))
    norm_rows = np.empty(len(rows))
    width = tile_labelled(n_features, work_dtype.itemsize, len(labelled))
    work = np.empty((n_threads, (height + width) * n_features + height * width),
                    dtype=work_dtype)
    sliced = work_dtype == np.float32
    dwork = np.empty((n_threads, width + 4 * height + (height * width if sliced else 0)))
    _dense.fold_dense(X, labelled, rows, mean, norm_lab, gamma, height, width,
                      float32_slice(n_features), work, dwork, n_threads, best, dmin, dsecond,
                      ssum, norm_rows)
    return best, dmin, dsecond, ssum, norm_rows


def fold_dense(X, labelled, rows, gamma, threshold, n_threads, statistics=None,
               height=None):
    """Certified reduction of dense ``rows`` of X against ``labelled`` rows.

    GEMM results depend on a row's place in its tile, so to get the bits of one call
    on all rows, a caller holding only some of them (a chunk, a worker's block) folds
    whole super-tiles (``SUPER_TILE_ROWS`` rows, counted from the first row) and
    passes ``whole_data_context``: the ``statistics`` of all of X (else computed from
    X) and the tile ``height`` of the whole call.
    """
    n_features = X.shape[1]
    n_labelled = len(labelled)
    fold = RowFold.empty(len(rows))
    pending = np.arange(len(rows))
    statistics = statistics or DenseStatistics.of(X)
    mean64 = statistics.mean
    # centred squared norms are at most (||x|| + ||mean||)^2 <= 4 max ||x||^2
    max_sq_norm = 4.0 * statistics.max_sq_norm
    if not np.isfinite(max_sq_norm):
        raise ValueError("X has values too large: squared distances overflow float64")
    work_dtypes = [np.dtype(np.float64)]
    if X.dtype == np.float32 and 4.0 * max_sq_norm < FLOAT32_MAX_SQ_NORM:
        work_dtypes.insert(0, np.dtype(np.float32))

    first_height = height or tile_rows(len(rows))
    for stage, work_dtype in enumerate(work_dtypes):
        if pending.size == 0:
            return fold
        mean = mean64.astype(work_dtype)
        norm_lab = _centred_sq_norms(X, labelled, mean, n_threads)
        sliced = work_dtype == np.float32
        terms = float32_slice(n_features) if sliced else n_features
        # the first pass tiles all rows; re-check passes tile the pending rows of each
        # super-tile on their own, so a caller folding whole super-tiles gets these bits
        groups = [pending] if stage == 0 else _by_super_tile(pending)
        still = []
        for group in groups:
            group_height = first_height if stage == 0 else tile_rows(len(group))
            best, dmin, dsecond, ssum, norm_rows = _dense_pass(
                X, labelled, rows[group], mean, norm_lab, gamma, group_height, work_dtype,
                n_threads)
            _store(fold, group, stage, best, dmin, ssum)
            unsure = uncertain_rows(dsecond - dmin, ssum, norm_rows, norm_lab.max(), terms,
                                    UNIT_ROUNDOFF[work_dtype], gamma, threshold, n_labelled,
                                    exp_error=FAST_EXP_ERROR if sliced else 0.0)
            still.append(group[unsure])
        pending = np.concatenate(still)

    if pending.size:
        best, dmin, dsecond, ssum = _outputs(len(pending))
        dwork = np.empty((n_threads, 2 * n_labelled + 4))
        _exact.exact_dense(X, labelled, rows[pending], gamma, dwork, n_threads,
                           best, dmin, dsecond, ssum)
        _store(fold, pending, len(work_dtypes), best, dmin, ssum)
    return fold


def choose_head_features(count_labelled, count_rows, n_labelled, n_rows):
    """Features to treat densely in the CSR kernel: the cheapest head by a cost model.

    Scattering feature ``f`` costs one read-modify-write for each of the
    ``count_rows[f] * count_labelled[f]`` matching pairs; treating ``h`` features
    densely costs ``2 n_rows n_labelled h`` flops of the dense head product
    instead, whichever they are.
    So the head is the ``h`` features with the most matching pairs, and
    ``SCATTER_COST_IN_FLOPS`` converts one cost into the other to choose ``h``.
    """
    pair_counts = count_labelled * count_rows
    order = np.argsort(-pair_counts, kind="stable")
    pairs = np.cumsum(pair_counts[order])
    total = pairs[-1] if len(pairs) else 0
    sizes = [h for h in HEAD_SIZES if h <= len(order)]

    def cost(h):
        covered = pairs[h - 1] if h else 0
        return SCATTER_COST_IN_FLOPS * (total - covered) + 2.0 * n_rows * n_labelled * h

    best = min(sizes, key=cost)
    return np.sort(order[:best])


def csr_head_features(X, labelled, rows):
    """The CSR kernel's dense head for these labelled and unlabelled rows."""
    n_features = X.shape[1]
    count_labelled = np.bincount(X[labelled].indices, minlength=n_features).astype(np.int64)
    count_rows = np.zeros(n_features, dtype=np.int64)
    for start in range(0, len(rows), 8192):  # chunks: never a copy of all the rows
        count_rows += np.bincount(X[rows[start : start + 8192]].indices, minlength=n_features)
    return choose_head_features(count_labelled, count_rows, len(labelled), len(rows))


def split_labelled(X, labelled, head):
    """Dense head and feature-major tail of the labelled rows (see ``_sparse``)."""
    n_features = X.shape[1]
    X_lab = X[labelled]
    head_slot = np.full(n_features, -1, dtype=np.int32)
    head_slot[head] = np.arange(len(head), dtype=np.int32)
    lab_head_t = np.ascontiguousarray(X_lab[:, head].toarray().T, dtype=np.float64)
    tail = X_lab.copy()
    tail.data[head_slot[tail.indices] >= 0] = 0
    tail.eliminate_zeros()
    by_feature = tail.tocsc()
    by_feature.sort_indices()
    return (
        head_slot,
        lab_head_t,
        by_feature.indptr.astype(np.int64),
        by_feature.indices.astype(np.int32),
        (-2.0 * by_feature.data).astype(X.dtype),  # exact in the data's precision
    )


def whole_data_context(X, is_sparse, labelled, rows):
    """Keyword arguments of ``fold_dense`` / ``fold_csr`` that depend on all rows, so
    that folding the rows in parts (chunks, workers) gives the bits of one call."""
    if is_sparse:
        return {"head": csr_head_features(X, labelled, rows),
                "height": csr_tile_rows(len(rows), len(labelled))}
    return {"statistics": DenseStatistics.of(X), "height": tile_rows(len(rows))}


def fold_csr(X, labelled, rows, gamma, threshold, n_threads, head=None, height=None):
    """Certified reduction of CSR ``rows`` of X against ``labelled`` rows.

    ``head`` and ``height`` (``whole_data_context``) let a caller folding whole
    super-tiles of the rows get the bits of one call on all rows.
    """
    n_labelled = len(labelled)
    fold = RowFold.empty(len(rows))
    norm_lab = np.empty(n_labelled)
    _sparse.row_sq_norms(X.data, X.indptr, labelled, norm_lab, n_threads)
    norm_rows = np.empty(len(rows))
    _sparse.row_sq_norms(X.data, X.indptr, rows, norm_rows, n_threads)
    max_sq_norm = max(norm_lab.max(), norm_rows.max(initial=0.0))
    if not np.isfinite(max_sq_norm):
        raise ValueError("X has values too large: squared distances overflow float64")
    if len(rows) == 0:
        return fold
    if head is None:
        head = csr_head_features(X, labelled, rows)
    head_slot, lab_head_t, tail_ptr, tail_pos, tail_val = split_labelled(X, labelled, head)
    n_head = lab_head_t.shape[0]
    best, dmin, dsecond, ssum = _outputs(len(rows))
    height = height or csr_tile_rows(len(rows), n_labelled)
    work = np.empty((n_threads, height * (n_head + n_labelled) + n_labelled))
    _sparse.fold_csr(X.data, X.indices, X.indptr, rows, head_slot, lab_head_t, tail_ptr,
                     tail_pos, tail_val, norm_lab, norm_rows, gamma, height, work,
                     n_threads, best, dmin, dsecond, ssum)
    del work, head_slot, lab_head_t, tail_ptr, tail_pos, tail_val
    positions = np.arange(len(rows))
    _store(fold, positions, 0, best, dmin, ssum)
    nnz = np.diff(X.indptr)
    terms = n_head + np.maximum(nnz[rows], nnz[labelled].max())
    fast_exp = X.dtype == np.float32
    unsure = uncertain_rows(dsecond - dmin, ssum, norm_rows, norm_lab.max(), terms,
                            UNIT_ROUNDOFF[np.dtype(np.float64)], gamma, threshold, n_labelled,
                            exp_error=FAST_EXP_ERROR if fast_exp else 0.0)
    pending = positions[unsure]
    if pending.size:
        best, dmin, dsecond, ssum = _outputs(len(pending))
        dwork = np.empty((n_threads, 2 * n_labelled + 4))
        _exact.exact_csr(X.data, X.indices, X.indptr, labelled, rows[pending], gamma, dwork,
                         n_threads, best, dmin, dsecond, ssum)
        _store(fold, pending, 1, best, dmin, ssum)
    return fold
