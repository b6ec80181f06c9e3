"""The matrix each victim iterates with, applied to a label matrix and certified.

``GraphOperator(graph, variant)`` is ``P = D^-1 W`` (``"propagation"``) or
``S = D0^-1/2 W0 D0^-1/2`` (``"spreading"``) of an :class:`~mir_fast._core.graph.RBFGraph`
(see that module for the definitions, the two ways to multiply and the bound).
It builds the sparse form and streams instead when the form outgrows
``memory_budget`` while it is built, and every sparse product is certified row by row: a row whose
dropped mass could matter is recomputed from its full affinity row.
"""

import numpy as np

from .. import _graph
from .graph import BYTES_PER_ENTRY, CERTIFY_RATIO

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
    products : int
    """

    def __init__(self, graph, variant, mode="auto", memory_budget=MEMORY_BUDGET):
        if mode not in MODES:
            raise ValueError(f"graph mode must be one of {MODES}, got {mode!r}")
        self.graph = graph
        self.variant = variant
        self.diagonal = 1.0 if variant == "propagation" else 0.0
        budget = None if mode == "sparse" else memory_budget // BYTES_PER_ENTRY
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
        self.recomputed_rows = 0
        self.products = 0

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
        product, scale = sparse_product(self.kept, F, self.left, self.graph.n_threads)
        n = F.shape[0]
        if group is not None and group != F.shape[1]:
            mass = F.reshape(n, -1, group).sum(axis=2).max(initial=0.0)
            scale = product.reshape(n, -1, group).sum(axis=2).min(axis=1)
        else:
            mass = F.sum(axis=1).max(initial=0.0)
        bound = self.dropped * self.left * mass
        if floor is not None:
            scale += floor
        unsure = np.flatnonzero(bound > CERTIFY_RATIO * scale)
        if len(unsure):
            self.recomputed_rows += len(unsure)
            exact = self.graph.streamed_product(F, self.diagonal, rows=unsure,
                                                column_scale=self.column_scale)
            product[unsure] = exact * self.left[unsure, None]
        return product

    def describe(self):
        """What the operator did, for the estimators' ``graph_`` attribute."""
        return {"mode": self.mode, "density": self.density,
                "stored_entries": None if self.kept is None else int(self.kept.nnz),
                "products": self.products, "recomputed_rows": self.recomputed_rows}


#: Columns of F per panel of a sparse product: on MNIST 1 vs 7's sparse form
#: times 1,951 columns, 512 took 2.1 s on one thread where the whole width took
#: 3.5 s (panels of 16-256: 2.3-3.2 s); on two threads 1.15 s against 1.45 s.
PANEL_COLUMNS = 512


def sparse_product(K, F, left, n_threads):
    """``(diag(left) K F, its row sums)`` for CSR ``K`` (compiled, rows in parallel)."""
    F = np.ascontiguousarray(F, dtype=np.float64)
    out = np.empty((K.shape[0], F.shape[1]))
    row_sums = np.empty(K.shape[0])
    live = F.any(axis=1).view(np.uint8)  # zero rows of F (many in the first products)
    _graph.sparse_product(K.data, K.indices, K.indptr, F, np.ascontiguousarray(left), live,
                          out, row_sums, PANEL_COLUMNS, n_threads)
    return out, row_sums
