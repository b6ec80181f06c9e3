"""Synthetic data with the shapes of the paper's data, for scale and speed work."""

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_random_state


_DUPLICATE_DRAWS = 1.09


def clustered_pixels(n_samples, n_features, n_clusters=50, noise=0.25, random_state=None,
                     levels=None):
    """Pixel-like dense data with cluster structure, float32 in [0, 1].

    ``n_clusters`` random prototypes in [0, 1]^d; each input is a prototype plus
    Gaussian noise of standard deviation ``noise``, clipped to [0, 1].  Stands in
    for image data of any shape (the CIFAR shape has no real data here).
    ``levels``: round every value to the nearest of that many evenly spaced grey
    levels, ``k / (levels - 1)`` (256: 8-bit pixels / 255, as real images are
    stored); None keeps the continuous values.
    """
    rng = check_random_state(random_state)
    prototypes = rng.random_sample((n_clusters, n_features)).astype(np.float32)
    noise_values = rng.normal(scale=noise, size=(n_samples, n_features)).astype(np.float32)
    X = prototypes[rng.randint(0, n_clusters, n_samples)] + noise_values
    np.clip(X, 0.0, 1.0, out=X)
    if levels is not None:
        if int(levels) != levels or levels < 2:
            raise ValueError(f"levels must be an integer of at least 2, got {levels!r}")
        steps = np.float32(levels - 1)
        X = np.rint(X * steps, out=X)
        X /= steps
    return X


def rcv1_like(n_samples=20242, n_features=47236, nnz_per_row=74, zipf_exponent=1.1,
              dtype=np.float64, random_state=None):
    """Random CSR matrix shaped like RCV1's tf-idf features.

    Row ``i`` has about ``nnz_per_row`` distinct features (Poisson), feature ``f``
    is drawn with probability proportional to ``(f + 10) ** -zipf_exponent`` (a few
    frequent terms, a long tail), values are exponential (tf-idf-like) and every
    row is scaled to unit Euclidean norm.

    Returns
    -------
    scipy.sparse.csr_matrix of shape (n_samples, n_features), canonical format.
    """
    rng = check_random_state(random_state)
    weights = (np.arange(n_features) + 10.0) ** -zipf_exponent
    weights /= weights.sum()
    # frequent terms are drawn twice in a row now and then and merge: draw ~9% more
    counts = np.maximum(rng.poisson(nnz_per_row * _DUPLICATE_DRAWS, size=n_samples), 1)
    columns = rng.choice(n_features, size=counts.sum(), p=weights)
    rows = np.repeat(np.arange(n_samples), counts)
    values = rng.exponential(size=counts.sum())
    X = sp.csr_matrix((values, (rows, columns)), shape=(n_samples, n_features))
    X.sum_duplicates()
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=1)).ravel())
    X = sp.diags(1.0 / norms) @ X
    X = sp.csr_matrix(X, dtype=dtype)
    X.sort_indices()
    return X


def two_blobs(n_samples, n_features=2, cluster_std=1.0, test_size=0.2, random_state=None):
    """Two Gaussian blobs (labels 0 / 1) of any size, split into train and test.

    Returns
    -------
    X_train, y_train, X_test, y_test
    """
    from sklearn.datasets import make_blobs

    X, y = make_blobs(n_samples=n_samples, n_features=n_features, centers=2,
                      cluster_std=cluster_std, random_state=random_state)
    return _train_test(X, y, test_size, random_state)


def two_moons(n_samples, noise=0.1, test_size=0.2, random_state=None):
    """scikit-learn's two interleaving half circles (labels 0 / 1), split.

    Returns
    -------
    X_train, y_train, X_test, y_test
    """
    from sklearn.datasets import make_moons

    X, y = make_moons(n_samples=n_samples, noise=noise, random_state=random_state)
    return _train_test(X, y, test_size, random_state)


def _train_test(X, y, test_size, random_state):
    from sklearn.model_selection import train_test_split

    X_train, X_test, y_train, y_test = train_test_split(
        X, y.astype(np.int64), test_size=test_size, stratify=y, random_state=random_state)
    return X_train, y_train, X_test, y_test
