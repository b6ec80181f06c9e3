"""Major Influence Range: the public function, its result and the estimator.

Notation (Definitions 1-4 of the paper): the graph weight between inputs i and j is
``W_ij = exp(-gamma ||x_i - x_j||^2)``.  For an unlabelled input u the labelled
input with the largest weight, ``s*(u) = argmax_l W_ul`` (its nearest labelled
input, the lower index on ties), holds the share

    share(u) = W_{u s*(u)} / sum_l W_ul = 1 / sum_l exp(-gamma (d_ul - d_min(u)))

of the labelled influence on u.  ``MIR(l)`` counts the unlabelled inputs u with
``s*(u) = l`` and ``share(u) > threshold`` (0.5 in the paper: l is a *major*
influencer of u).  Row normalisation of W cancels in the share, so only the
unlabelled x labelled block of W matters, and it is never stored.
"""

from dataclasses import dataclass, field

import numpy as np
from sklearn.base import BaseEstimator

from . import _core
from ._threads import effective_n_threads, single_threaded_blas
from ._validation import check_features, check_gamma, check_threshold, unlabelled_mask


@dataclass(frozen=True, eq=False)
class MIRResult:
    """Major Influence Range of every labelled input, and how it was obtained.

    Attributes
    ----------
    labelled : ndarray of int64, shape (n_labelled,)
        Indices (into X) of the labelled inputs, ascending.
    scores : ndarray of int64, shape (n_labelled,)
        ``scores[i]`` is the MIR of input ``labelled[i]``.
    unlabelled : ndarray of int64, shape (n_unlabelled,)
        Indices (into X) of the unlabelled inputs, ascending.
    dominant : ndarray of int64, shape (n_unlabelled,)
        For each unlabelled input, the index (into X) of its most influential
        labelled input (the nearest; the lower index on ties).
    share : ndarray of float64, shape (n_unlabelled,)
        That input's share of the labelled influence, in (0, 1].
    gamma, threshold : float
        The RBF width and the share an input must exceed to count.
    stage : ndarray of int8, shape (n_unlabelled,)
        Which pass certified each row: 0 is the fast pass; the exact pass is the
        last one (see ``mir_fast._core``).  Diagnostic only.
    """

    labelled: np.ndarray
    scores: np.ndarray
    unlabelled: np.ndarray
    dominant: np.ndarray
    share: np.ndarray
    gamma: float
    threshold: float
    stage: np.ndarray = field(repr=False)

    @property
    def counted(self):
        """Boolean mask over ``unlabelled``: rows whose share exceeds the threshold."""
        return self.share > self.threshold

    def ranking(self):
        """Labelled indices by decreasing MIR; equal MIR keeps the lower index first."""
        return self.labelled[np.argsort(-self.scores, kind="stable")]

    def __repr__(self):
        top = ", ".join(
            f"{i}: {s}" for i, s in zip(self.ranking()[:5], np.sort(self.scores)[::-1][:5])
        )
        return (
            f"MIRResult(n_labelled={len(self.labelled)}, n_unlabelled={len(self.unlabelled)}, "
            f"gamma={self.gamma:g}, threshold={self.threshold:g}, "
            f"dominated={int(self.counted.sum())}, top={{{top}}})"
        )


def major_influence_range(X, y, *, gamma, threshold=0.5, n_jobs=None):
    """Major Influence Range of every labelled input.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features) or scipy sparse matrix
        Inputs.  float32 and float64 C-ordered arrays are used without a copy; CSR
        is used as it is when its indices are sorted and unique (CSC, COO and
        other sparse formats are converted once).
    y : array-like of shape (n_samples,)
        Class labels, ``-1`` (or ``"-1"`` for string labels) for unlabelled inputs.
    gamma : float
        RBF width: ``W_ij = exp(-gamma ||x_i - x_j||^2)``.
    threshold : float, default=0.5
        An unlabelled input counts for its most influential labelled input when
        that input's share is strictly greater than ``threshold``.
    n_jobs : int or None, default=None
        OpenMP threads, with scikit-learn's meaning (None: physical cores or
        ``OMP_NUM_THREADS``; -1: all CPUs).  Results do not depend on it.

    Returns
    -------
    MIRResult
        ``labelled``, ``scores``, ``unlabelled``, ``dominant``, ``share``.

    Notes
    -----
    Exact: the nearest labelled input and the comparison with ``threshold`` are
    certified by a rounding-error bound, and rows too close to call are recomputed
    in higher precision (see ``mir_fast._core``).  Memory beyond the input and the
    O(n) outputs is a few MB per thread.

    Examples
    --------
    >>> import numpy as np
    >>> from mir_fast import major_influence_range
    >>> X = np.array([[0.0], [1.0], [0.2], [0.9], [0.5]])
    >>> y = np.array([0, 1, -1, -1, -1])
    >>> result = major_influence_range(X, y, gamma=10.0)
    >>> result.scores
    array([1, 1])
    >>> result.dominant
    array([0, 1, 0])
    """
    gamma = check_gamma(gamma)
    threshold = check_threshold(threshold)
    n_threads = effective_n_threads(n_jobs)
    X, is_sparse = check_features(X)
    unlabelled_rows = unlabelled_mask(y, X.shape[0])
    labelled = np.flatnonzero(~unlabelled_rows).astype(np.int64)
    unlabelled = np.flatnonzero(unlabelled_rows).astype(np.int64)
    fold_rows = _core.fold_csr if is_sparse else _core.fold_dense
    with single_threaded_blas():
        fold = fold_rows(X, labelled, unlabelled, gamma, threshold, n_threads)
    share = 1.0 / fold.weight_sum
    counted = share > threshold
    scores = np.bincount(fold.nearest[counted], minlength=len(labelled)).astype(np.int64)
    return MIRResult(
        labelled=labelled,
        scores=scores,
        unlabelled=unlabelled,
        dominant=labelled[fold.nearest],
        share=share,
        gamma=gamma,
        threshold=threshold,
        stage=fold.stage,
    )


class MajorInfluenceRange(BaseEstimator):
    """Estimator form of :func:`major_influence_range`.

    Parameters
    ----------
    gamma : float, default=20.0
        RBF width, as in scikit-learn's ``LabelPropagation`` (whose default it
        shares); choose it for your data (the paper uses 5 for MNIST).
    threshold : float, default=0.5
        Share an unlabelled input must exceed to count.
    n_jobs : int or None, default=None
        OpenMP threads (scikit-learn's meaning).

    Attributes
    ----------
    scores_ : ndarray of int64
        MIR of each labelled input, in the order of ``labelled_``.
    labelled_, unlabelled_ : ndarray of int64
        Indices of the labelled and unlabelled inputs seen in ``fit``.
    dominant_ : ndarray of int64
        Most influential labelled input (index into X) of each unlabelled input.
    share_ : ndarray of float64
        Its share of the labelled influence.
    n_features_in_ : int
        Number of features seen in ``fit``.
    result_ : MIRResult
        Everything above in one object.
    """

    def __init__(self, gamma=20.0, threshold=0.5, n_jobs=None):
        self.gamma = gamma
        self.threshold = threshold
        self.n_jobs = n_jobs

    def fit(self, X, y):
        """Compute the MIR of every labelled input of (X, y); return self."""
        result = major_influence_range(
            X, y, gamma=self.gamma, threshold=self.threshold, n_jobs=self.n_jobs
        )
        self.result_ = result
        self.scores_ = result.scores
        self.labelled_ = result.labelled
        self.unlabelled_ = result.unlabelled
        self.dominant_ = result.dominant
        self.share_ = result.share
        self.n_features_in_ = X.shape[1] if hasattr(X, "shape") else np.asarray(X).shape[1]
        return self
