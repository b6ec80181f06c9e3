"""The dense passes' own product: packed once, summed in registers, no BLAS.

A BLAS GEMM per pair of tiles packs the labelled tile again for every tile of
unlabelled rows, and in float32 every feature slice is its own GEMM (packing its
panels again) whose result is then added to a double accumulator in memory.  The
packed path (``src/mir_packed.h``, driven by ``_dense.fold_packed``) centres and
packs the labelled rows once per call, shared by the threads, packs each tile of
unlabelled rows once, and sums every feature slice of an MR x NR register block in
the work type, adding it to the double accumulator as it leaves the registers:

    g_ul = -2 sum_s fl_work( sum_{k in slice s} u_k l_k )      (the sum over s in double)

The rounding is that of a ``slice``-term sum in the work type plus a double sum of
the slices, which the certificate's bound (``_certificate``: ``k`` = the float32
slice, or every feature in float64, where any order of summation has the same
bound) already covers.  A product depends only on its two rows and the slice
boundaries, and the fold runs over a fixed grid of ``BLOCK`` labelled rows, so the
results do not depend on threads or tiles.

Where the CPU has neither x86-64-v4 nor x86-64-v3, or the labelled side is too
small to repay the packing of every unlabelled row (``MIN_LABELLED_FEATURES``,
measured), the BLAS path stays.
"""

from dataclasses import dataclass

import numpy as np

from .. import _dense
from ._tiling import float32_slice, packed_tile_rows

#: Instruction set of the packed kernels on this CPU (2: x86-64-v4, 1: x86-64-v3,
#: 0: none); ``ENABLED = False`` switches the path off (benchmarks compare with BLAS).
ISA = _dense.packed_isa()
ENABLED = True
#: Labelled rows folded at a time (a multiple of every register width).
BLOCK = 256
#: Largest packed copy of the labelled rows held at once; more are done in chunks.
PACK_BYTES = 64 << 20
#: Features summed in float64 before the sum moves to the double accumulator (keeps
#: a labelled panel's slice in L1; does not change the error bound).
FLOAT64_SLICE = 128
#: Fewest labelled rows x features for which the packed path beats BLAS (measured
#: on 10,000 rows, 16-784 features, 4-2,048 labelled rows: below it the
#: products are too few to repay packing every unlabelled row; see
#: docs/performance.md).
MIN_LABELLED_FEATURES = 1 << 15


@dataclass(frozen=True)
class PackedProduct:
    """The packed path's settings for one pass: instruction set, feature slice and
    the labelled chunk."""

    isa: int
    slice: int
    chunk: int

    @classmethod
    def choose(cls, n_labelled, n_features, work_dtype):
        """The packed path for a pass of ``work_dtype`` dot products, or None where
        BLAS is the better (or the only) choice."""
        if not ENABLED or ISA == 0 or n_labelled * n_features < MIN_LABELLED_FEATURES:
            return None
        work_dtype = np.dtype(work_dtype)
        if work_dtype == np.float32:
            width = float32_slice(n_features)
        else:
            width = min(FLOAT64_SLICE, n_features)
        blocks = max(1, PACK_BYTES // (BLOCK * n_features * work_dtype.itemsize))
        return cls(isa=ISA, slice=width, chunk=int(blocks * BLOCK))

    def fold(self, X, labelled, rows, mean, norm_lab, gamma, n_threads, *outputs):
        """``_dense.fold_packed`` of ``rows`` against ``labelled`` into ``outputs``
        (nearest, d_min, d_second, weight_sum, sq_norms)."""
        chunk = min(self.chunk, -(-len(rows) // BLOCK) * BLOCK)
        _dense.fold_packed(X, labelled, rows, mean, norm_lab, gamma, self.isa,
                           packed_tile_rows(len(rows), n_threads), BLOCK, chunk, self.slice,
                           n_threads, *outputs)

