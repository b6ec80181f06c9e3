"""The CSR kernel against the oracle and against the dense kernel."""

import numpy as np
import pytest
import scipy.sparse as sp
from oracle import oracle_mir, oracle_mir_exact

from mir_fast import major_influence_range
from mir_fast.datasets import rcv1_like


def sparse_problem(rng, n=600, n_features=400, labelled=0.3):
    X = rcv1_like(n_samples=n, n_features=n_features, nnz_per_row=12, random_state=7)
    y = np.where(rng.random(n) < labelled, 1, -1)
    y[0] = 0
    return X, y


def assert_same(result, expected, share_rtol=1e-9):
    np.testing.assert_array_equal(result.labelled, expected.labelled)
    np.testing.assert_array_equal(result.dominant, expected.dominant)
    np.testing.assert_array_equal(result.scores, expected.scores)
    np.testing.assert_allclose(result.share, expected.share, rtol=share_rtol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("n_jobs", [1, 2, None])
def test_csr_matches_oracle(rng, dtype, index_dtype, n_jobs):
    X, y = sparse_problem(rng)
    X = X.astype(dtype)
    X.indices = X.indices.astype(index_dtype)  # scipy would downcast at construction
    X.indptr = X.indptr.astype(index_dtype)
    assert X.indices.dtype == index_dtype
    gamma = 20.0
    expected = oracle_mir(X, y, gamma)
    assert expected.scores.sum() > 0
    # float32 data take the shorter exponential (relative error < 1e-8 per weight)
    assert_same(major_influence_range(X, y, gamma=gamma, n_jobs=n_jobs), expected,
                share_rtol=1e-7 if dtype == np.float32 else 1e-9)


def test_dense_head_and_sparse_tail_both_used(rng):
    """Frequent features go through the dense head, rare ones through the scatter."""
    from mir_fast import _core

    X = rcv1_like(n_samples=3000, n_features=2000, nnz_per_row=40, random_state=3)
    y = np.where(rng.random(3000) < 0.3, 0, -1)
    labelled, rows = np.flatnonzero(y != -1), np.flatnonzero(y == -1)
    head = _core.csr_head_features(X, labelled, rows)
    head_slot, lab_head_t, _, tail_pos, _ = _core.split_labelled(X, labelled, head)
    assert lab_head_t.shape[0] > 0 and len(tail_pos) > 0
    assert_same(major_influence_range(X, y, gamma=5.0), oracle_mir(X, y, 5.0))


@pytest.mark.parametrize("n_labelled, n_unlabelled", [(1, 1), (15, 3), (17, 5), (37, 23)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_feature_in_the_dense_head(rng, n_labelled, n_unlabelled, dtype):
    """The head product's register blocks (4 unlabelled x 16 labelled rows) and its
    ragged edges give the oracle's distances when every feature is in the head."""
    from mir_fast import _core

    n = n_labelled + n_unlabelled
    dense = np.round(rng.normal(size=(n, 11)), 2)
    dense[rng.random(dense.shape) < 0.3] = 0.0
    X = sp.csr_matrix(dense.astype(dtype))
    y = np.full(n, -1)
    y[rng.permutation(n)[:n_labelled]] = 0
    labelled, rows = np.flatnonzero(y != -1), np.flatnonzero(y == -1)
    fold = _core.fold_csr(X, labelled, rows, 0.7, 0.5, 2, head=np.arange(X.shape[1]))
    expected = oracle_mir(X, y, 0.7)
    np.testing.assert_array_equal(labelled[fold.nearest], expected.dominant)
    np.testing.assert_allclose(1.0 / fold.weight_sum, expected.share,
                               rtol=1e-7 if dtype == np.float32 else 1e-9)
    direct = ((dense[rows, None, :] - dense[None, labelled, :]) ** 2).sum(axis=2)
    np.testing.assert_allclose(fold.d_min, direct.min(axis=1), rtol=1e-6, atol=1e-9)


def test_unsorted_duplicates_and_explicit_zeros(rng):
    dense = np.round(rng.normal(size=(60, 8)), 1)
    dense[rng.random(dense.shape) < 0.6] = 0.0
    y = np.where(rng.random(60) < 0.4, 2, -1)
    y[0] = 1
    coo = sp.coo_matrix(dense)
    # split every value in two halves (duplicates), add explicit zeros, shuffle order
    half = coo.data / 2
    rows = np.concatenate([coo.row, coo.row, [0, 5]])
    cols = np.concatenate([coo.col, coo.col, [3, 4]])
    vals = np.concatenate([half, coo.data - half, [0.0, 0.0]])
    order = rng.permutation(len(vals))
    X = sp.coo_matrix((vals[order], (rows[order], cols[order])), shape=(60, 8)).tocsr(copy=False)
    X.has_sorted_indices = False
    expected = oracle_mir_exact(dense, y, 2.0)  # decimals: symmetric rows tie exactly
    assert_same(major_influence_range(X, y, gamma=2.0), expected, share_rtol=1e-12)
    assert_same(major_influence_range(dense, y, gamma=2.0), expected, share_rtol=1e-12)


@pytest.mark.parametrize("fmt", ["csc", "coo", "lil", "csr_array"])
def test_other_sparse_formats(rng, fmt):
    X, y = sparse_problem(rng, n=200, n_features=100)
    converted = sp.csr_array(X) if fmt == "csr_array" else X.asformat(fmt)
    assert_same(major_influence_range(converted, y, gamma=20.0), oracle_mir(X, y, 20.0))


def test_empty_rows_and_rows_identical_to_labelled(rng):
    X, y = sparse_problem(rng, n=300, n_features=120)
    X = X.tolil()
    labelled = np.flatnonzero(y != -1)
    unl = np.flatnonzero(y == -1)
    X[unl[:5]] = 0  # empty unlabelled rows: distances are the labelled norms
    X[labelled[:3]] = 0  # empty labelled rows: tied at the origin
    X[unl[5:10]] = X[labelled[10:15]]  # unlabelled copies of labelled rows
    X = X.tocsr()
    X.eliminate_zeros()
    result = major_influence_range(X, y, gamma=4.0)
    expected = oracle_mir(X, y, 4.0)
    assert_same(result, expected)
    np.testing.assert_array_equal(result.dominant[:5], labelled[0])  # first of the tied zeros
    np.testing.assert_array_equal(result.dominant[5:10], labelled[10:15])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dense_and_csr_agree(rng, dtype):
    X, y = sparse_problem(rng)
    X = X.astype(dtype)
    from_csr = major_influence_range(X, y, gamma=20.0)
    from_dense = major_influence_range(X.toarray(), y, gamma=20.0)
    np.testing.assert_array_equal(from_csr.dominant, from_dense.dominant)
    np.testing.assert_array_equal(from_csr.scores, from_dense.scores)
    # dense float32: the float32 or digit pass's shares carry its bound (the digits'
    # is wider on rows of a few large values), as for all float32 data in test_dense
    np.testing.assert_allclose(from_csr.share, from_dense.share,
                               rtol=1e-4 if dtype == np.float32 else 1e-5)


def test_identical_for_every_thread_count(rng):
    X = rcv1_like(n_samples=4000, n_features=3000, nnz_per_row=30, random_state=1)
    y = np.where(rng.random(4000) < 0.25, 0, -1)
    results = [major_influence_range(X, y, gamma=10.0, n_jobs=n) for n in (1, 2, 3, None)]
    for other in results[1:]:
        np.testing.assert_array_equal(other.dominant, results[0].dominant)
        np.testing.assert_array_equal(other.share, results[0].share)


def test_rcv1_like_shape():
    X = rcv1_like(n_samples=2000, random_state=0)
    assert X.shape == (2000, 47236) and X.format == "csr" and X.has_canonical_format
    assert 65 <= X.nnz / 2000 <= 85
    np.testing.assert_allclose(np.sqrt(X.multiply(X).sum(axis=1)).A1, 1.0)
    frequencies = np.bincount(X.indices, minlength=X.shape[1])
    assert frequencies[:10].min() > 20 * np.median(frequencies[frequencies > 0])  # Zipf head


def test_rows_without_non_zeros_are_exact_ties():
    """Every row empty: every distance is 0, a tie the exact pass settles (the first
    labelled row wins, the share is 1/l); the error bound of rows with no terms is
    0, not undefined."""
    X = sp.csr_matrix((60, 12))
    y = np.full(60, -1)
    y[:4] = [0, 1, 0, 1]
    result = major_influence_range(X, y, gamma=3.0, threshold=0.2)
    expected = oracle_mir(X, y, 3.0, threshold=0.2)
    np.testing.assert_array_equal(result.dominant, np.zeros(56, dtype=np.int64))
    np.testing.assert_array_equal(result.scores, expected.scores)
    np.testing.assert_allclose(result.share, 0.25)
    assert np.all(result.stage >= 1)  # settled by the exact pass, not the first
