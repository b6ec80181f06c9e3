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

import warnings
from dataclasses import dataclass, field

import numpy as np
from sklearn.base import BaseEstimator

from . import _core
from ._threads import effective_n_threads, single_threaded_blas, threads_for_work
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
    distance : ndarray of float64, shape (n_unlabelled,)
        Squared Euclidean distance to that input.
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
    distance: np.ndarray = field(repr=False)
    gamma: float = field(kw_only=True)
    threshold: float = field(kw_only=True)
    stage: np.ndarray = field(repr=False, kw_only=True)

    @property
    def counted(self):
        """Boolean mask over ``unlabelled``: rows whose share exceeds the threshold."""
        return self.share > self.threshold

    def order(self):
        """Positions into ``labelled``, most influential first.

        Primary key: MIR, highest first.  Inputs with MIR 0 follow, ranked by the
        number of unlabelled inputs they are nearest to (they would dominate those
        if their rivals were removed), then by the largest share they hold over one
        of them.  Remaining ties go to the lower index.
        """
        n_labelled = len(self.labelled)
        position = np.searchsorted(self.labelled, self.dominant)
        nearest_count = np.bincount(position, minlength=n_labelled)
        largest_share = np.zeros(n_labelled)
        np.maximum.at(largest_share, position, self.share)
        has_mir = self.scores > 0
        secondary = np.where(has_mir, 0, nearest_count)
        tertiary = np.where(has_mir, 0.0, largest_share)
        # np.lexsort sorts by its last key first
        return np.lexsort((np.arange(n_labelled), -tertiary, -secondary, -self.scores))

    def ranking(self):
        """Labelled indices, most influential first (see :meth:`order`)."""
        return self.labelled[self.order()]

    def __repr__(self):
        top = ", ".join(
            f"{self.labelled[p]}: {self.scores[p]}" for p in self.order()[:5]
        )
        return (
            f"MIRResult(n_labelled={len(self.labelled)}, n_unlabelled={len(self.unlabelled)}, "
            f"gamma={self.gamma:g}, threshold={self.threshold:g}, "
            f"dominated={int(self.counted.sum())}, top={{{top}}})"
        )


class DegenerateGammaWarning(UserWarning):
    """gamma makes MIR uninformative: every share is ~1, or almost none exceeds the threshold."""


#: Unlabelled rows sampled (seeded) to choose gamma="auto".
AUTO_GAMMA_SAMPLE = 2000


def auto_gamma(X, y, *, threshold=0.5, n_jobs=None):
    """The gamma at which half of the unlabelled inputs have a major influencer.

    MIR is informative when some unlabelled inputs are dominated by one labelled
    input and others are contested.  Every share grows with gamma, so the median
    share does too; ``auto_gamma`` finds by bisection (on log gamma) the gamma whose
    median share equals ``threshold``, over a seeded sample of at most
    ``AUTO_GAMMA_SAMPLE`` unlabelled inputs.  If that share cannot be reached (more
    than half the inputs are exact ties) the largest gamma tried is returned.
    """
    X, is_sparse = check_features(X)
    unlabelled_rows = unlabelled_mask(y, X.shape[0])
    labelled = np.flatnonzero(~unlabelled_rows).astype(np.int64)
    unlabelled = np.flatnonzero(unlabelled_rows).astype(np.int64)
    n_threads = _threads_for_call(X, is_sparse, len(labelled),
                                  min(len(unlabelled), AUTO_GAMMA_SAMPLE),
                                  effective_n_threads(n_jobs))
    with single_threaded_blas():
        return _auto_gamma(_core.fold_csr if is_sparse else _core.fold_dense, X, labelled,
                           unlabelled, check_threshold(threshold), n_threads)


def _threads_for_call(X, is_sparse, n_labelled, n_rows, n_threads):
    """Threads worth starting for ``n_rows`` unlabelled rows against ``n_labelled``
    (``threads_for_work``; a CSR pair costs about as much as 16 dense features)."""
    features = max(X.nnz / max(X.shape[0], 1), 16) if is_sparse else X.shape[1]
    return threads_for_work(n_threads, n_labelled * n_rows * features)


def _auto_gamma(fold_rows, X, labelled, unlabelled, threshold, n_threads):
    if len(unlabelled) == 0 or len(labelled) == 1:
        return 1.0
    sample = unlabelled
    if len(unlabelled) > AUTO_GAMMA_SAMPLE:
        rng = np.random.RandomState(0)
        sample = np.sort(rng.choice(unlabelled, AUTO_GAMMA_SAMPLE, replace=False))

    def median_share(log_gamma):
        fold = fold_rows(X, labelled, sample, scale * 2.0**log_gamma, threshold, n_threads)
        return float(np.median(1.0 / fold.weight_sum))

    # Work in units of the data's own squared distances: gamma = scale * 2^t, with
    # 1 / scale the median positive nearest distance.  The search is then the same
    # for X and c X, and no intermediate value overflows.
    d_min = fold_rows(X, labelled, sample, 1.0, threshold, n_threads).d_min
    typical = _distance_scale(X, labelled, sample, d_min)
    if typical == 0.0:
        _warn_no_gamma("every sampled unlabelled input is the same point as every labelled "
                       "input, so every share is 1 / n_labelled whatever gamma is; returning 1")
        return 1.0
    scale = 1.0 / typical
    if not np.isfinite(scale):
        raise ValueError("gamma='auto': the distances between the inputs are too small for "
                         "float64 (their squares underflow); rescale X")
    reach = 2 * AUTO_GAMMA_OCTAVES
    low, high = -reach, reach
    if median_share(high) <= threshold:
        _warn_no_gamma(f"even at gamma={scale * 2.0**high:.3g} fewer than half of the "
                       f"unlabelled inputs have a share above {threshold:g}: most of them are "
                       "exactly tied between labelled inputs (duplicate points)")
        return scale * 2.0**high
    if median_share(low) > threshold:
        _warn_no_gamma(f"even at gamma={scale * 2.0**low:.3g} more than half of the "
                       f"unlabelled inputs have a share above {threshold:g} (the threshold "
                       f"is not above 1 / {len(labelled)} labelled inputs)")
        return scale * 2.0**low
    for _ in range(AUTO_GAMMA_STEPS):
        middle = 0.5 * (low + high)
        if median_share(middle) > threshold:
            high = middle
        else:
            low = middle
    return scale * 2.0**high


#: auto_gamma searches gamma within this many factors of 4 of 1 / (the median
#: nearest squared distance), by bisection on log(gamma) in this many steps.
AUTO_GAMMA_OCTAVES = 20
AUTO_GAMMA_STEPS = 30


def _distance_scale(X, labelled, sample, d_min):
    """A typical squared distance: the median positive nearest distance, else (every
    sampled input coincides with a labelled one) the median positive squared
    distance from one labelled input to the sample and to the other labelled
    inputs; 0 when they are all the same point."""
    positive = d_min[d_min > 0]
    if len(positive):
        return float(np.median(positive))
    reference = X[labelled[:1]].astype(np.float64)
    rows = X[np.concatenate([sample, labelled[1 : 1 + AUTO_GAMMA_SAMPLE]])].astype(np.float64)
    if hasattr(rows, "toarray"):  # CSR: ||r||^2 + ||ref||^2 - 2 <r, ref> is close enough
        cross = np.asarray(rows @ reference.T.toarray()).ravel()
        spread = (np.asarray(rows.multiply(rows).sum(axis=1)).ravel()
                  + reference.multiply(reference).sum() - 2.0 * cross)
    else:
        spread = np.square(rows - reference).sum(axis=1)
    spread = spread[spread > 0]
    return float(np.median(spread)) if len(spread) else 0.0


def _warn_no_gamma(reason):
    warnings.warn(f"gamma='auto' has nothing to choose: {reason}.", DegenerateGammaWarning,
                  stacklevel=5)


def _warn_if_degenerate(result):
    n_unlabelled = len(result.unlabelled)
    if n_unlabelled < 20 or len(result.labelled) < 2:
        return
    suggestion = "gamma='auto' makes half of the unlabelled inputs dominated"
    if np.mean(result.share > 0.99) > 0.95:
        warnings.warn(
            f"gamma={result.gamma:g} is so large that {np.mean(result.share > 0.99):.0%} of "
            "the unlabelled inputs give over 99% of their labelled influence to one input: "
            f"MIR reduces to nearest-neighbour counts. Try a smaller gamma ({suggestion}).",
            DegenerateGammaWarning, stacklevel=3,
        )
    elif np.mean(result.counted) < 0.05:
        warnings.warn(
            f"gamma={result.gamma:g} is so small that only {np.mean(result.counted):.1%} of "
            f"the unlabelled inputs have a major influencer (share > {result.threshold:g}): "
            f"MIR is almost all zeros. Try a larger gamma ({suggestion}).",
            DegenerateGammaWarning, stacklevel=3,
        )


def _fold_with_progress(fold_rows, X, labelled, unlabelled, gamma, threshold, n_threads):
    """fold_rows over chunks of whole tiles, with a tqdm bar (on a terminal only)."""
    from tqdm.auto import tqdm

    chunk = _core.SUPER_TILE_ROWS
    if len(unlabelled) <= chunk:
        return fold_rows(X, labelled, unlabelled, gamma, threshold, n_threads)
    context = _core.whole_data_context(X, fold_rows is _core.fold_csr, labelled, unlabelled)
    parts = []
    with tqdm(total=len(unlabelled), unit="row", desc="MIR", leave=False,
              disable=None) as bar:
        for start in range(0, len(unlabelled), chunk):
            rows = unlabelled[start : start + chunk]
            parts.append(fold_rows(X, labelled, rows, gamma, threshold, n_threads, **context))
            bar.update(len(rows))
    return _core.RowFold.concatenate(parts)


def major_influence_range(X, y, *, gamma, threshold=0.5, n_jobs=None, progress=False):
    """Major Influence Range of every labelled input.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features) or scipy sparse matrix
        Inputs.  float32 and float64 C-ordered arrays are used without a copy; CSR
        is used as it is when its indices are sorted and unique (CSC, COO and
        other sparse formats are converted once).
    y : array-like of shape (n_samples,)
        Class labels, ``-1`` (or ``"-1"`` for string labels) for unlabelled inputs.
    gamma : float or "auto"
        RBF width: ``W_ij = exp(-gamma ||x_i - x_j||^2)``.  ``"auto"`` uses
        :func:`auto_gamma` (one extra pass).  A gamma that makes the result
        degenerate raises a :class:`DegenerateGammaWarning` saying what to try.
    threshold : float, default=0.5
        An unlabelled input counts for its most influential labelled input when
        that input's share is strictly greater than ``threshold``.
    n_jobs : int or None, default=None
        OpenMP threads, with scikit-learn's meaning (None: physical cores or
        ``OMP_NUM_THREADS``; -1: all CPUs).  Results do not depend on it.
    progress : bool, default=False
        Work through the unlabelled inputs in chunks of whole tiles and show a
        progress bar when stderr is a terminal.

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
    auto = isinstance(gamma, str) and gamma == "auto"
    gamma = gamma if auto else check_gamma(gamma)
    threshold = check_threshold(threshold)
    n_threads = effective_n_threads(n_jobs)
    X, is_sparse = check_features(X)
    unlabelled_rows = unlabelled_mask(y, X.shape[0])
    labelled = np.flatnonzero(~unlabelled_rows).astype(np.int64)
    unlabelled = np.flatnonzero(unlabelled_rows).astype(np.int64)
    n_threads = _threads_for_call(X, is_sparse, len(labelled), len(unlabelled), n_threads)
    fold_rows = _core.fold_csr if is_sparse else _core.fold_dense
    with single_threaded_blas():
        if auto:
            gamma = _auto_gamma(fold_rows, X, labelled, unlabelled, threshold, n_threads)
        if progress:
            fold = _fold_with_progress(fold_rows, X, labelled, unlabelled, gamma, threshold,
                                       n_threads)
        else:
            fold = fold_rows(X, labelled, unlabelled, gamma, threshold, n_threads)
    result = _result(fold, labelled, unlabelled, gamma, threshold)
    if not auto:
        _warn_if_degenerate(result)
    return result


def _result(fold, labelled, unlabelled, gamma, threshold):
    share = 1.0 / fold.weight_sum
    counted = share > threshold
    scores = np.bincount(fold.nearest[counted], minlength=len(labelled)).astype(np.int64)
    return MIRResult(
        labelled=labelled,
        scores=scores,
        unlabelled=unlabelled,
        dominant=labelled[fold.nearest],
        share=share,
        distance=fold.d_min,
        gamma=gamma,
        threshold=threshold,
        stage=fold.stage,
    )


class MajorInfluenceRange(BaseEstimator):
    """Estimator form of :func:`major_influence_range`.

    Parameters
    ----------
    gamma : float or "auto", default="auto"
        RBF width; ``"auto"`` is :func:`auto_gamma` (the paper uses 5 for MNIST).
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
    gamma_ : float
        The gamma used (resolved when ``gamma="auto"``).
    result_ : MIRResult
        Everything above in one object.
    """

    def __init__(self, gamma="auto", threshold=0.5, n_jobs=None):
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
        self.gamma_ = result.gamma
        self.n_features_in_ = X.shape[1] if hasattr(X, "shape") else np.asarray(X).shape[1]
        return self
