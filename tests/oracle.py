"""Independent oracle: MIR straight from the paper's definitions, plain numpy, float64.

Nothing here shares code with mir_fast: distances are computed by direct
differences (no norm expansion), weights in the stable form
``exp(-gamma (d - d_min))`` so that rows far from every labelled input still count.
"""

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp


@dataclass
class OracleResult:
    labelled: np.ndarray
    unlabelled: np.ndarray
    scores: np.ndarray
    dominant: np.ndarray
    share: np.ndarray


def sq_distances(A, B):
    """||a - b||^2 for every pair, by direct differences, in float64."""
    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    return ((A[:, None, :] - B[None, :, :]) ** 2).sum(axis=2)


def oracle_mir(X, y, gamma, threshold=0.5):
    X = X.toarray() if sp.issparse(X) else np.asarray(X)
    y = np.asarray(y)
    unlabelled_mask = (y == "-1") if y.dtype.kind in "US" else (y == -1)
    labelled = np.flatnonzero(~unlabelled_mask)
    unlabelled = np.flatnonzero(unlabelled_mask)
    scores = np.zeros(len(labelled), dtype=np.int64)
    if len(unlabelled) == 0:
        return OracleResult(labelled, unlabelled, scores, np.empty(0, np.int64), np.empty(0))
    D = sq_distances(X[unlabelled], X[labelled])
    nearest = D.argmin(axis=1)  # first occurrence: the lower index wins ties
    d_min = D[np.arange(len(D)), nearest]
    share = 1.0 / np.exp(-gamma * (D - d_min[:, None])).sum(axis=1)
    for row, position in enumerate(nearest):
        if share[row] > threshold:
            scores[position] += 1
    return OracleResult(labelled, unlabelled, scores, labelled[nearest], share)
