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

import numpy as np
from sklearn.base import BaseEstimator

from . import _core
from ._result import DegenerateGammaWarning, MIRResult  # noqa: F401 - public here
from ._threads import effective_n_threads, single_threaded_blas
from ._validation import check_gamma, check_threshold


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
    threshold = check_threshold(threshold)
    n_threads = effective_n_threads(n_jobs)
    problem = _core.prepare(X, y)
    with single_threaded_blas():
        return _auto_gamma(problem, threshold, n_threads)


def _auto_gamma(problem, threshold, n_threads):
    X, labelled, unlabelled = problem.X, problem.labelled, problem.unlabelled
    if len(unlabelled) == 0 or len(labelled) == 1:
        return 1.0
    n_threads = problem.threads(n_threads, min(len(unlabelled), AUTO_GAMMA_SAMPLE))
    sample = unlabelled
    if len(unlabelled) > AUTO_GAMMA_SAMPLE:
        rng = np.random.RandomState(0)
        sample = np.sort(rng.choice(unlabelled, AUTO_GAMMA_SAMPLE, replace=False))

    def median_share(log_gamma):
        fold = problem.fold(sample, scale * 2.0**log_gamma, threshold, n_threads)
        return float(np.median(1.0 / fold.weight_sum))

    # Work in units of the data's own squared distances: gamma = scale * 2^t, with
    # 1 / scale the median positive nearest distance.  The search is then the same
    # for X and c X, and no intermediate value overflows.
    d_min = problem.fold(sample, 1.0, threshold, n_threads).d_min
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


def _fold_with_progress(problem, gamma, threshold, n_threads):
    """The fold of every unlabelled row in blocks, with a tqdm bar (on a terminal only)."""
    from tqdm.auto import tqdm

    with tqdm(total=len(problem.unlabelled), unit="row", desc="MIR", leave=False,
              disable=None) as bar:
        return problem.fold_in_blocks(gamma, threshold, n_threads, on_block=bar.update)


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
    in higher precision (see ``mir_fast._core._certificate``).  Memory beyond the input and the
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
    result = mir_of_problem(_core.prepare(X, y), gamma, threshold, n_threads, progress)
    if not auto:
        _core.warn_if_degenerate(result)
    return result


def mir_of_problem(problem, gamma, threshold, n_threads, progress=False):
    """:func:`major_influence_range` of an already validated ``_core.Problem``
    (``gamma`` checked or ``"auto"``, ``threshold`` checked, ``n_threads`` resolved),
    for callers that validated the input themselves.  It does not warn: the caller
    calls ``_core.warn_if_degenerate`` so that the warning points at its user."""
    auto = isinstance(gamma, str)
    with single_threaded_blas():
        if auto:
            gamma = _auto_gamma(problem, threshold, n_threads)
        n_threads = problem.threads(n_threads)
        if progress:
            fold = _fold_with_progress(problem, gamma, threshold, n_threads)
        else:
            fold = problem.fold(problem.unlabelled, gamma, threshold, n_threads)
    return problem.result(fold, gamma, threshold)


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

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags
