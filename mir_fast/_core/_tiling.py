"""Tile shapes of the kernels: functions of the row counts only, never of threads,
so that results are identical for every thread count.  The one exception is the
packed dense product's tile height, which may follow the threads because its
products do not depend on tiles (``mir_packed.h``)."""

#: Unlabelled rows per tile once there are enough rows to keep every thread busy.
TILE_ROWS = 512
#: Rows of unlabelled inputs that callers may fold separately without changing a bit
#: (a multiple of every tile height).
SUPER_TILE_ROWS = 32 * TILE_ROWS
#: Bytes of labelled rows a thread gathers per tile (sets the labelled tile height).
LABELLED_TILE_BYTES = 2 << 20
#: Bytes of the CSR kernel's product tile (a few unlabelled rows x all labelled rows).
CSR_PRODUCT_TILE_BYTES = 1 << 20
#: Unlabelled rows per tile of the packed dense product at most (each tile reads the
#: packed labelled rows once), always a multiple of PACKED_TILE_STEP, which both
#: register heights (6 and 4) divide.
PACKED_TILE_ROWS = 192
PACKED_TILE_STEP = 12
#: Largest number of features summed in float32 before the sum moves to double.
FLOAT32_SLICE = 256


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


def packed_tile_rows(n_rows, n_threads, step=PACKED_TILE_STEP):
    """Unlabelled rows per tile of the packed product: at most PACKED_TILE_ROWS, in a
    number of tiles that is a multiple of the threads (at least two each), so that a
    pass on few rows (the float64 pass) keeps every thread busy to the end; a multiple
    of ``step`` (the grid pass: 8, which PACKED_TILE_ROWS is a multiple of)."""
    tiles = n_threads * max(2, -(-n_rows // (n_threads * PACKED_TILE_ROWS)))
    per_tile = -(-n_rows // tiles)
    return int(min(PACKED_TILE_ROWS, max(step, -(-per_tile // step) * step)))
