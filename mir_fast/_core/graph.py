"""The victims' RBF graph, never stored whole: degrees, products and a certified
sparse form.

scikit-learn's label propagation and spreading iterate with a matrix built from the
affinity ``W_ij = exp(-gamma ||x_i - x_j||^2)`` (``W_ii = 1``):

* propagation: ``P = D^-1 W``, ``D_i = sum_j W_ij`` (the diagonal included);
* spreading: ``S = D0^-1/2 W0 D0^-1/2``, with ``W0`` the affinity without its
  diagonal, ``D0_i = sum_{j != i} W_ij`` (1 for an isolated input) and a zero
  diagonal.

Both are applied to a label matrix ``F`` (n x k, entries >= 0) once per iteration.
:class:`RBFGraph` computes the affinity block by block of rows (``BLOCK_BYTES`` of
it per thread: O(n) memory per row, never O(n^2)), from squared distances
``||u||^2 + ||v||^2 - 2 <u, v>`` in float64 (dense rows centred first), clamped at
0, with exact zeros on the diagonal, as scikit-learn's ``euclidean_distances``.

Two ways to multiply
--------------------
``streaming``: every product recomputes the affinity, block by block (O(n^2 d) work
per product, O(n k) memory).  Exact up to rounding.

``sparse``: one pass keeps, for each row ``i``, the diagonal and the entries with
``W_ij >= DROP_RATIO * max_{j != i} W_ij`` (CSR) and the row's dropped mass
``r_i = sum of the other W_ij``, summed from those entries (as the difference of
the degree and the kept sum it would cancel to 0 and certify nothing); the degrees
are computed from every entry.  The
sparse product then differs from the exact one, in row ``i`` and every column, by
at most ``r_i * max F / D_i`` (propagation).  For spreading the pass runs after
the degrees are known and keeps the entries of ``W0 D0^-1/2`` themselves (their
threshold and dropped mass ``r_i`` measured in that matrix), so the bound is
``r_i * max F / sqrt(D0_i)``: a bound through the largest column scale
``1 / sqrt(min D0)`` would be astronomically loose wherever one input is isolated.

The certificate.  A row's product is accepted when that bound is at most
``CERTIFY_RATIO`` times the sum of the row's product (its scale: what the
normalisation of propagation divides by, what spreading adds ``(1 - alpha) Y`` to);
every other row is recomputed from its full affinity row (``exact_rows``).  So
after ``t`` products each row of ``F`` is within ``2 t CERTIFY_RATIO`` of its row
sum of the exact iteration (entrywise relative errors pass unchanged through a
non-negative matrix, and normalising at most doubles a row-sum-relative one):
``2^-43 t``, 1.1e-10 after scikit-learn's default 1,000 iterations, below the
rounding of scikit-learn's own dense product of n terms (up to ``n 2^-53``
relative to the row).  Dropping relative to the row's largest *affinity* alone
would not be safe: a row whose labelled neighbours are all far away has a tiny
product that normalisation scales back up, and those are exactly the rows the
certificate sends to ``exact_rows``.
"""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp

from .._threads import single_threaded_blas

#: Bytes of affinities one thread holds at a time (a block of rows x all columns).
BLOCK_BYTES = 32 << 20
#: The sparse form keeps an entry of at least this fraction of its row's largest.
DROP_RATIO = 2.0**-60
#: A sparse row product is accepted when its error bound is at most this fraction
#: of the row's sum (see the module docstring); else the row is recomputed.
CERTIFY_RATIO = 2.0**-44
#: Bytes per kept entry of the sparse form (a float64 value and an int32 index).
BYTES_PER_ENTRY = 12
#: Row blocks measured to estimate the sparse form's density.
DENSITY_SAMPLE_BLOCKS = 4


class RBFGraph:
    """The affinity of validated X (dense float32/float64 or canonical CSR).

    Parameters
    ----------
    X : ndarray or CSR matrix of shape (n, d)
    gamma : float
    n_threads : int
        Threads over row blocks (BLAS single-threaded inside each).
    verbose : bool
        Show a progress bar (with the time left) for passes that take over 2 s.
    """

    def __init__(self, X, gamma, n_threads=1, verbose=False):
        self.gamma = float(gamma)
        self.verbose = verbose
        self.n_threads = max(1, int(n_threads))
        self.n = X.shape[0]
        self.is_sparse = sp.issparse(X)
        if self.is_sparse:
            self.rows = X.astype(np.float64)
            self.columns_t = self.rows.T.tocsr()
            self.sq_norms = np.asarray(self.rows.multiply(self.rows).sum(axis=1)).ravel()
        else:
            self.mean = X.mean(axis=0, dtype=np.float64)
            self.rows = np.asarray(X, dtype=np.float64) - self.mean
            self.sq_norms = np.einsum("ij,ij->i", self.rows, self.rows)
        self.block_rows = int(max(1, min(self.n, BLOCK_BYTES // (8 * max(self.n, 1)))))

    # -- affinities ---------------------------------------------------------------------

    def sq_distances(self, rows):
        """Squared distances from the inputs ``rows`` (indices) to every input."""
        D = self.sq_distances_from(self.rows[rows], self.sq_norms[rows])
        D[np.arange(len(rows)), rows] = 0.0
        return D

    def sq_distances_from(self, points, sq_norms):
        """Squared distances from ``points`` (prepared as the graph's rows: float64,
        centred when dense) with squared norms ``sq_norms`` to every input."""
        if self.is_sparse:
            dots = (points @ self.columns_t).toarray()
        else:
            dots = points @ self.rows.T
        D = sq_norms[:, None] + self.sq_norms[None, :] - 2.0 * dots
        return np.maximum(D, 0.0, out=D)

    def affinity(self, rows, diagonal=1.0):
        """``W[rows]``: the affinities of ``rows`` to every input (``W_ii = diagonal``)."""
        W = self.sq_distances(rows)
        W *= -self.gamma
        np.exp(W, out=W)
        W[np.arange(len(rows)), rows] = diagonal
        return W

    def blocks(self):
        """Index arrays of consecutive row blocks covering every input."""
        return [np.arange(start, min(start + self.block_rows, self.n))
                for start in range(0, self.n, self.block_rows)]

    def map_blocks(self, function, blocks=None, desc=None):
        """``[function(rows) for rows in blocks]``, on the graph's threads (with a
        progress bar named ``desc`` when the graph is verbose)."""
        blocks = self.blocks() if blocks is None else blocks
        bar = progress_bar(self.verbose and desc, len(blocks), desc)
        results = []
        with single_threaded_blas(), ThreadPoolExecutor(self.n_threads) as pool:
            for result in pool.map(function, blocks):
                results.append(result)
                bar.update(1)
        bar.close()
        return results

    # -- the sparse form --------------------------------------------------------------

    def kept_density(self, diagonal):
        """Share of entries the sparse form keeps, measured on a few row blocks."""
        blocks = self.blocks()
        chosen = [blocks[i] for i in np.unique(np.linspace(0, len(blocks) - 1,
                                                           DENSITY_SAMPLE_BLOCKS).astype(int))]

        def count(rows):
            return int(self._kept_mask(rows, self.affinity(rows, diagonal)).sum()), len(rows) * self.n

        counts = self.map_blocks(count, chosen)
        return sum(c for c, _ in counts) / max(sum(s for _, s in counts), 1)

    def sparse_form(self, diagonal, column_scale=None):
        """(kept entries as CSR, degrees, dropped mass per row) in one pass.

        With ``column_scale`` the entries are ``W_ij * column_scale[j]`` (the
        degrees stay those of W): the sparse form, its threshold and its dropped
        mass are then those of the matrix actually multiplied.
        """

        def keep(rows):
            W = self.affinity(rows, diagonal)
            degrees = W.sum(axis=1)
            if column_scale is not None:
                W *= column_scale[None, :]
            kept = self._kept_mask(rows, W)
            dropped = np.sum(W, axis=1, where=~kept)  # summed, never a difference
            W[~kept] = 0.0
            return sp.csr_matrix(W), degrees, dropped

        parts = self.map_blocks(keep, desc="sparse graph")
        kept = sp.vstack([p[0] for p in parts], format="csr")
        return (kept, np.concatenate([p[1] for p in parts]),
                np.concatenate([p[2] for p in parts]))

    def _kept_mask(self, rows, W):
        """Entries of the sparse form: at least ``DROP_RATIO`` times the row's largest
        off-diagonal affinity, and the diagonal (which the off-diagonal maximum
        ignores: ``W_ii = 1`` would otherwise drown every neighbour at a large gamma)."""
        diagonal = np.arange(len(rows)), rows
        own = W[diagonal].copy()
        W[diagonal] = 0.0
        kept = W >= DROP_RATIO * W.max(axis=1, keepdims=True)
        W[diagonal] = own
        kept[diagonal] = True
        return kept

    def degrees(self, diagonal):
        """Row sums of the affinity (``W_ii = diagonal``), streamed."""
        return np.concatenate(self.map_blocks(
            lambda rows: self.affinity(rows, diagonal).sum(axis=1), desc="degrees"))

    # -- products -----------------------------------------------------------------------

    def streamed_product(self, F, diagonal, rows=None):
        """``W[rows] @ F`` (every row by default), the affinity recomputed."""
        blocks = self.blocks() if rows is None else [
            rows[s : s + self.block_rows] for s in range(0, len(rows), self.block_rows)]
        parts = self.map_blocks(lambda r: self.affinity(r, diagonal) @ F, blocks,
                                desc="streamed product" if rows is None else "exact rows")
        return np.concatenate(parts) if parts else np.empty((0, F.shape[1]))


class _NoBar:
    def update(self, n):
        pass

    def close(self):
        pass


def progress_bar(enabled, total, desc):
    """A tqdm bar shown after 2 s (it estimates the time left), or nothing."""
    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="block", delay=2.0, leave=False)


class CrossAffinity:
    """Affinities of new inputs to the inputs of a graph, for ``predict_proba``:
    ``exp(-gamma (d - d_min))`` per new input, a row scaling that the
    normalisation of the probabilities cancels and that keeps them finite where
    every raw weight underflows."""

    def __init__(self, graph):
        self.graph = graph

    def weighted_sums(self, X_new, F):
        """``sum_j exp(-gamma (d_ij - min_j d_ij)) F_j`` for every new input ``i``."""
        graph = self.graph
        if graph.is_sparse:
            points = sp.csr_matrix(X_new, dtype=np.float64)
            sq = np.asarray(points.multiply(points).sum(axis=1)).ravel()
        else:
            points = np.asarray(X_new, dtype=np.float64) - graph.mean
            sq = np.einsum("ij,ij->i", points, points)

        def block(rows):
            D = graph.sq_distances_from(points[rows], sq[rows])
            D -= D.min(axis=1, keepdims=True)
            D *= -graph.gamma
            np.exp(D, out=D)
            return D @ F

        n_new = points.shape[0]
        blocks = [np.arange(s, min(s + graph.block_rows, n_new))
                  for s in range(0, n_new, graph.block_rows)]
        return np.concatenate(graph.map_blocks(block, blocks))

