"""Independent oracle: MIR straight from the paper's definitions, plain numpy, float64.

Nothing here shares code with mir_fast: distances are computed by direct
differences (no norm expansion), weights in the stable form
``exp(-gamma (d - d_min))`` so that rows far from every labelled input still count.
"""

from dataclasses import dataclass
from fractions import Fraction

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
    chunk = max(1, int(2e7 // max(1, B.shape[0] * B.shape[1])))
    return np.concatenate(
        [((A[i : i + chunk, None, :] - B[None, :, :]) ** 2).sum(axis=2)
         for i in range(0, len(A), chunk)]
    )


def exact_sq_distances(A, B):
    """||a - b||^2 in exact rational arithmetic on the float values (small inputs only;
    coordinates where both rows are 0 contribute nothing and are skipped)."""
    A = np.asarray(A, dtype=np.float64)
    B = np.asarray(B, dtype=np.float64)
    out = []
    for a in A:
        row = []
        for b in B:
            used = np.flatnonzero((a != 0) | (b != 0))
            row.append(sum((Fraction(float(a[k])) - Fraction(float(b[k]))) ** 2 for k in used))
        out.append(row)
    return out


def oracle_mir_exact(X, y, gamma, threshold=0.5):
    """As oracle_mir, with distances in exact arithmetic: ties are true ties."""
    X = X.toarray() if sp.issparse(X) else np.asarray(X)
    y = np.asarray(y)
    labelled = np.flatnonzero(y != -1)
    unlabelled = np.flatnonzero(y == -1)
    scores = np.zeros(len(labelled), dtype=np.int64)
    D = exact_sq_distances(X[unlabelled], X[labelled])
    dominant, share = [], []
    for row in D:
        d_min = min(row)
        position = row.index(d_min)  # first occurrence: the lower index
        s = sum(np.exp(-gamma * float(d - d_min)) for d in row)
        dominant.append(labelled[position])
        share.append(1.0 / s)
        if 1.0 / s > threshold:
            scores[position] += 1
    return OracleResult(labelled, unlabelled, scores, np.array(dominant, dtype=np.int64),
                        np.array(share))


def _settle_near_ties_exactly(D, A, B, rel=1e-12):
    """Where float rounding could decide the nearest labelled input (distances within
    ``rel`` of the minimum), recompute those distances in exact arithmetic: write them
    back relative to the exact minimum and return {row: exact nearest column}."""
    d_min = D.min(axis=1)
    winners = {}
    for row in np.flatnonzero(((D <= d_min[:, None] * (1 + rel))).sum(axis=1) > 1):
        candidates = np.flatnonzero(D[row] <= d_min[row] * (1 + rel))
        exact = exact_sq_distances(A[[row]], B[candidates])[0]
        best = min(exact)
        winners[row] = candidates[exact.index(best)]  # first exact minimum: lower index
        for column, value in zip(candidates, exact):
            D[row, column] = float(best) + float(value - best)
    return winners


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
    for row, winner in _settle_near_ties_exactly(D, X[unlabelled], X[labelled]).items():
        nearest[row] = winner
    d_min = D[np.arange(len(D)), nearest]
    share = 1.0 / np.exp(-gamma * (D - d_min[:, None])).sum(axis=1)
    for row, position in enumerate(nearest):
        if share[row] > threshold:
            scores[position] += 1
    return OracleResult(labelled, unlabelled, scores, labelled[nearest], share)
