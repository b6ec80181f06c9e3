"""Checks of user input, each raising a ValueError that names the problem."""

import math
import numbers

import numpy as np
import scipy.sparse as sp

_FINITE_CHECK_ROWS = 4096


class NonNumericError(ValueError, TypeError):
    """X holds values that are not numbers: a ValueError like every input error here,
    and a TypeError as numpy and scikit-learn raise for it."""


def check_gamma(gamma):
    """Return gamma as a float; it must be a finite positive real number."""
    if isinstance(gamma, bool) or not isinstance(gamma, numbers.Real):
        raise ValueError(f"gamma must be a finite positive number, got {gamma!r}")
    gamma = float(gamma)
    if not (math.isfinite(gamma) and gamma > 0):
        raise ValueError(f"gamma must be a finite positive number, got {gamma!r}")
    return gamma


def check_threshold(threshold):
    """Return threshold as a float; it must lie strictly between 0 and 1."""
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
        raise ValueError(f"threshold must be a number in (0, 1), got {threshold!r}")
    threshold = float(threshold)
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be a number in (0, 1), got {threshold!r}")
    return threshold


#: Entries of X must not all be below this in magnitude: their squares (and the
#: squared distances) would leave float64's normal range (2^-1022).
SMALLEST_PEAK = 2.0**-500


def _assert_finite(values, what):
    """Raise if ``values`` (an ndarray) holds NaN or infinity, or is so small that
    squared distances underflow float64; no full-size temporary.

    One pass in the common case: a finite sum of squares of at least
    ``size * SMALLEST_PEAK^2`` proves every value finite and the largest one at
    least ``SMALLEST_PEAK``.  Otherwise (non-finite, overflowing or tiny values)
    the minimum and maximum decide, and a scan by blocks names the problem.
    """
    if values.size == 0:
        return
    flat = values.reshape(-1)
    # einsum's own loop, not BLAS: a BLAS call here would wake OpenBLAS's threads,
    # which then spin beside the kernels for a while (3-5% of a dense call, measured)
    sum_of_squares = float(np.einsum("i,i->", flat, flat))
    if np.isfinite(sum_of_squares) and sum_of_squares >= flat.size * SMALLEST_PEAK**2:
        return
    low, high = values.min(), values.max()
    if np.isfinite(low) and np.isfinite(high):
        peak = max(abs(float(low)), abs(float(high)))
        if 0.0 < peak < SMALLEST_PEAK:
            raise ValueError(f"{what} has values too small (largest magnitude {peak:.3g}): "
                             "squared distances underflow float64; multiply it by a "
                             "constant c (and gamma by 1 / c^2)")
        return
    flat = values.reshape(len(values), -1) if values.ndim > 1 else values.reshape(-1, 1)
    for start in range(0, len(flat), _FINITE_CHECK_ROWS):
        block = flat[start : start + _FINITE_CHECK_ROWS]
        if np.isnan(block).any():
            raise ValueError(f"{what} contains NaN")
        if not np.isfinite(block).all():
            raise ValueError(f"{what} contains infinite values")


def _float_dtype(dtype, what):
    if dtype in (np.float32, np.float64):
        return dtype
    if dtype.kind in "biuf":
        return np.float64
    if dtype.kind == "c":
        raise ValueError(f"{what} must be numeric: Complex data not supported (dtype {dtype})")
    raise ValueError(f"{what} must be numeric, got dtype {dtype}")


def check_features(X):
    """Return ``(X, is_sparse)`` ready for the kernels.

    Dense input becomes a C-contiguous float32 or float64 array (float32 and
    float64 C-ordered arrays are used as they are, read-only ones included; any
    other numeric array-like is converted to float64, which is a copy).  Sparse
    input becomes a canonical CSR matrix (sorted indices, no duplicates; a copy
    only when it is not CSR or not canonical), float32 or float64.
    """
    if sp.issparse(X):
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D, got a sparse array with {X.ndim} dimension(s)")
        check_sparse_structure(X)
        X = X.tocsr() if X.format != "csr" else X
        dtype = _float_dtype(X.dtype, "X")
        if X.dtype != dtype:
            X = X.astype(dtype)
        if X.indices.dtype != X.indptr.dtype:
            X = sp.csr_matrix(
                (X.data, X.indices.astype(np.int64), X.indptr.astype(np.int64)), shape=X.shape
            )
        if not X.has_canonical_format:
            X = X.copy()
            X.sum_duplicates()
        _check_shape(X.shape)
        _assert_finite(X.data, "X")
        return X, True
    if hasattr(X, "__array__") or isinstance(X, (list, tuple)):
        try:
            array = np.asarray(X)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"X could not be read as a numeric array: {exc}") from None
    else:
        raise ValueError(
            f"X must be an array-like or a scipy sparse matrix, got {type(X).__name__}"
        )
    if array.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {array.shape}")
    if array.dtype == object:
        try:
            array = array.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise NonNumericError(f"X must be numeric; it holds non-numeric values ({exc})") \
                from None
    dtype = _float_dtype(array.dtype, "X")
    array = np.ascontiguousarray(array, dtype=dtype)
    _check_shape(array.shape)
    _assert_finite(array, "X")
    return array, False


def check_sparse_structure(X):
    """Raise a ValueError if the arrays of a sparse matrix contradict each other.

    The kernels (and scipy's own conversions, which are compiled) trust the
    structure: a CSR ``indptr`` that runs backwards or past the end, or a column
    index outside the matrix, would make them read out of bounds.  Checked in
    O(nnz) without a copy: CSR / CSC (``indptr`` starts at 0, never decreases, ends
    within ``indices`` and ``data``; every index within the other dimension) and
    COO (every coordinate within the shape); other formats through scipy's own
    full check.
    """
    n_rows, n_cols = X.shape
    if X.format in ("csr", "csc"):
        n_major, n_minor = (n_rows, n_cols) if X.format == "csr" else (n_cols, n_rows)
        major, minor = ("row", "column") if X.format == "csr" else ("column", "row")
        what = f"X ({X.format.upper()})"
        indptr, indices = np.asarray(X.indptr), np.asarray(X.indices)
        if indptr.ndim != 1 or len(indptr) != n_major + 1:
            raise ValueError(f"{what} is corrupt: indptr has {indptr.size} entries, expected "
                             f"{n_major + 1} (one per {major}, plus one)")
        if indptr[0] != 0:
            raise ValueError(f"{what} is corrupt: indptr starts at {indptr[0]}, not 0")
        steps = np.diff(indptr)
        if n_major and steps.min() < 0:
            bad = int(np.flatnonzero(steps < 0)[0])
            raise ValueError(f"{what} is corrupt: indptr decreases at {major} {bad}")
        if indptr[-1] > min(len(indices), len(X.data)):
            raise ValueError(f"{what} is corrupt: indptr ends at {indptr[-1]} but there are "
                             f"{len(indices)} indices and {len(X.data)} values")
        _check_index_range(indices[: indptr[-1]], n_minor, f"{what} {minor} index")
    elif X.format == "coo":
        if not len(X.row) == len(X.col) == len(X.data):
            raise ValueError(f"X (COO) is corrupt: {len(X.row)} rows, {len(X.col)} columns "
                             f"and {len(X.data)} values")
        _check_index_range(np.asarray(X.row), n_rows, "X (COO) row index")
        _check_index_range(np.asarray(X.col), n_cols, "X (COO) column index")
    else:
        try:
            X.check_format(full_check=True)
        except AttributeError:  # formats without compressed structure (lil, dok, dia)
            pass
        except ValueError as exc:
            raise ValueError(f"X ({X.format.upper()}) is corrupt: {exc}") from None


def _check_index_range(indices, bound, what):
    if len(indices) == 0:
        return
    low, high = indices.min(), indices.max()
    if low < 0:
        raise ValueError(f"{what} {low} is negative")
    if high >= bound:
        raise ValueError(f"{what} {high} is out of range (the matrix has {bound})")


def check_count(name, value, smallest=1, default=None):
    """``value`` as an int of at least ``smallest`` (``default`` for None), or a clear
    error naming ``name``."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < smallest:
        raise ValueError(f"{name} must be an int >= {smallest}, got {value!r}")
    return int(value)


def check_squared_norms(max_sq_norm):
    """Raise if the largest squared norm (of the rows the kernels expand distances
    with) overflows float64: then so would the distances."""
    if not np.isfinite(max_sq_norm):
        raise ValueError("X has values too large: squared distances overflow float64")


def _check_shape(shape):
    # scikit-learn's wording after ours, so that tools that look for it find it
    if shape[0] == 0:
        raise ValueError(f"X has no rows: 0 sample(s) (shape={shape}) while a minimum of 1 is "
                         "required.")
    if shape[1] == 0:
        raise ValueError(f"X has no features: 0 feature(s) (shape={shape}) while a minimum of "
                         "1 is required.")


def unlabelled_mask(y, n_samples):
    """Boolean mask of the unlabelled entries of y (scikit-learn's ``-1``).

    Numeric labels mark unlabelled inputs with -1; string labels with ``"-1"``;
    object arrays with either.  Raises if y has the wrong length, holds NaN, or has
    no labelled entry.
    """
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.ravel()
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D, got shape {y.shape}")
    if len(y) != n_samples:
        raise ValueError(f"y has {len(y)} entries but X has {n_samples} rows")
    if y.dtype.kind == "f" and np.isnan(y).any():
        raise ValueError("y contains NaN; mark unlabelled inputs with -1")
    if y.dtype.kind in "US":
        mask = y == y.dtype.type("-1")
    elif y.dtype.kind == "O":
        mask = np.fromiter((_is_unlabelled(v) for v in y), dtype=bool, count=len(y))
    elif y.dtype.kind in "iuf":
        mask = y == -1
    elif y.dtype.kind == "b":
        mask = np.zeros(len(y), dtype=bool)
    else:
        raise ValueError(f"y must hold class labels (numbers or strings), got dtype {y.dtype}")
    if mask.all():
        raise ValueError("y has no labelled input: every entry is -1 (unlabelled)")
    return mask


def _is_unlabelled(value):
    if isinstance(value, str):
        return value == "-1"
    if isinstance(value, float) and math.isnan(value):
        raise ValueError("y contains NaN; mark unlabelled inputs with -1")
    try:
        return bool(value == -1)
    except (TypeError, ValueError):
        return False
