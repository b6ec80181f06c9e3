"""Data sets: synthetic generators with the shapes of the paper's data.

``rcv1_like`` imitates the binary RCV1 tf-idf matrix that the paper uses (20,242 x
47,236, about 74 non-zeros per row, Zipf-like feature frequencies, unit-norm
rows), for performance work where the real files are not available.
"""

import numpy as np
import scipy.sparse as sp
from sklearn.utils import check_random_state


_DUPLICATE_DRAWS = 1.09


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


#: RBF widths: the paper's for its data sets; for digits17 the value that makes the
#: median share about 0.5 with 25% labelled (the paper does not use that set).
DEFAULT_GAMMA = {"digits17": 3.0, "mnist17": 5.0, "cifar-cat-ship": 0.1, "rcv1": 20.0}


def digits17(test_size=0.2, random_state=2020):
    """scikit-learn's bundled 8x8 digits, classes 1 and 7, pixels scaled to [0, 1].

    Always available (it ships with scikit-learn): the embedded default data set.
    The 361 images are split into a transductive (train) part and an inductive
    test part by a seeded stratified split.

    Returns
    -------
    X_train, y_train, X_test, y_test
        float64 features in [0, 1] (64 columns) and labels 1 / 7.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    keep = (y == 1) | (y == 7)
    X, y = X[keep] / 16.0, y[keep]
    if not test_size:
        return X, y, X[:0], y[:0]
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=test_size, stratify=y, random_state=random_state
    )
    return X_train, y_train, X_test, y_test


def labelled_split(y, labelled_fraction, random_state=2020):
    """The paper's split: ``RandomState(seed).permutation(n)``, first ``int(n p)`` keep labels.

    Returns a copy of ``y`` (as an integer or object array) with every other entry
    set to -1.
    """
    y = np.asarray(y)
    if not 0.0 < labelled_fraction <= 1.0:
        raise ValueError(f"labelled_fraction must be in (0, 1], got {labelled_fraction!r}")
    order = np.random.RandomState(random_state).permutation(len(y))
    n_labelled = int(len(y) * labelled_fraction)
    if n_labelled == 0:
        raise ValueError(f"labelled_fraction={labelled_fraction} labels no input of {len(y)}")
    y_out = y.astype(object) if y.dtype.kind in "USO" else y.astype(np.int64)
    y_out[order[n_labelled:]] = "-1" if y.dtype.kind in "US" else -1
    return y_out
