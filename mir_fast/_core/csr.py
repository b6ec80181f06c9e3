"""CSR data: the dense head, the feature-major tail, and the cascade of the CSR kernel.

Passes: one pass whose products are accumulated in double (a dense head of the
features with the most matching pairs, by a register-blocked product; the other
features scattered from a feature-major index of the labelled rows), then the exact
pass.  The head depends on all rows, so it is part of the whole-data context.
"""

import numpy as np

from .. import _exact, _sparse
from .._validation import check_squared_norms
from ._certificate import (FAST_EXP_ERROR, Pass, Reduced, certify,
                           distance_error_bound)
from ._tiling import csr_tile_rows

#: One scattered multiply-add of the CSR kernel costs about this many flops of the
#: dense head product (measured: ~0.7 ns per scattered pair, ~59 GFLOP/s per core
#: for the head's register-blocked product; the choice is flat around it).
SCATTER_COST_IN_FLOPS = 40
#: Candidate numbers of dense head features for the CSR kernel.
HEAD_SIZES = (0, 8, 16, 24, 32, 48, 64, 96, 128, 192, 256)
#: A CSR pair costs about as much work as this many dense features
#: (``_threads.threads_for_work``).
FEATURES_PER_PAIR = 16


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


def row_sq_norms(X, rows, n_threads):
    out = np.empty(len(rows))
    _sparse.row_sq_norms(X.data, X.indptr, rows, out, n_threads)
    return out


def product_pass(X, labelled, rows, norm_lab, norm_rows, head, gamma, n_threads):
    """The CSR kernel's pass (see ``_certificate.Pass``): products in double."""
    n_labelled = len(labelled)

    def kernel(positions, height):
        split = split_labelled(X, labelled, head)
        reduced = Reduced.empty(len(positions))
        sq_norms = norm_rows[positions]
        _sparse.fold_csr(X.data, X.indices, X.indptr, rows[positions], *split, norm_lab,
                         sq_norms, gamma,
                         height or csr_tile_rows(len(positions), n_labelled), n_threads,
                         reduced.nearest, reduced.d_min, reduced.d_second, reduced.weight_sum)
        reduced.error_bound = distance_error_bound(sq_norms, norm_lab.max(), terms(positions),
                                                   np.float64)
        return reduced

    nnz = np.diff(X.indptr)
    longest_labelled = nnz[labelled].max()

    def terms(positions):
        return len(head) + np.maximum(nnz[rows[positions]], longest_labelled)

    return Pass(kernel=kernel, exp_error=FAST_EXP_ERROR if X.dtype == np.float32 else 0.0)


def fold_csr(X, labelled, rows, gamma, threshold, n_threads, head=None, height=None):
    """Certified reduction of CSR ``rows`` of X against ``labelled`` rows.

    ``head`` and ``height`` (``CSREngine.context``) let a caller folding whole
    super-tiles of the rows get the bits of one call on all rows.
    """
    norm_lab = row_sq_norms(X, labelled, n_threads)
    norm_rows = row_sq_norms(X, rows, n_threads)
    check_squared_norms(max(norm_lab.max(), norm_rows.max(initial=0.0)))
    if len(rows) and head is None:
        head = csr_head_features(X, labelled, rows)
    passes = [product_pass(X, labelled, rows, norm_lab, norm_rows, head, gamma, n_threads)]

    def exact(positions):
        reduced = Reduced.empty(len(positions))
        _exact.exact_csr(X.data, X.indices, X.indptr, labelled, rows[positions], gamma,
                         n_threads, reduced.nearest, reduced.d_min, reduced.d_second, reduced.weight_sum)
        return reduced

    return certify(passes, exact, len(rows), gamma, threshold, len(labelled),
                   height=height or csr_tile_rows(len(rows), len(labelled)))


class CSREngine:
    """The seam for CSR X (canonical, float32 or float64, validated)."""

    kind = "csr"

    def __init__(self, X):
        self.X = X

    def context(self, labelled, rows):
        """Keyword arguments of :meth:`fold` that depend on all ``rows``, so that
        folding the rows in whole super-tiles gives the bits of one call."""
        return {"head": csr_head_features(self.X, labelled, rows),
                "height": csr_tile_rows(len(rows), len(labelled))}

    def work(self, n_labelled, n_rows):
        """Pair-features of a fold (``_threads.threads_for_work``)."""
        mean_nnz = self.X.nnz / max(self.X.shape[0], 1)
        return n_labelled * n_rows * max(mean_nnz, FEATURES_PER_PAIR)

    def fold(self, labelled, rows, gamma, threshold, n_threads, **context):
        return fold_csr(self.X, labelled, rows, gamma, threshold, n_threads, **context)
