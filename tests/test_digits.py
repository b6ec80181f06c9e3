"""The digit pass (``src/mir_digits.h``, ``_digits.fold_digits``, ``_core/digits.py``)
against an independent numpy computation of its digits and against the oracle: its
products the exact digit sums, its results the same bits for every thread count,
tile height, chunk and slice, its error bound holding on every row and wide
enough to send on every row the left-out terms can reorder, and the data it must
decline."""

import numpy as np
import pytest
from oracle import oracle_mir, sq_distances

from mir_fast import _digits, major_influence_range
from mir_fast._core import dense, digits, grid
from mir_fast._core.dense import DenseStatistics
from mir_fast.datasets import clustered_pixels

needs_amx = pytest.mark.skipif(digits.ISA == 0, reason="this CPU (or process) has no AMX")

W = digits.BLOCK_ROWS


def continuous(rng, n, d, scale=1.0):
    """float32 rows around a few centres, columns of different spreads and offsets."""
    centres = rng.normal(size=(12, d)) * rng.uniform(0.2, 3.0, size=d)
    X = centres[rng.integers(0, 12, n)] + 0.4 * rng.normal(size=(n, d)) + rng.normal(size=d)
    return (X * scale).astype(np.float32)


def labels(rng, n, labelled):
    y = np.full(n, -1)
    y[rng.choice(n, size=labelled, replace=False)] = np.arange(labelled) % 3
    return y


def fold_digits(X, labelled, rows, gamma, n_threads=2, tile=None, block=None, chunk=None,
                slice_steps=digits.SLICE_STEPS):
    """``_digits.fold_digits`` (centred on the whole-data mean) with its outputs
    allocated and returned."""
    n, m = len(rows), len(labelled)
    out = [np.empty(n, np.int64), np.empty(n), np.empty(n), np.empty(n),
           np.empty((n, 5)), np.empty(n), np.empty((m, 5)), np.empty(m)]
    block = block or 4 * W
    chunk = chunk or -(-m // block) * block
    _digits.fold_digits(X, labelled, rows, DenseStatistics.of(X).mean, gamma,
                        tile or 4 * W, block, chunk, slice_steps, n_threads, *out)
    return out


def numpy_digits(X, mean):
    """sigma and the three digit planes of the rows of X centred on ``mean``, from the
    definitions (module docstring of ``digits.py``), and the remainders."""
    c = X.astype(np.float64) - mean
    peak = np.abs(c).max(axis=1)
    sigma = np.ones(len(X))
    for i, p in enumerate(peak):
        while p > 0 and p / sigma[i] > 127:
            sigma[i] *= 2
        while p > 0 and p / (sigma[i] / 2) <= 127:
            sigma[i] /= 2
    t = c / sigma[:, None]
    d1 = np.rint(t)
    d2 = np.rint((t - d1) * 128)
    d3 = np.rint(((t - d1) * 128 - d2) * 128)
    r = ((t - d1) * 128 - d2) * 128 - d3
    return c, sigma, d1.astype(np.int64), d2.astype(np.int64), d3.astype(np.int64), r


@needs_amx
@pytest.mark.parametrize("d", [1, 5, 64, 65, 301])
@pytest.mark.parametrize("n_labelled", [1, 17, 300])
def test_products_are_the_exact_digit_sums(rng, d, n_labelled):
    """sigma the power of two numpy finds; the digits' norms numpy's; the distances,
    from the kernel's own squared norms, the bits of the six digit products summed
    in integers and weighted as documented; the nearest row the first of the least."""
    n = 150
    X = continuous(rng, n_labelled + n, d)
    labelled = np.arange(n_labelled, dtype=np.int64)
    rows = np.arange(n_labelled, n_labelled + n, dtype=np.int64)
    gamma = 1.0 / d
    best, dmin, dsecond, ssum, norms, sigma, norms_lab, sigma_lab = fold_digits(
        X, labelled, rows, gamma)
    mean = DenseStatistics.of(X).mean
    cu, su, u1, u2, u3, ru = numpy_digits(X[rows], mean)
    cl, sl, l1, l2, l3, rl = numpy_digits(X[labelled], mean)
    np.testing.assert_array_equal(sigma, su)
    np.testing.assert_array_equal(sigma_lab, sl)
    assert np.abs(u1).max() <= 127 and max(np.abs(u2).max(), np.abs(u3).max()) <= 64
    np.testing.assert_array_equal(norms[:, 1], (u2 * u2).sum(axis=1))
    np.testing.assert_array_equal(norms_lab[:, 2], (l3 * l3).sum(axis=1))
    np.testing.assert_allclose(norms[:, 0], (cu * cu).sum(axis=1), rtol=1e-13)
    np.testing.assert_allclose(norms[:, 3], (ru * ru).sum(axis=1), rtol=1e-13, atol=1e-300)
    levels = [u1 @ l1.T, u1 @ l2.T + u2 @ l1.T, u1 @ l3.T + u2 @ l2.T + u3 @ l1.T]
    g = -2.0 * su[:, None] * sl[None, :] * (
        (levels[0].astype(float) + levels[1] * 2.0**-7) + levels[2] * 2.0**-14)
    D = np.maximum((norms[:, :1] + norms_lab[None, :, 0]) + g, 0.0)
    ordered = np.sort(D, axis=1)
    np.testing.assert_array_equal(dmin, ordered[:, 0])
    np.testing.assert_array_equal(best, D.argmin(axis=1))
    if n_labelled > 1:
        np.testing.assert_array_equal(dsecond, ordered[:, 1])
    np.testing.assert_allclose(ssum, np.exp(-gamma * (D - ordered[:, :1])).sum(axis=1),
                               rtol=1e-7)


@needs_amx
def test_bits_do_not_depend_on_threads_tiles_chunks_or_slices(rng):
    """(The fold's block of labelled rows is fixed by the number of features: its
    rescalings of the weight sum follow it.)"""
    X = continuous(rng, 1400, 300)
    labelled = np.sort(rng.choice(1400, 530, replace=False))
    rows = np.setdiff1d(np.arange(1400), labelled)
    reference = fold_digits(X, labelled, rows, 0.01)
    for kwargs in ({"n_threads": 1}, {"n_threads": 3}, {"tile": W}, {"tile": 12 * W},
                   {"chunk": 4 * W}, {"chunk": 8 * W}, {"slice_steps": 1},
                   {"slice_steps": 3}):
        other = fold_digits(X, labelled, rows, 0.01, **kwargs)
        for mine, theirs in zip(reference[:4], other[:4]):
            np.testing.assert_array_equal(mine, theirs, err_msg=str(kwargs))


@needs_amx
@pytest.mark.parametrize("d", [40, 700])
def test_the_bound_holds_and_sends_on_every_row_the_left_out_terms_reorder(
        rng, monkeypatch, d):
    """Near ties at every relative gap from 1e-13 to 1e-2: every row's distances
    within the bound of the true ones (direct differences), rows certified close to
    the bound, every certified row's nearest the true one; with the left-out terms
    cut from the bound (the roundings kept), rows are certified wrongly, so this
    test can fail."""
    n_pairs = 400
    U = rng.normal(size=(n_pairs, d))
    V = rng.normal(size=(n_pairs, d))
    V *= 2.0 / np.linalg.norm(V, axis=1, keepdims=True)
    W_ = rng.normal(size=(n_pairs, d))
    W_ -= (W_ * V).sum(axis=1, keepdims=True) * V / 4.0
    W_ *= 2.0 / np.linalg.norm(W_, axis=1, keepdims=True)
    gaps = np.logspace(-13, -2, n_pairs)
    X = np.vstack([U, U + V, U + W_ * np.sqrt(1.0 + gaps)[:, None],
                   rng.normal(size=(200, d))]).astype(np.float32)
    labelled = np.arange(n_pairs, len(X), dtype=np.int64)
    rows = np.arange(n_pairs, dtype=np.int64)
    gamma = 0.05
    mean = DenseStatistics.of(X).mean
    step = digits.digits_pass(X, labelled, rows, mean, gamma, 2)
    reduced = step.kernel(np.arange(n_pairs), None)
    D = sq_distances(X[rows], X[labelled])
    ordered = np.sort(D, axis=1)
    assert np.all(np.abs(reduced.d_min - ordered[:, 0]) <= reduced.error_bound)
    assert np.all(np.abs(reduced.d_second - ordered[:, 1]) <= reduced.error_bound)
    true_gap = ordered[:, 1] - ordered[:, 0]
    certified = true_gap > 0
    certified &= reduced.d_second - reduced.d_min > 2 * reduced.error_bound
    assert (certified & (true_gap < 4 * reduced.error_bound)).sum() >= 3
    np.testing.assert_array_equal(reduced.nearest[certified], D.argmin(axis=1)[certified])

    def roundings_only(sigma, norms, sigma_lab, norms_lab, n_features):
        c, c_lab = np.sqrt(norms[:, 0]), np.sqrt(norms_lab[:, 0]).max()
        return (n_features + 6) * 2.0**-53 * (c + c_lab) ** 2

    monkeypatch.setattr(digits, "error_bound", roundings_only)
    cut = digits.digits_pass(X, labelled, rows, mean, gamma, 2).kernel(
        np.arange(n_pairs), None)
    wrongly = cut.d_second - cut.d_min > 2 * cut.error_bound
    wrongly &= cut.nearest != D.argmin(axis=1)
    assert wrongly.sum() >= 5


@needs_amx
@pytest.mark.parametrize("n_jobs", [1, 2])
@pytest.mark.parametrize("gamma,threshold", [(0.3, 0.2), (1.0, 0.5), (2.0, 0.9)])
def test_results_are_the_oracles(rng, n_jobs, gamma, threshold):
    """Dominant and scores the oracle's; each share within what the pass's bound
    allows for it (every exponent off by at most 2 gamma delta_u)."""
    X = continuous(rng, 2500, 200)
    y = labels(rng, len(X), 700)
    result = major_influence_range(X, y, gamma=gamma, threshold=threshold, n_jobs=n_jobs)
    expected = oracle_mir(X, y, gamma, threshold)
    by_digits = result.stage == 0
    assert by_digits.mean() > 0.9  # the digit pass settled the rows
    np.testing.assert_array_equal(result.dominant, expected.dominant)
    np.testing.assert_array_equal(result.scores, expected.scores)
    assert 0 < expected.scores.sum() < len(expected.unlabelled)
    step = digits.digits_pass(X, expected.labelled, expected.unlabelled,
                              DenseStatistics.of(X).mean, gamma, 2)
    delta = step.kernel(np.arange(len(expected.unlabelled)), None).error_bound
    allowed = np.expm1(2 * gamma * delta) + 1e-7
    error = np.abs(result.share / expected.share - 1)
    assert np.all(error[by_digits] <= allowed[by_digits])
    assert error[by_digits].max() > allowed[by_digits].min() / 100  # not vacuous


@needs_amx
@pytest.mark.parametrize("scale", [1e-30, 1e-12, 1e12, 1e30])
def test_any_magnitude_float32_overflow_included(rng, scale):
    """The scales are powers of two: the digits are the same at any magnitude, also
    where float32 products would overflow (the float32 pass cannot run there)."""
    X = continuous(rng, 900, 60, scale=scale)
    y = labels(rng, len(X), 250)
    gamma = 0.05 / scale**2
    result = major_influence_range(X, y, gamma=gamma)
    expected = oracle_mir(X, y, gamma)
    assert np.mean(result.stage == 0) > 0.9
    np.testing.assert_array_equal(result.dominant, expected.dominant)
    np.testing.assert_array_equal(result.scores, expected.scores)


@needs_amx
def test_rows_equal_to_the_mean_and_ties():
    """Identical rows centre to zero (sigma 1, zero digits): every distance 0, the
    first labelled row nearest, each share 1 / l."""
    X = np.ones((300, 20), dtype=np.float32)
    y = np.full(300, -1)
    y[::3] = 1
    result = major_influence_range(X, y, gamma=1.0)
    assert np.all(result.dominant == 0)
    np.testing.assert_allclose(result.share, 1.0 / 100, rtol=1e-12)


def test_data_the_pass_declines(rng, monkeypatch):
    """float64 data (their shares keep float64's accuracy), data on an 8-bit grid
    (the grid pass), too many features, the pass switched off: the float passes
    give the oracle's answers."""
    X = continuous(rng, 600, 30)
    stats = DenseStatistics.of(X)
    assert not digits.digits_apply(X.astype(np.float64), None)
    assert not digits.digits_apply(X, 1 / 255)
    assert not digits.digits_apply(np.zeros((2, digits.MAX_FEATURES + 1), np.float32), None)
    assert grid.grid_scale(stats, X.shape[1]) is None
    assert digits.digits_apply(X, None) == (digits.ISA == 1)
    called = []
    monkeypatch.setattr(digits, "ENABLED", False)
    monkeypatch.setattr(dense, "digits_pass", lambda *a: called.append(a))
    y = labels(rng, len(X), 150)
    result = major_influence_range(X, y, gamma=0.1)
    assert not called
    expected = oracle_mir(X, y, 0.1)
    np.testing.assert_array_equal(result.dominant, expected.dominant)
    np.testing.assert_array_equal(result.scores, expected.scores)
    pixels = clustered_pixels(600, 30, random_state=0, levels=256)
    assert digits.digits_apply(pixels, grid.grid_scale(DenseStatistics.of(pixels), 30)) is False


@needs_amx
def test_the_kernel_refuses_what_it_cannot_do(rng):
    X = continuous(rng, 40, 10)
    labelled, rows = np.arange(16, dtype=np.int64), np.arange(16, 40, dtype=np.int64)
    with pytest.raises(ValueError, match="multiples"):
        fold_digits(X, labelled, rows, 1.0, tile=24)
    with pytest.raises(ValueError, match="labelled"):
        fold_digits(X, labelled[:0], rows, 1.0)
    wide = np.zeros((4, digits.MAX_FEATURES + 1), dtype=np.float32)
    with pytest.raises(ValueError, match="at most"):
        fold_digits(wide, labelled[:2], np.arange(2, 4, dtype=np.int64), 1.0)
