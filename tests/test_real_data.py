"""Real data: the embedded digits and the Rotten Tomatoes tf-idf matrix (CSR)."""

import numpy as np
import pytest
from oracle import oracle_mir

from mir_fast import major_influence_range
from mir_fast.datasets import digits17, labelled_split, rotten_tomatoes


@pytest.fixture(scope="module")
def reviews():
    return rotten_tomatoes()


def test_rotten_tomatoes_shape(reviews):
    X_train, y_train, X_test, y_test = reviews
    assert X_train.shape[0] + X_test.shape[0] == 12808  # fresh + rotten, 'plot' dropped
    assert X_train.format == "csr" and X_train.shape[1] > 15000
    assert set(np.unique(y_train)) == {0, 1} and 0.5 < y_train.mean() < 0.65
    norms = np.sqrt(X_train.multiply(X_train).sum(axis=1)).A1
    np.testing.assert_allclose(norms[norms > 0], 1.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rotten_tomatoes_csr_matches_oracle(reviews, dtype):
    X_train, y_train, _, _ = reviews
    X = X_train[:700].astype(dtype)
    X = X[:, np.unique(X.indices)]  # drop all-zero columns: distances unchanged
    y = labelled_split(y_train[:700], 0.25)
    gamma = 30.0  # short snippets are nearly orthogonal: distances cluster near 2
    expected = oracle_mir(X, y, gamma)
    assert expected.scores.sum() > 20
    for data in (X, X.toarray()):
        result = major_influence_range(data, y, gamma=gamma, n_jobs=2)
        np.testing.assert_array_equal(result.dominant, expected.dominant)
        np.testing.assert_array_equal(result.scores, expected.scores)
        np.testing.assert_allclose(result.share, expected.share, rtol=1e-5)


def test_rotten_tomatoes_full_runs_and_is_thread_independent(reviews):
    X_train, y_train, _, _ = reviews
    y = labelled_split(y_train, 0.25)
    one = major_influence_range(X_train, y, gamma=30.0, n_jobs=1)
    two = major_influence_range(X_train, y, gamma=30.0, n_jobs=2)
    np.testing.assert_array_equal(one.share, two.share)
    assert one.scores.sum() == one.counted.sum() > 0


def test_digits_against_oracle():
    X, y, _, _ = digits17(test_size=0)
    y = labelled_split(y, 0.25)
    for gamma in (1.0, 3.0, 10.0):
        expected = oracle_mir(X, y, gamma)
        for data in (X, X.astype(np.float32)):
            result = major_influence_range(data, y, gamma=gamma)
            np.testing.assert_array_equal(result.dominant, expected.dominant)
            np.testing.assert_array_equal(result.scores, expected.scores)
