"""Label propagation and label spreading with an RBF graph that is never stored whole.

Drop-in for scikit-learn's ``LabelPropagation`` / ``LabelSpreading`` with
``kernel="rbf"``: the same parameters, defaults, iterations, stopping rule,
``ConvergenceWarning`` and attributes.  scikit-learn builds the dense n x n
affinity (1.35 GB for 13,007 inputs, 29 GB for 60,000); here it is computed block
by block (``mir_fast._core.graph``): kept in a certified sparse form when that fits
``memory_budget`` (the entries of at least ``2^-60`` times their row's largest,
every sparse row product checked against the dropped mass and recomputed from its
full row when that mass could matter; a row recomputed once is stored deeper, so
that later products settle it from the sparse form), streamed otherwise.

The iteration, with ``Y`` the one-hot labels (zero rows for unlabelled inputs):

* propagation: ``F <- D^-1 W F``, each row divided by its sum, labelled rows reset
  to ``Y``;
* spreading: ``F <- alpha S F + (1 - alpha) Y``, ``S = D0^-1/2 W0 D0^-1/2``;

from ``F = Y``, stopping before an update when ``sum |F - F_previous| < tol`` (at
most ``max_iter`` updates); then rows are normalised and ``transduction_`` is the
first class of largest value.  On float64 data ``label_distributions_`` agree with
scikit-learn's to about 1e-12 of each row (the order of summation differs);
scikit-learn computes the affinity of float32 data in float32, this module always
in float64, so there they agree to float32's precision.
"""

import numbers
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ._core.graph import CrossAffinity, RBFGraph, progress_bar
from ._core.propagation import MEMORY_BUDGET, MODES, GraphOperator
from ._threads import effective_n_threads
from ._validation import check_features, check_sparse_structure

SCIKIT_LEARN_KERNELS = ("knn",)


class _RBFLabelPropagation(ClassifierMixin, BaseEstimator):
    """What both victims share: validation, the iteration, prediction."""

    _variant = None

    def __init__(self, kernel, *, gamma, n_neighbors, alpha, max_iter, tol, n_jobs, graph,
                 memory_budget, verbose):
        self.kernel = kernel
        self.gamma = gamma
        self.n_neighbors = n_neighbors
        self.alpha = alpha
        self.max_iter = max_iter
        self.tol = tol
        self.n_jobs = n_jobs
        self.graph = graph
        self.memory_budget = memory_budget
        self.verbose = verbose

    def _check_params(self):
        if callable(self.kernel) or self.kernel in SCIKIT_LEARN_KERNELS:
            raise ValueError(f"kernel={self.kernel!r} is not offered here: mir_fast builds the "
                             "RBF graph only; use sklearn.semi_supervised."
                             f"{type(self).__name__} for that kernel")
        if self.kernel != "rbf":
            raise ValueError(f"kernel must be 'rbf', got {self.kernel!r}")
        if (isinstance(self.gamma, bool) or not isinstance(self.gamma, numbers.Real)
                or not np.isfinite(self.gamma) or self.gamma < 0):
            raise ValueError(f"gamma must be a finite number >= 0, got {self.gamma!r}")
        if (isinstance(self.max_iter, bool) or not isinstance(self.max_iter, numbers.Integral)
                or self.max_iter < 1):
            raise ValueError(f"max_iter must be an integer >= 1, got {self.max_iter!r}")
        if (isinstance(self.tol, bool) or not isinstance(self.tol, numbers.Real)
                or not self.tol >= 0):
            raise ValueError(f"tol must be a number >= 0, got {self.tol!r}")
        if self.graph not in MODES:
            raise ValueError(f"graph must be one of {MODES}, got {self.graph!r}")
        if self._variant == "spreading" and not (
                isinstance(self.alpha, numbers.Real) and not isinstance(self.alpha, bool)
                and 0.0 < self.alpha < 1.0):
            raise ValueError(f"alpha must be a number in (0, 1), got {self.alpha!r}")

    def fit(self, X, y):
        """Fit on ``X`` with labels ``y`` (``-1`` marks an unlabelled input)."""
        self._check_params()
        _sound_structure(X)
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc"], reset=True)
        check_classification_targets(y)
        self.X_ = X
        X_kernel, _ = check_features(X)
        y = np.asarray(y)
        unlabelled = _unlabelled(y)
        classes = np.unique(y[~unlabelled])
        if len(classes) == 0:
            raise ValueError("y has no labelled input: every entry is -1 (unlabelled)")
        if len(classes) < 2:
            raise ValueError(f"the labelled inputs of y hold one class only ({classes[0]!r}): "
                             "label propagation needs at least two classes")
        self.classes_ = classes
        n_threads = effective_n_threads(self.n_jobs)
        self._graph = RBFGraph(X_kernel, self.gamma, n_threads, verbose=self.verbose)
        operator = GraphOperator(self._graph, self._variant, mode=self.graph,
                                 memory_budget=self.memory_budget)
        Y = np.zeros((len(y), len(classes)))
        labelled_rows = np.flatnonzero(~unlabelled)
        Y[labelled_rows, np.searchsorted(classes, y[labelled_rows])] = 1.0
        distributions, self.n_iter_ = self._iterate(operator, Y, unlabelled)
        self.label_distributions_ = _normalised(distributions)
        self.transduction_ = classes[np.argmax(self.label_distributions_, axis=1)]
        self.graph_ = {**operator.describe(), "stop_certified": self._uncertain_stops == 0}
        return self

    def _iterate(self, operator, Y, unlabelled):
        """scikit-learn's loop: test the change, then update; (F, updates made)."""
        if self._variant == "propagation":
            static = np.where(unlabelled[:, None], 0.0, Y)
            floor = None
        else:
            static = Y * (1.0 - self.alpha)
            floor = static.sum(axis=1) / self.alpha
        F = Y
        previous = np.zeros_like(Y)
        bar = progress_bar(self.verbose, self.max_iter, type(self).__name__)
        self._uncertain_stops = 0
        for n_iter in range(self.max_iter):
            change = np.abs(F - previous).sum()
            if abs(change - self.tol) <= _stop_test_error(F, previous, n_iter):
                self._uncertain_stops += 1
            if change < self.tol:
                break
            previous = F
            product = operator.apply(F, floor)
            if self._variant == "propagation":
                F = np.where(unlabelled[:, None], _normalised(product), static)
            else:
                F = self.alpha * product + static
            bar.update(1)
        else:
            warnings.warn(f"max_iter={self.max_iter} was reached without convergence.",
                          ConvergenceWarning, stacklevel=3)
            n_iter += 1
        bar.close()
        return F, n_iter

    def predict_proba(self, X):
        """Class probabilities of new inputs: their affinities to the training inputs
        times ``label_distributions_``, each row normalised."""
        check_is_fitted(self)
        _sound_structure(X)
        X = validate_data(self, X, accept_sparse=["csr", "csc", "coo", "dok", "bsr", "lil",
                                                  "dia"], reset=False)
        X, _ = check_features(X)
        if (self._graph.is_sparse) != hasattr(X, "tocsr"):
            X = X.toarray() if hasattr(X, "toarray") else X
        sums = CrossAffinity(self._graph).weighted_sums(X, self.label_distributions_)
        return sums / sums.sum(axis=1, keepdims=True)

    def predict(self, X):
        """The class of largest probability for each new input."""
        probabilities = self.predict_proba(X)  # checks that the estimator is fitted
        return self.classes_[np.argmax(probabilities, axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


class LabelPropagation(_RBFLabelPropagation):
    """Label propagation (``F <- D^-1 W F``, labelled rows clamped) on an RBF graph
    never stored whole; scikit-learn's ``LabelPropagation(kernel="rbf")``.

    Parameters
    ----------
    kernel : "rbf"
        The only kernel offered (``"knn"`` and callables: use scikit-learn).
    gamma : float, default=20
        ``W_ij = exp(-gamma ||x_i - x_j||^2)``.
    n_neighbors : int, default=7
        Accepted for compatibility; unused by the RBF kernel (as in scikit-learn).
    max_iter : int, default=1000
    tol : float, default=1e-3
    n_jobs : int or None
        Threads (scikit-learn's meaning).
    graph : {"auto", "sparse", "streaming"}, default="auto"
        How the graph is multiplied: the certified sparse form, or streamed; "auto"
        takes the sparse form when its measured density fits ``memory_budget``.
    memory_budget : int, default=2**30
        Bytes the sparse form may take.
    verbose : bool, default=False
        Progress bars, with the time left, of the graph passes and the iterations
        (each shown once it has taken 2 s).

    Attributes
    ----------
    X_, classes_, label_distributions_, transduction_, n_iter_, n_features_in_
        As scikit-learn's.
    graph_ : dict
        How the graph was used: ``mode``, measured ``density``, ``screen`` (how the
        sparse form's pass ruled entries out on dense data: ``"float32"`` or
        ``"projected (k=...)"``, ``mir_fast._core.screens``; None on sparse data),
        ``stored_entries``, ``products``, ``recomputed_rows`` (sparse row products
        the certificate recomputed), ``screened_rows`` (those of them stored down to
        their depth through the screen, the others recomputed from their full rows),
        ``deepened_rows`` (rows stored deeper: ``mir_fast._core.propagation``), and
        ``stop_certified``: False when some stopping test ``sum |F_t - F_{t-1}| < tol`` was within its error bound of ``tol``,
        so that scikit-learn's own rounding could end the fit one iteration apart.
    """

    _variant = "propagation"

    def __init__(self, kernel="rbf", *, gamma=20, n_neighbors=7, max_iter=1000, tol=1e-3,
                 n_jobs=None, graph="auto", memory_budget=MEMORY_BUDGET, verbose=False):
        super().__init__(kernel, gamma=gamma, n_neighbors=n_neighbors, alpha=None,
                         max_iter=max_iter, tol=tol, n_jobs=n_jobs, graph=graph,
                         memory_budget=memory_budget, verbose=verbose)


class LabelSpreading(_RBFLabelPropagation):
    """Label spreading (``F <- alpha S F + (1 - alpha) Y``) on an RBF graph never
    stored whole; scikit-learn's ``LabelSpreading(kernel="rbf")``.

    Parameters
    ----------
    alpha : float in (0, 1), default=0.2
        Clamping factor: the share of each update taken from the neighbours.
    max_iter : int, default=30

    The other parameters and the attributes are those of :class:`LabelPropagation`.
    """

    _variant = "spreading"

    def __init__(self, kernel="rbf", *, gamma=20, n_neighbors=7, alpha=0.2, max_iter=30,
                 tol=1e-3, n_jobs=None, graph="auto", memory_budget=MEMORY_BUDGET,
                 verbose=False):
        super().__init__(kernel, gamma=gamma, n_neighbors=n_neighbors, alpha=alpha,
                         max_iter=max_iter, tol=tol, n_jobs=n_jobs, graph=graph,
                         memory_budget=memory_budget, verbose=verbose)


def _sound_structure(X):
    """A sparse X's structure checked before scikit-learn's validation, whose compiled
    scipy conversions trust it (a corrupt index makes them write out of bounds)."""
    if sp.issparse(X):
        check_sparse_structure(X)


def _stop_test_error(F, previous, products):
    """A bound on how far ``sum |F - previous|`` may lie from scikit-learn's value: each
    row of both is within ``2^-43 t`` of its row sum of the exact iteration (the
    certificate, ``_core/graph.py``), and each side's dense rounding within ``n 2^-53``."""
    n = F.shape[0]
    per_row = 2.0**-43 * max(products, 1) + 2.0 * n * 2.0**-53
    return per_row * (F.sum() + previous.sum())


def _unlabelled(y):
    """scikit-learn's rule: the entries equal to -1 (none, for string labels)."""
    if y.dtype.kind in "biuf":
        return y == -1
    return np.array([isinstance(v, numbers.Number) and v == -1 for v in y], dtype=bool)


def _normalised(F):
    """Rows divided by their sums (a zero row stays zero), as scikit-learn does."""
    normaliser = F.sum(axis=1, keepdims=True)
    normaliser[normaliser == 0] = 1.0
    return F / normaliser


__all__ = ["LabelPropagation", "LabelSpreading"]
