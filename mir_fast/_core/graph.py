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
per product, O(n k) memory).  Exact up to rounding (with a wide F, up to
``NEGLIGIBLE`` of each row's total: see ``significant_product``).

``sparse``: one pass keeps, for each row ``i``, the diagonal and the entries with
``W_ij >= DROP_RATIO * max_{j != i} W_ij`` (CSR) and the row's dropped mass
``r_i = sum of the other W_ij``, summed from those entries (as the difference of
the degree and the kept sum it would cancel to 0 and certify nothing); the degrees
are computed from every entry (dense data go through a screen, ``screens.py``: there
the entries the screen rules out enter ``r_i`` by an upper bound and are left out
of the degree, which is then low by at most ``r_i <= 2 n 2^-60 D_i``: it cancels in
propagation's row normalisation and moves an entry of spreading's ``S`` by at most
that share, far below the certificate's ratio).  The
sparse product then differs from the exact one in row ``i`` by at most
``r_i * m / D_i`` (propagation) summed over the columns of one label vector,
where ``m = max_j sum_c F_jc`` is the largest row mass of a vector in ``F``
(``sum_c |err_ic| <= sum_{j dropped} W_ij sum_c F_jc``): the bound holds for the
vector's row sum and for every signed combination of its columns with
coefficients in [-1, 1], which is what ``flip_impact`` reads.  For spreading the pass runs after
the degrees are known and keeps the entries of ``W0 D0^-1/2`` themselves (their
threshold and dropped mass ``r_i`` measured in that matrix), so the bound is
``r_i * m / sqrt(D0_i)``: a bound through the largest column scale
``1 / sqrt(min D0)`` would be astronomically loose wherever one input is isolated.

The certificate.  A row's product is accepted when that bound is at most
``CERTIFY_RATIO - 2 NEGLIGIBLE`` times the sum of the row's product (its scale: what the
normalisation of propagation divides by, what spreading adds ``(1 - alpha) Y`` to;
a wide F's entries below ``NEGLIGIBLE / m`` of their vector's mass are left out of
the sparse product, which moves it by at most ``NEGLIGIBLE`` of that sum:
``propagation.sparse_product``), so a row's error stays within ``CERTIFY_RATIO``;
every other row is recomputed: stored deeper and certified again
(``mir_fast._core.propagation``), or from its full affinity row
(``streamed_product`` with ``rows``), leaving out, when F is wide, only terms that
add at most ``NEGLIGIBLE = 2^-52`` of the row's total to any column
(``significant_product``; when F is non-zero on few rows, as in a propagation's
first products, the screen finds those terms without forming the others:
``screened_product``), so a recomputed row is within ``CERTIFY_RATIO`` of its
row sum (plus rounding).  So
after ``t`` products each row of ``F`` is within ``2 t CERTIFY_RATIO`` of its row
sum of the exact iteration (entrywise relative errors pass unchanged through a
non-negative matrix, and normalising at most doubles a row-sum-relative one):
``2^-43 t``, 1.1e-10 after scikit-learn's default 1,000 iterations, below the
rounding of scikit-learn's own dense product of n terms (up to ``n 2^-53``
relative to the row).  Dropping relative to the row's largest *affinity* alone
would not be safe: a row whose labelled neighbours are all far away has a tiny
product that normalisation scales back up, and those are exactly the rows the
certificate sends to the recomputation.
"""

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp

from .. import _graph
from .._threads import single_threaded_blas
from .screens import choose_screen

#: Bytes of affinities one thread holds at a time (a block of rows x all columns).
BLOCK_BYTES = 32 << 20
#: Bytes of a screen's float32 product one thread holds at a time, and its most
#: rows: OpenBLAS packs the whole n x d operand once per block, which on all of
#: MNIST took as long as the multiplication itself at the 69 rows of BLOCK_BYTES.
SCREEN_BYTES = 64 << 20
SCREEN_ROWS = 512
#: The sparse form keeps an entry of at least this fraction of its row's largest.
DROP_RATIO = 2.0**-60
#: A sparse row product is accepted when its error bound is at most this fraction
#: of the row's sum (see the module docstring); else the row is recomputed.
CERTIFY_RATIO = 2.0**-44
#: Rows centred at a time where the whole centred copy is not needed.
CHUNK_ROWS = 4096
#: Bytes per kept entry of the sparse form (a float64 value and an int32 index).
BYTES_PER_ENTRY = 12
#: Products skip the columns facing zero rows of F when at most this share is left.
SPARSE_COLUMNS = 0.5
#: Terms of a recomputed row below this share of the row's total are left out
#: (see ``significant_product``), F wider than ``NARROW`` columns only, and only
#: when at most ``SPARSE_TERMS`` of the terms are kept.
NEGLIGIBLE = 2.0**-52
NARROW = 32
SPARSE_TERMS = 0.25


class ColumnScale:
    """A column scale of the sparse form as the kernels take it, computed once per
    pass: the values (contiguous float64) and their logarithms (the screen's units;
    of ``criterion`` instead when given: the weights a screen ranks entries by);
    ``UNSCALED`` stands for none."""

    def __init__(self, values=None, criterion=None):
        self.scaled = values is not None
        self.values = np.ascontiguousarray(values if self.scaled else np.empty(0),
                                           dtype=np.float64)
        self.logs = np.log(self.values if criterion is None else criterion) \
            if self.scaled else self.values


UNSCALED = ColumnScale()


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
    screen : {None, "float32", "projected"}
        The screen of the sparse form's pass over dense data
        (``mir_fast._core.screens``): chosen by its cost model by default.
    """

    def __init__(self, X, gamma, n_threads=1, verbose=False, screen=None):
        self.gamma = float(gamma)
        self.verbose = verbose
        self.n_threads = max(1, int(n_threads))
        self.n = X.shape[0]
        self.is_sparse = sp.issparse(X)
        self._lock = threading.Lock()
        if self.is_sparse:
            self._rows = X.astype(np.float64)
            self.columns_t = self._rows.T.tocsr()
            self.sq_norms = np.asarray(self._rows.multiply(self._rows).sum(axis=1)).ravel()
            self.screen = None
        else:
            self.data, self._rows = np.ascontiguousarray(X), None
            self.mean = X.mean(axis=0, dtype=np.float64)
            self.sq_norms = np.empty(self.n)
            for part, u in self.centred_chunks():
                self.sq_norms[part] = np.einsum("ij,ij->i", u, u)
            self.screen = choose_screen(self, DROP_RATIO, screen)
        self.block_rows = int(max(1, min(self.n, BLOCK_BYTES // (8 * max(self.n, 1)))))
        self.pass_rows = self.block_rows
        if self.screen is not None and self.screen.enabled:
            self.pass_rows = int(max(self.block_rows, min(
                self.n, SCREEN_ROWS, SCREEN_BYTES // (4 * max(self.n, 1)))))

    def __getstate__(self):
        state = self.__dict__.copy()
        del state["_lock"]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    # -- the rows ---------------------------------------------------------------------

    def centred_chunks(self, rows=CHUNK_ROWS):
        """``(slice, those rows centred in float64)``, ``rows`` at a time."""
        for start in range(0, self.n, rows):
            part = slice(start, start + rows)
            yield part, self.centred(part)

    def centred(self, index):
        """The rows ``index`` as the products use them: float64, centred when dense
        (``X - mean``: the same values whether or not :attr:`rows` is held)."""
        if self.is_sparse or self._rows is not None:
            return self._rows[index]
        return np.subtract(self.data[index], self.mean, dtype=np.float64)

    @property
    def rows(self):
        """Every row as :meth:`centred` gives it.  Dense data keep this float64 copy
        (n x d) only from the first product that needs whole affinity rows in
        float64 on: the screens and the products over a few columns work from X
        itself."""
        with self._lock:
            if self._rows is None:
                self._rows = np.subtract(self.data, self.mean, dtype=np.float64)
        return self._rows

    # -- affinities ---------------------------------------------------------------------

    def sq_distances(self, rows, columns=None):
        """Squared distances from the inputs ``rows`` (indices) to every input, or to
        the inputs ``columns`` (ascending indices) only."""
        D = self.sq_distances_from(self.centred(rows), self.sq_norms[rows], columns)
        at, own = self._diagonal_positions(rows, columns)
        D[at, own] = 0.0
        return D

    def sq_distances_from(self, points, sq_norms, columns=None):
        """Squared distances from ``points`` (prepared as the graph's rows: float64,
        centred when dense) with squared norms ``sq_norms`` to every input (or to
        the inputs ``columns``)."""
        norms = self.sq_norms if columns is None else self.sq_norms[columns]
        if self.is_sparse:
            others = self.columns_t if columns is None else self.centred(columns).T
            dots = (points @ others).toarray()
        else:
            dots = points @ (self.rows if columns is None else self.centred(columns)).T
        D = sq_norms[:, None] + norms[None, :] - 2.0 * dots
        return np.maximum(D, 0.0, out=D)

    def affinity(self, rows, diagonal=1.0, columns=None):
        """``W[rows]`` (or ``W[rows][:, columns]``, ``columns`` ascending): the
        affinities of ``rows`` to every input, ``W_ii = diagonal``."""
        W = self.sq_distances(rows, columns)
        W *= -self.gamma
        np.exp(W, out=W)
        at, own = self._diagonal_positions(rows, columns)
        W[at, own] = diagonal
        return W

    @staticmethod
    def _diagonal_positions(rows, columns):
        """(row positions, column positions) of the entries ``(i, i)`` of a block."""
        if columns is None:
            return np.arange(len(rows)), rows
        where = np.minimum(np.searchsorted(columns, rows), max(len(columns) - 1, 0))
        hit = np.flatnonzero(columns[where] == rows) if len(columns) else where[:0]
        return hit, where[hit]

    def blocks(self, rows=None):
        """Index arrays of consecutive blocks of ``rows`` rows (``block_rows`` by
        default) covering every input."""
        rows = rows or self.block_rows
        return [np.arange(start, min(start + rows, self.n)) for start in range(0, self.n, rows)]

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

    def sparse_form(self, diagonal, column_scale=None, max_entries=None):
        """(kept entries as CSR, degrees, dropped mass per row) in one pass, or None
        as soon as more than ``max_entries`` entries are kept.

        With ``column_scale`` the entries are ``W_ij * column_scale[j]`` (the
        degrees stay those of W): the sparse form, its threshold and its dropped
        mass are then those of the matrix actually multiplied.
        """
        stored, lock = [0], threading.Lock()
        scale = UNSCALED if column_scale is None else ColumnScale(column_scale)

        def keep(rows):
            if max_entries is not None and stored[0] > max_entries:
                return None
            part = self._keep(rows, diagonal, scale)
            with lock:
                stored[0] += int(part[0][-1])
            return part

        parts = self.map_blocks(keep, self.pass_blocks(), desc="sparse graph")
        if max_entries is not None and stored[0] > max_entries:
            return None
        indptr, indices, data, degrees, dropped = stack_parts(parts)
        K = sp.csr_matrix((data, indices, indptr), shape=(self.n, self.n))
        order = self.pass_order()
        if order is None:
            return K, degrees, dropped
        at = np.argsort(order)  # the rows back in their own order
        return K[at], degrees[at], dropped[at]

    def pass_order(self):
        """The order the sparse form's pass takes the rows in: the screen's
        (inputs close to each other together, so that the exact entries of one
        row find the rows they read in cache from its neighbours'), or None for
        ascending."""
        return None if self.screen is None else self.screen.order

    def pass_blocks(self):
        """The sparse form's row blocks, in :meth:`pass_order`."""
        order = self.pass_order()
        if order is None:
            return self.blocks(self.pass_rows)
        return [order[s : s + self.pass_rows] for s in range(0, self.n, self.pass_rows)]

    def _keep(self, rows, diagonal, scale=UNSCALED):
        """The sparse form of the block ``rows``: the diagonal and the non-zero
        entries of at least ``DROP_RATIO`` times the row's largest off-diagonal one;
        CSR parts, degrees and dropped mass.  Dense data go through the graph's
        screen (``screens.py``) when it rules out enough entries, else every
        entry is computed in float64 (``_graph.extract_kept``), ``block_rows`` rows
        at a time."""
        rows = rows.astype(np.int64)
        if self.screen is not None:
            part = self.screen.kept(rows, self.gamma, diagonal, scale, DROP_RATIO)
            if part is not None:
                return part
        return stack_parts([
            _graph.extract_kept(self.affinity(some, diagonal), some, scale.values,
                                scale.scaled, DROP_RATIO, 1)
            for some in np.array_split(rows, -(-len(rows) // self.block_rows))])

    def rows_down_to(self, rows, floors, diagonal, column_scale=None):
        """Each row of ``rows`` stored down to its floor: every entry of
        ``W[rows[q]] * column_scale`` of at least ``floors[q] > 0``, exact, found
        through the screen (among the entries it cannot put below the floor), and
        the dropped mass of the others (exact for those it computed, an upper bound
        for the rest).  Returns the parts ``(rows, counts, indices, values,
        dropped)`` of the blocks the screen took, and the rows of the blocks it
        declined (too many candidates, or no screen)."""
        if self.screen is None or not self.screen.enabled:
            return [], rows
        scale = UNSCALED if column_scale is None else ColumnScale(column_scale)
        depths = -np.log(floors)
        starts = range(0, len(rows), self.pass_rows)

        def deepen(start):
            some = rows[start : start + self.pass_rows].astype(np.int64)
            part = self.screen.kept(some, self.gamma, diagonal, scale, DROP_RATIO,
                                    depths[start : start + self.pass_rows])
            if part is None:
                return some, None
            indptr, indices, values, _, dropped = part
            return some, (some, np.diff(indptr), indices, values, dropped)

        results = self.map_blocks(deepen, starts, desc="deep rows")
        declined = [some for some, part in results if part is None]
        return ([part for _, part in results if part is not None],
                np.concatenate(declined) if declined else rows[:0])

    def degrees(self, diagonal):
        """Row sums of the affinity (``W_ii = diagonal``), streamed (through the
        sparse form's pass when a screen applies: then low by at most
        the dropped mass, below ``2 n 2^-60`` of the row)."""
        if self.screen is not None:
            degrees = np.concatenate(self.map_blocks(
                lambda rows: self._keep(rows, diagonal)[3], self.pass_blocks(),
                desc="degrees"))
            order = self.pass_order()
            return degrees if order is None else degrees[np.argsort(order)]
        return np.concatenate(self.map_blocks(
            lambda rows: self.affinity(rows, diagonal).sum(axis=1), desc="degrees"))

    # -- products -----------------------------------------------------------------------

    def streamed_product(self, F, diagonal, rows=None, column_scale=None, deeper=None):
        """``W[rows] @ diag(column_scale) @ F`` (every row, no scale by default), the
        affinity recomputed.  Only the columns of W facing a non-zero row of F are
        formed (the others add exact zeros), and with a wide F only the terms that
        can matter are multiplied (:func:`significant_product`).  Some ``rows``
        against a few such columns go through the screen: only the terms it cannot
        put below ``NEGLIGIBLE / m`` of the row's largest (``m`` columns) are formed
        (:func:`screened_product`), whatever F's width.

        ``deeper`` (a :class:`DeeperRows`) is shown every block of whole affinity
        rows (scaled), when every column is formed, before the product."""
        blocks = self.blocks() if rows is None else [
            rows[s : s + self.block_rows] for s in range(0, len(rows), self.block_rows)]
        mass = F.sum(axis=1)  # F >= 0: its zero rows are the zeros of mass
        columns = np.flatnonzero(mass)
        if len(columns) > SPARSE_COLUMNS * self.n:
            columns, facing = None, F
        else:
            facing, mass = F[columns], mass[columns]
        scale = None
        if column_scale is not None:  # scale the (smaller) affinity block, not F
            scale = column_scale if columns is None else column_scale[columns]

        def product(r):
            W = self.affinity(r, diagonal, columns)
            if scale is not None:
                W *= scale[None, :]
            if deeper is not None and columns is None:
                deeper.take(r, W, mass)
            return significant_product(W, facing, mass)

        def screened(r):
            part = self.screen.kept(r, self.gamma, diagonal, weights,
                                    NEGLIGIBLE / len(columns), columns=columns,
                                    keep_candidates=True)
            return product(r) if part is None else screened_product(part, columns, facing)

        through_screen = (rows is not None and columns is not None
                          and self.screen is not None and self.screen.enabled)
        if through_screen:
            values = np.ones(len(columns)) if scale is None else scale
            weights = ColumnScale(values, criterion=values * mass)
        parts = self.map_blocks(screened if through_screen else product, blocks,
                                desc="streamed product" if rows is None else "exact rows")
        return np.concatenate(parts) if parts else np.empty((0, F.shape[1]))


def stack_parts(parts):
    """One ``(indptr, indices, data, degrees, dropped)`` from the parts of
    consecutive row blocks (each with its own ``indptr`` from 0)."""
    offsets = np.cumsum([0] + [part[0][-1] for part in parts])
    indptr = np.concatenate([[0]] + [part[0][1:] + o for part, o in zip(parts, offsets)])
    return (indptr, *(np.concatenate([part[k] for part in parts]) for k in range(1, 5)))


def screened_product(part, columns, facing):
    """``K @ F`` for the rows a screen kept against the columns ``columns``
    (``part``: its CSR arrays; ``facing``: F's rows ``columns``): every term of at
    least ``NEGLIGIBLE / m`` of the row's largest (``m`` columns), so what is left
    out is at most ``NEGLIGIBLE`` of the row's total in every column, as in
    :func:`significant_product`."""
    from .propagation import sparse_product

    indptr, indices, values = part[:3]
    K = sp.csr_matrix((values, np.searchsorted(columns, indices).astype(np.int32), indptr),
                      shape=(len(indptr) - 1, len(columns)))
    return sparse_product(K, facing, np.ones(K.shape[0]), 1, leave_out=False)[0]


def significant_product(W, F, mass):
    """``W @ F`` (entries >= 0) without the terms too small to matter.

    With ``mass_j = sum_c F_jc`` and ``S_i = sum_j W_ij mass_j`` (the row's total),
    a term ``W_ij F_j`` with ``W_ij mass_j < NEGLIGIBLE * S_i / m`` (``m`` columns) is
    left out: what is left out of row ``i`` is at most ``NEGLIGIBLE * S_i`` in every
    column, below the rounding of the full product of ``m`` terms.  Used only when F
    is wide (``F.shape[1] > NARROW``) and the terms kept are few (at most
    ``SPARSE_TERMS`` of them); otherwise the dense product.
    """
    if F.shape[1] <= NARROW or W.size == 0:
        return W @ F
    total = W @ mass
    keep = W * mass[None, :]
    keep = keep >= (NEGLIGIBLE / W.shape[1]) * total[:, None]
    if keep.mean() > SPARSE_TERMS:
        return W @ F
    W[~keep] = 0.0
    from .propagation import sparse_product

    return sparse_product(sp.csr_matrix(W), F, np.ones(W.shape[0]), 1, leave_out=False)[0]


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

