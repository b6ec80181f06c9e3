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
