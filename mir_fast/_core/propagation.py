"""The matrix each victim iterates with, applied to a label matrix and certified.

``GraphOperator(graph, variant)`` is ``P = D^-1 W`` (``"propagation"``) or
``S = D0^-1/2 W0 D0^-1/2`` (``"spreading"``) of an :class:`~mir_fast._core.graph.RBFGraph`
(see that module for the definitions, the two ways to multiply and the bound).
It builds the sparse form and streams instead when the form outgrows
``memory_budget`` while it is built, and every sparse product is certified row by row: a row whose
dropped mass could matter is recomputed from its full affinity row.

Deepening.  A row the certificate rejects once tends to be rejected at every later
product (on MNIST 1 vs 7, 15% labelled, label spreading: the same 3,268 rows at
each of 30 iterations), although a few dozen more of its entries would settle it
(a median of 28 entries, at most 611).  So when a recomputation forms whole
affinity rows anyway (F has non-zero rows almost everywhere), each rejected row is
stored again with every entry of at least

    tau_i = CERTIFY_RATIO * (t_i / V + floor_i / left_i) / (DEPTH_MARGIN * m * n),

where ``t_i = sum_j W_ij mass_j`` is the row's total over the ``V`` vectors of F
and ``m`` the largest row mass of a vector, and its dropped mass becomes the exact
sum of the entries below ``tau_i`` (at most ``n tau_i``): the row would pass the
certificate ``DEPTH_MARGIN`` times over at this product.  Dense data go through the
screen instead of whole rows (``RBFGraph.rows_down_to``): ``t_i`` is taken
from the row's sparse product (a lower bound: every term is >= 0), every entry the
screen cannot put below ``tau_i`` is stored, exact, and the others (each below
``tau_i``) enter the dropped mass by an upper bound; the row's product is then taken
from the stored row and certified again (a row that fails goes on to its whole
affinity row).  On all 60,000 MNIST images this replaced a float64 pass over 56,027
whole rows (88 s) by a float32 one (37 s).  A deepened row that is
rejected again is stored whole (dropped mass 0, always accepted).  Which entries
are stored never changes a result: every product is still certified against the
stored dropped mass; deepening only decides how often a row is recomputed.  It
stops when the sparse form reaches ``memory_budget``, and lasts one propagation
(``forget_deepened``): over five splits of MNIST 1 vs 7 the rows deepened for
earlier label sets had doubled the time of later products.
"""

import numpy as np
import scipy.sparse as sp

from .. import _graph
from .graph import (BYTES_PER_ENTRY, CERTIFY_RATIO, NARROW, NEGLIGIBLE, SPARSE_COLUMNS,
                    SPARSE_TERMS)

#: A deepened row would pass the certificate this many times over (see above).
DEPTH_MARGIN = 2.0**8

#: Default bytes the sparse form may take.
MEMORY_BUDGET = 1 << 30
MODES = ("auto", "sparse", "streaming")


class GraphOperator:
    """``apply(F)``: the victim's matrix times ``F`` (n x k, entries >= 0).

    Attributes
    ----------
    mode : {"sparse", "streaming"}
        How products are computed.
    density : float or None
        Share of entries the sparse form keeps (None when it streams).
    recomputed_rows : int
        Row products of the sparse form that the certificate sent to the exact
        computation, over all products so far.
    screened_rows : int
        Those of them stored down to their depth through the screen.
    products : int
    """

    def __init__(self, graph, variant, mode="auto", memory_budget=MEMORY_BUDGET):
        if mode not in MODES:
            raise ValueError(f"graph mode must be one of {MODES}, got {mode!r}")
        self.graph = graph
        self.variant = variant
        self.diagonal = 1.0 if variant == "propagation" else 0.0
        budget = None if mode == "sparse" else memory_budget // BYTES_PER_ENTRY
        self.max_entries = memory_budget // BYTES_PER_ENTRY
        self.kept = self.dropped = self.density = None
        scale = None
        if variant == "spreading":  # S = D0^-1/2 W0 D0^-1/2, an isolated input's degree 1
            degrees = graph.degrees(self.diagonal)
            scale = 1.0 / np.sqrt(np.where(degrees == 0, 1.0, degrees))
        if mode != "streaming":  # the sparse form, abandoned once it outgrows the budget
            form = graph.sparse_form(self.diagonal, scale, max_entries=budget)
            if form is not None:
                self.kept, sparse_degrees, self.dropped = form
                self.density = self.kept.nnz / max(graph.n, 1) ** 2
                if variant == "propagation":
                    degrees = sparse_degrees
        self.mode = "streaming" if self.kept is None else "sparse"
        if variant == "propagation":  # P = D^-1 W
            if self.kept is None:
                degrees = graph.degrees(self.diagonal)
            self.left, self.column_scale = 1.0 / degrees, None
        else:
            self.left = self.column_scale = scale
        self.recomputed_rows = self.screened_rows = 0
        self.deepened = np.zeros(graph.n, dtype=bool)
        self.base = (self.kept, self.dropped)
        self.products = 0

    def forget_deepened(self):
        """Back to the sparse form as built: a new propagation (other labels) rejects
        other rows, and rows deepened for the last one would only slow its products."""
        if self.deepened.any():
            self.kept, dropped = self.base
            self.dropped = dropped.copy()
            self.deepened[:] = False

    def apply(self, F, floor=None, group=None):
        """The product with ``F``, certified row by row.

        ``F`` holds label vectors side by side, ``group`` columns each (all columns
        by default).  A row is accepted when its error, summed over one vector's
        columns, is within ``CERTIFY_RATIO`` of that vector's row sum for every
        vector; ``floor`` (per row, optional) is added to those row sums
        (spreading adds ``(1 - alpha) Y`` after the product, scaled here by
        ``1 / alpha``).
        """
        self.products += 1
        if self.mode == "streaming":
            product = self.graph.streamed_product(F, self.diagonal, column_scale=self.column_scale)
            return product * self.left[:, None]
        # the kept entries hold the column scale already (see graph.sparse_form)
        product, totals = sparse_product(self.kept, F, self.left, self.graph.n_threads,
                                         group=group)
        check = Certificate(F, group, floor, self.left)
        unsure = np.flatnonzero(~check.accepts(self.dropped, product, totals))
        if len(unsure):
            self.recomputed_rows += len(unsure)
            product[unsure] = self._recompute(F, unsure, totals, check)
        return product

    def _recompute(self, F, unsure, totals, check):
        """The rows ``unsure`` of the product, exact.  When F has non-zero rows
        almost everywhere, rows not deepened before are first stored down to their
        depth through the screen (``RBFGraph.rows_down_to``) and multiplied
        from there, certified again; every other row is recomputed from its whole
        affinity row (and deepened from it).  Deeper rows are stored when the budget
        has room."""
        graph, n = self.graph, self.graph.n
        exact = np.empty((len(unsure), F.shape[1]))  # rows of the product, left applied
        todo = np.ones(len(unsure), dtype=bool)
        room = self.kept.nnz < self.max_entries
        whole = np.count_nonzero(F.any(axis=1)) > SPARSE_COLUMNS * n
        stored = []
        if whole:
            floors = self.depth(check, totals[unsure], unsure)
            fresh = ~self.deepened[unsure] & (floors > 0)
            parts, _ = graph.rows_down_to(unsure[fresh], floors[fresh], self.diagonal,
                                          self.column_scale)
            for rows, counts, indices, values, dropped in parts:
                self.screened_rows += len(rows)
                K = sp.csr_matrix((values, indices, np.concatenate([[0], np.cumsum(counts)])),
                                  shape=(len(rows), n))
                rows_product, rows_totals = sparse_product(K, F, self.left[rows],
                                                           graph.n_threads, group=check.group)
                ok = check.accepts(dropped, rows_product, rows_totals, rows)
                at = np.searchsorted(unsure, rows[ok])
                exact[at] = rows_product[ok]
                todo[at] = False
                entries = np.repeat(ok, counts)
                stored.append((rows[ok], counts[ok], indices[entries], values[entries],
                               dropped[ok]))
        deeper = None
        if room:
            deeper = DeeperRows(self.deepened, check.offset, check.mass, check.n_vectors)
        rest = unsure[todo]
        if len(rest):
            exact[todo] = graph.streamed_product(
                F, self.diagonal, rows=rest, column_scale=self.column_scale,
                deeper=deeper) * self.left[rest, None]
        if room:
            self._store(stored + deeper.parts)
        return exact

    def depth(self, check, totals, rows):
        """``tau_i`` of the module docstring for ``rows``, from the lower bound
        ``totals`` (their row sums of the sparse product) of the rows' totals."""
        left = self.left[rows]
        return (CERTIFY_RATIO * (totals / left / check.n_vectors + check.offset[rows])
                / (DEPTH_MARGIN * max(check.mass, 1e-300) * self.graph.n))

    def _store(self, parts):
        """Replace the stored rows of the sparse form by the deeper ones (``parts``:
        (rows, entries per row, column indices, values, dropped mass), rows distinct),
        in the order of their first rows (the same rows whatever the threads'
        timing), as far as ``memory_budget`` allows."""
        room = self.max_entries - self.kept.nnz
        kept = []
        for rows, counts, indices, data, dropped in sorted(
                (part for part in parts if len(part[0])), key=lambda part: part[0][0]):
            growth = np.cumsum(counts - np.diff(self.kept.indptr)[rows])
            fit = len(rows) if growth[-1] <= room else int(np.argmax(growth > room))
            entries = int(counts[:fit].sum())
            kept.append((rows[:fit], counts[:fit], indices[:entries], data[:entries],
                         dropped[:fit]))
            if fit < len(rows):
                break
            room -= int(growth[-1])
        if kept:
            self.kept = replace_rows(self.kept, kept, self.graph.n_threads)
            if self.dropped is self.base[1]:
                self.dropped = self.dropped.copy()
            for rows, _, _, _, dropped in kept:
                self.dropped[rows] = dropped
                self.deepened[rows] = True

    def describe(self):
        """What the operator did, for the estimators' ``graph_`` attribute."""
        screen = self.graph.screen
        return {"mode": self.mode, "density": self.density,
                "screen": screen.name if screen is not None and screen.enabled else None,
                "stored_entries": None if self.kept is None else int(self.kept.nnz),
                "products": self.products, "recomputed_rows": self.recomputed_rows,
                "screened_rows": self.screened_rows,
                "deepened_rows": int(self.deepened.sum())}


class Certificate:
    """The certificate of one product with ``F`` (module docstring of ``graph``):
    a row is accepted when its dropped mass times the largest row mass of a vector
    of F is within ``CERTIFY_RATIO - 2 NEGLIGIBLE`` of its scale (its product's
    smallest vector row sum, plus ``floor``).

    Attributes
    ----------
    mass : float
        Largest row mass of a vector of F.
    n_vectors, group : int
        Vectors side by side in F, columns each.
    offset : float array (n,)
        ``floor / left``: the floor in the units of the affinity.
    """

    def __init__(self, F, group, floor, left):
        n = F.shape[0]
        self.group = group
        self.n_vectors = 1
        if group is not None and group != F.shape[1]:
            self.n_vectors = F.shape[1] // group
            self.mass = F.reshape(n, -1, group).sum(axis=2).max(initial=0.0)
        else:
            self.mass = F.sum(axis=1).max(initial=0.0)
        self.floor, self.left = floor, left
        self.offset = np.zeros(n) if floor is None else floor / left

    def accepts(self, dropped, product, totals, rows=None):
        """Which rows (all, or ``rows``) of ``product`` (row sums ``totals``) pass
        with the dropped masses ``dropped``."""
        left = self.left if rows is None else self.left[rows]
        if self.n_vectors > 1:
            scale = product.reshape(len(product), -1, self.group).sum(axis=2).min(axis=1)
        else:
            scale = totals.copy()
        if self.floor is not None:
            scale += self.floor if rows is None else self.floor[rows]
        return dropped * left * self.mass <= (CERTIFY_RATIO - 2.0 * NEGLIGIBLE) * scale


class DeeperRows:
    """Collects, from the whole affinity rows a recomputation forms, each row's
    entries of at least ``tau_i`` (module docstring): ``take`` is called with each
    block (on the graph's threads) and adds its part to ``parts``: (rows, entries
    per row, column indices, values, dropped mass).

    Parameters
    ----------
    deepened : bool array (n,)
        Rows deepened before: these are stored whole.
    offset : float array (n,)
        ``floor_i / left_i``, the certificate's floor in the units of ``W``.
    mass : float
        The largest row mass of a vector of F.
    n_vectors : int
        Vectors side by side in F.
    """

    def __init__(self, deepened, offset, mass, n_vectors):
        self.deepened, self.offset = deepened, offset
        self.mass, self.n_vectors = mass, n_vectors
        self.parts = []

    def take(self, rows, W, row_mass):
        """Keep the entries of ``W`` (``W[rows]``, every column, scaled) a deeper
        stored row needs; ``row_mass``: F's row sums."""
        total = W @ row_mass / self.n_vectors + self.offset[rows]
        tau = CERTIFY_RATIO * total / (DEPTH_MARGIN * max(self.mass, 1e-300) * W.shape[1])
        tau[self.deepened[rows]] = 0.0
        keep = (W >= tau[:, None]) & (W > 0.0)
        keep[np.arange(len(rows)), rows] = True  # the diagonal, as the sparse form has it
        dropped = np.sum(W, axis=1, where=~keep)
        at, columns = np.nonzero(keep)
        self.parts.append((rows, keep.sum(axis=1), columns.astype(np.int32), W[at, columns],
                           dropped))


def replace_rows(K, parts, n_threads=1):
    """CSR ``K`` with rows replaced: each part ``(rows, counts, indices, data, ...)``
    gives row ``rows[q]`` (distinct over all parts) the next ``counts[q]`` entries of
    its ``indices`` / ``data``.  Beyond the result, only arrays of n entries are
    allocated."""
    n = K.shape[0]
    new_counts = np.diff(K.indptr).astype(np.int64)
    untouched = np.ones(n, dtype=bool)
    for rows, counts, *_ in parts:
        new_counts[rows] = counts
        untouched[rows] = False
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(new_counts, out=indptr[1:])
    out_indices = np.empty(indptr[-1], dtype=np.int32)
    out_data = np.empty(indptr[-1])
    keep = np.flatnonzero(untouched)
    _graph.copy_rows(K.indptr.astype(np.int64), K.indices.astype(np.int32, copy=False),
                     K.data, keep, indptr, keep, out_indices, out_data, n_threads)
    for rows, counts, indices, data, *_ in parts:
        _graph.copy_rows(np.concatenate([[0], np.cumsum(counts)]),
                         indices.astype(np.int32, copy=False), data,
                         np.arange(len(rows), dtype=np.int64), indptr, rows.astype(np.int64),
                         out_indices, out_data, n_threads)
    return sp.csr_matrix((out_data, out_indices, indptr), shape=K.shape)


#: Columns of F per panel of a sparse product: on MNIST 1 vs 7's sparse form
#: times 1,951 columns, 512 took 2.1 s on one thread where the whole width took
#: 3.5 s (panels of 16-256: 2.3-3.2 s); on two threads 1.15 s against 1.45 s.
PANEL_COLUMNS = 512


def sparse_product(K, F, left, n_threads, group=None, leave_out=True):
    """``(diag(left) K F, its row sums)`` for CSR ``K`` (compiled, rows in parallel).

    With a wide F (more than ``NARROW`` columns, ``leave_out``), the entries of F
    below ``NEGLIGIBLE / m`` of their vector's row mass (vectors of ``group``
    columns side by side, all ``m`` columns by default) are left out when at most
    ``SPARSE_TERMS`` of the entries remain, and the product runs over the rest
    (``_graph.significant_rows``): F >= 0, so what is left out of a vector's row of
    the product is at most ``NEGLIGIBLE`` times its sum (summed over its columns).
    On the unit responses of MNIST 1 vs 7 a row keeps 40-300 of 3,251 entries.
    """
    F = np.ascontiguousarray(F, dtype=np.float64)
    out = np.empty((K.shape[0], F.shape[1]))
    row_sums = np.empty(K.shape[0])
    if leave_out and F.shape[1] > NARROW:
        rows = _graph.significant_rows(F, group or F.shape[1], NEGLIGIBLE / F.shape[1],
                                       int(SPARSE_TERMS * F.size), n_threads)
        if rows is not None:
            _graph.sparse_sparse_product(K.data, K.indices, K.indptr, *rows,
                                         np.ascontiguousarray(left), out, row_sums, n_threads)
            return out, row_sums
    live = F.any(axis=1).view(np.uint8)  # zero rows of F (many in the first products)
    _graph.sparse_product(K.data, K.indices, K.indptr, F, np.ascontiguousarray(left), live,
                          out, row_sums, PANEL_COLUMNS, n_threads)
    return out, row_sums
