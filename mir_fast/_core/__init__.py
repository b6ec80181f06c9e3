"""The seam between the public API and the compiled kernels.

Everything above this package (``influence``, ``attack``, ``dask``, the harness)
reaches the kernels through it and through nothing else; everything below it
(``src/*.pyx``, the C headers) knows nothing of labels beyond index arrays.

The map
-------
::

    prepare(X, y) -> Problem                       validation, once per call
      Problem.engine : DenseEngine | CSREngine     one engine per data kind
      Problem.fold(rows, gamma, threshold, ...)    -> RowFold (certified)
      Problem.fold_in_blocks(...)                  the same bits, block by block
      Problem.result(fold, ...) -> MIRResult       counts, shares (``_result``)

    engine.fold(labelled, rows, ..., **context)
      builds its cascade, a list of ``Pass`` entries, and hands it to
      ``_certificate.certify``, which walks it:

      data     pass 0                          pass 1                    last pass
      dense    8-bit data (pixels / 255,       float64 dot products      exact
               raw bytes): exact integer       (the float32 pass's       (``_exact.exact_dense``)
               products of the codes,          kernels)
               ``_grid.fold_grid`` (``grid.py``);
               other float32 data, where the
               CPU has AMX: exact integer
               products of three 8-bit digits
               per value, ``_digits.fold_digits``
               (``digits.py``); else float32
               dot products (slices of <= 256
               features summed in double):
               ``_dense.fold_packed`` (own
               packed product, ``packed.py``)
               or ``_dense.fold_dense`` (BLAS)
      CSR      double products: dense head +   -                         exact
               scattered tail                                            (``_exact.exact_csr``)
               (``_sparse.fold_csr``)

      Dense data may first go through the local exact path (``local.py``:
      projected lower bounds, then the exact pass on the labelled rows that may
      matter; ``_exact.local_candidates``, ``_exact.exact_dense_candidates``),
      planned from the labelled rows where its cost model says it pays; the rows
      it takes are exact, the others enter the cascade.  Float64 data on AMX go
      through the digit screen instead (``screened.py``: the digit products pick
      each row's candidates, ``_digits.digit_candidates``, for the same exact
      pass), where its cost model says it pays.

      Each entry carries its kernel, which returns with its results the bound of
      each row's distance errors (``_certificate.distance_error_bound`` for the
      float passes, ``grid.error_bound`` and ``digits.error_bound`` for the integer
      passes), and the error of its exponentials: all ``_certificate`` needs to say
      which rows the pass settled.
      Rows it cannot certify go to the next entry (or, when a super-tile has very
      few, straight to the exact pass); the exact pass settles the rest.

    engine.context(labelled, rows)
      what depends on all of X and all rows (the dense centring mean, the CSR
      head, the tile height, the call's row count that decides whether the local
      path is planned): computed once and passed to every block, so that
      folding whole blocks of ``BLOCK_ROWS`` rows anywhere (chunks with a progress
      bar, Dask workers) gives the bits of one call.

Where a new kernel plugs in
---------------------------
A new pass for an existing data kind is one more ``Pass`` in that engine's
cascade (``dense.py`` or ``csr.py``): a kernel that returns ``Reduced`` for a set
of rows, its error bound included.  A new data kind is one more engine class with
``context``, ``work`` and ``fold`` and one line in :func:`engine_for`.  Each
kernel allocates its own per-thread scratch; tile shapes (``_tiling``) depend on
row counts only, never on threads, so results are the same for every thread count.
"""

from dataclasses import dataclass

import numpy as np

from .._result import assemble, warn_if_degenerate
from .._threads import threads_for_work
from .._validation import check_features, unlabelled_mask
from ._certificate import RowFold
from ._tiling import SUPER_TILE_ROWS
from .csr import CSREngine, csr_head_features, fold_csr, split_labelled
from .dense import DenseEngine, DenseStatistics, fold_dense

#: Unlabelled rows that may be folded separately, block by block, without changing
#: a bit of the result (whole super-tiles of the kernels' tiles).
BLOCK_ROWS = SUPER_TILE_ROWS


def engine_for(X, is_sparse):
    """The engine of validated X (``_validation.check_features``)."""
    return CSREngine(X) if is_sparse else DenseEngine(X)


@dataclass
class Problem:
    """Validated input of one call: the engine of X and the two sets of rows."""

    engine: object
    labelled: np.ndarray  # int64 indices into X, ascending
    unlabelled: np.ndarray

    @property
    def X(self):
        return self.engine.X

    def threads(self, n_threads, n_rows=None):
        """Threads worth starting to fold ``n_rows`` rows (default: all unlabelled)."""
        n_rows = len(self.unlabelled) if n_rows is None else n_rows
        return threads_for_work(n_threads, self.engine.work(len(self.labelled), n_rows))

    def fold(self, rows, gamma, threshold, n_threads):
        """Certified fold of ``rows`` (indices into X) against the labelled rows."""
        return self.engine.fold(self.labelled, rows, gamma, threshold, n_threads)

    def fold_in_blocks(self, gamma, threshold, n_threads, on_block=None):
        """The fold of every unlabelled row, ``BLOCK_ROWS`` at a time (the same bits
        as :meth:`fold`); ``on_block(n_rows)`` is called after each block."""
        rows = self.unlabelled
        if len(rows) <= BLOCK_ROWS:
            return self.fold(rows, gamma, threshold, n_threads)
        context = self.engine.context(self.labelled, rows)
        parts = []
        for start in range(0, len(rows), BLOCK_ROWS):
            block = rows[start : start + BLOCK_ROWS]
            parts.append(self.engine.fold(self.labelled, block, gamma, threshold, n_threads,
                                          **context))
            if on_block is not None:
                on_block(len(block))
        return RowFold.concatenate(parts)

    def result(self, fold, gamma, threshold):
        """The :class:`~mir_fast.MIRResult` of a fold of every unlabelled row."""
        return assemble(fold, self.labelled, self.unlabelled, gamma, threshold)


def prepare(X, y):
    """Validate ``X`` and ``y`` once and return the :class:`Problem`."""
    X, is_sparse = check_features(X)
    unlabelled_rows = unlabelled_mask(y, X.shape[0])
    return Problem(engine=engine_for(X, is_sparse),
                   labelled=np.flatnonzero(~unlabelled_rows).astype(np.int64),
                   unlabelled=np.flatnonzero(unlabelled_rows).astype(np.int64))


__all__ = [
    "BLOCK_ROWS", "CSREngine", "DenseEngine", "DenseStatistics", "Problem", "RowFold",
    "assemble", "csr_head_features", "engine_for", "fold_csr", "fold_dense", "prepare",
    "split_labelled", "warn_if_degenerate",
]
