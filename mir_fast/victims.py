"""The models an attacker poisons: scikit-learn's label propagation and spreading, and
the inductive models trained on the labels they infer.

``label_propagation`` and ``label_spreading`` build scikit-learn estimators with the
settings of the paper's published configuration and a kernel that is computed once
per data set and reused across refits (the reference the tests compare with).
``BatchedVictim`` returns, for many label vectors at once, the same transductive
labels as those estimators' ``transduction_``, on the RBF graph engine.

Why batching is exact.  With a fixed set of labelled inputs both algorithms are
linear in the one-hot label matrix ``Y`` (n x C).  Label spreading iterates
``F <- alpha S F + (1 - alpha) Y`` with ``S = D^-1/2 W D^-1/2`` (zero diagonal).
Label propagation iterates ``F <- P F`` with ``P = D^-1 W``, divides every row by
its sum and clamps the labelled rows back to ``Y``; the row sums of ``P F`` depend
only on which inputs are labelled, not on their classes, so the division is the
same for every label vector sharing that mask.  Many label vectors (columns
side by side) therefore propagate together as one matrix product per iteration.
scikit-learn stops each fit when ``sum |F_t - F_{t-1}| < tol``; the batch applies
that test to each label vector on its own and freezes the ones that stop.
"""

import hashlib
import warnings
from collections import OrderedDict

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics.pairwise import rbf_kernel

from ._threads import blas_threads


class Victim:
    """A kind of victim: how to build it, how it iterates, how results name it.

    Subclasses set ``name`` (the registry key), ``title`` (tables), ``short``
    (figure legends), ``colour`` (figures), ``settings`` (the defaults the
    harness runs it with, stored in every record), ``engine_variant`` (the matrix
    it iterates with) and ``paper_victim`` (the paper's row it is compared with),
    and implement :meth:`estimator` (the scikit-learn estimator, the reference),
    :meth:`clamp` and :meth:`step` (one iteration after the product with the
    graph), which ``BatchedVictim`` uses for many label vectors at once.
    """

    name = title = short = colour = None
    settings = {}
    #: The paper's victim whose published numbers it is compared with.
    paper_victim = None
    #: The matrix of ``mir_fast._core.propagation.GraphOperator`` it iterates with.
    engine_variant = None

    def estimator(self, gamma, kernel=None, **settings):
        raise NotImplementedError

    def clamp(self, one_hot, unlabelled, settings):
        """What the labelled inputs are held to (added back) at every iteration."""
        raise NotImplementedError

    def step(self, product, clamp, unlabelled, settings):
        """``product = graph @ F`` (n x vectors x classes) -> the next ``F``."""
        raise NotImplementedError

    def floor(self, clamp, settings):
        """Per row, what the step adds to a vector's row sum after the product, in
        the product's units (None when nothing: the certificate's ``floor``)."""
        return None


class Propagation(Victim):
    """Label propagation: ``F <- D^-1 W F``, rows normalised, labelled rows clamped."""

    name, title, short, colour = "propagation", "L. propagation", "LP", "black"
    engine_variant = paper_victim = "propagation"
    #: The published configuration: max_iter 5 (a truncated propagation, not the
    #: harmonic solution), tol 1e-3.
    settings = {"max_iter": 5, "tol": 1e-3}

    def estimator(self, gamma, kernel=None, **settings):
        from sklearn.semi_supervised import LabelPropagation

        return LabelPropagation(kernel=kernel or CachedRBFKernel(gamma), **settings)

    def clamp(self, one_hot, unlabelled, settings):
        clamp = one_hot.copy()
        clamp[unlabelled] = 0.0
        return clamp

    def step(self, product, clamp, unlabelled, settings):
        normaliser = product.sum(axis=2, keepdims=True)
        normaliser[normaliser == 0] = 1.0
        product /= normaliser
        product[~unlabelled] = clamp[~unlabelled]
        return product


class Spreading(Victim):
    """Label spreading: ``F <- alpha S F + (1 - alpha) Y``, ``S = D^-1/2 W D^-1/2``,
    as the published code runs it."""

    name, title, short, colour = "spreading", "L. spreading (code)", "LS code", "red"
    engine_variant = paper_victim = "spreading"
    #: The published code's configuration: scikit-learn's alpha 0.2 and the
    #: configuration's max_iter 5, passed to both victims; tol 1e-3.
    settings = {"alpha": 0.2, "max_iter": 5, "tol": 1e-3}

    def estimator(self, gamma, kernel=None, **settings):
        from sklearn.semi_supervised import LabelSpreading

        return LabelSpreading(kernel=kernel or CachedRBFKernel(gamma), **settings)

    def clamp(self, one_hot, unlabelled, settings):
        return one_hot * (1.0 - settings["alpha"])

    def step(self, product, clamp, unlabelled, settings):
        product *= settings["alpha"]
        product += clamp
        return product

    def floor(self, clamp, settings):
        return clamp.sum(axis=2).min(axis=1) / settings["alpha"]


class SpreadingPaperText(Spreading):
    """Label spreading as the paper's text describes it (clamping factor 0.1, 30
    iterations), which the published code does not run."""

    name, title, short, colour = "spreading-text", "L. spreading (text)", "LS text", "orange"
    settings = {"alpha": 0.1, "max_iter": 30, "tol": 1e-3}


#: The registry of victims: name -> ``Victim``.  Adding one is a ``register_victim``
#: call; the harness runs, tabulates and draws every victim registered here.
VICTIMS = {}


def register_victim(victim):
    """Add (or replace) a victim kind; returns it."""
    VICTIMS[victim.name] = victim
    return victim


register_victim(Propagation())
register_victim(Spreading())
register_victim(SpreadingPaperText())


def recorded_victim(name, settings=None):
    """The victim a stored record names: the registered one when its settings match
    (or the record predates stored settings), else a description of what ran (a
    victim since renamed or re-configured keeps its own title in the reports)."""
    known = VICTIMS.get(name)
    if known is not None and settings in (None, known.settings):
        return known
    if not settings:
        raise ValueError(f"records name victim {name!r}, which is not registered and whose "
                         "settings they do not store")
    kind = VICTIMS["spreading" if "alpha" in settings else "propagation"]
    described = ", ".join(f"{k} {v}" for k, v in settings.items() if k != "tol")
    victim = Victim()
    victim.name, victim.settings = name, dict(settings)
    victim.title = f"{kind.title.split(' (')[0]} ({described})"
    victim.short, victim.colour = f"{kind.short.split()[0]} ({described})", "purple"
    victim.engine_variant = victim.paper_victim = kind.engine_variant
    return victim


def victim_kind(variant):
    """The registered ``Victim`` called ``variant``."""
    if variant not in VICTIMS:
        raise ValueError(f"variant must be one of {tuple(VICTIMS)}, got {variant!r}")
    return VICTIMS[variant]



_BATCH_BYTES = 256 * 2**20


def _digest(X):
    """Content digest of a dense or sparse matrix (shape, dtype and values)."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(repr((type(X).__name__, X.shape, X.dtype.str)).encode())
    if sp.issparse(X):
        X = X.tocsr()
        parts = (X.indptr, X.indices, X.data)
    else:
        parts = (X,)
    for part in parts:
        digest.update(np.ascontiguousarray(part).view(np.uint8).ravel())
    return digest.hexdigest()


class CachedRBFKernel:
    """RBF kernel ``exp(-gamma ||x - y||^2)`` that remembers the matrices it computed.

    Passed as ``kernel=`` to scikit-learn's label propagation estimators, so that
    refits on the same inputs (with other labels) skip the n x n kernel.  Entries
    are keyed on a digest of the data's contents, never on shapes alone, and each
    call returns a fresh copy (scikit-learn normalises the matrix in place).

    Parameters
    ----------
    gamma : float
    max_entries : int
        How many kernel matrices to keep (least recently used are dropped).
    """

    def __init__(self, gamma, max_entries=2):
        self.gamma = float(gamma)
        self.max_entries = max_entries
        self._cache = OrderedDict()
        self.misses = 0

    def __call__(self, X, Y):
        key = (_digest(X), _digest(Y))
        if key in self._cache:
            self._cache.move_to_end(key)
        else:
            self.misses += 1
            self._cache[key] = rbf_kernel(X, Y, gamma=self.gamma)
            while len(self._cache) > self.max_entries:
                self._cache.popitem(last=False)
        return self._cache[key].copy()

    def __reduce__(self):  # pickling/cloning carries the width, not the cache
        return (type(self), (self.gamma, self.max_entries))


def make_victim(variant, gamma, kernel=None, **overrides):
    """The scikit-learn estimator of a registered victim, with its default settings
    (``overrides`` replace them) and a cached RBF kernel."""
    victim = victim_kind(variant)
    return victim.estimator(gamma, kernel=kernel, **{**victim.settings, **overrides})


def label_propagation(gamma, kernel=None, **overrides):
    """scikit-learn ``LabelPropagation`` with the paper's settings and a cached RBF kernel."""
    return make_victim("propagation", gamma, kernel=kernel, **overrides)


def label_spreading(gamma, kernel=None, **overrides):
    """scikit-learn ``LabelSpreading`` with the paper's settings and a cached RBF kernel."""
    return make_victim("spreading", gamma, kernel=kernel, **overrides)


class BatchedVictim:
    """Transductive labels of label propagation / spreading for many label vectors.

    ``predict(Y)`` equals ``[make_victim(variant, gamma).fit(X, y).transduction_
    for y in Y]`` (same iterations, same per-fit stopping rule), with the label
    vectors propagated side by side on the RBF graph engine of ``mir_fast._core``
    (built once, label-independent, never the n x n matrix; every product
    certified as in ``mir_fast.semi_supervised``).

    Parameters
    ----------
    X : array of shape (n, d) or sparse matrix
    variant : str
        A registered victim (``VICTIMS``).
    gamma : float
    n_jobs : int, optional
        Threads of the graph engine.
    share : sequence of BatchedVictim, optional
        Victims of the same ``X`` and ``gamma``: the graph operator of one that
        iterates with the same matrix is reused, else the graph of any of them
        (the graph and its sparse form depend on neither the labels nor the
        settings, so one copy serves every victim of a problem).
    **overrides
        ``max_iter``, ``tol`` (and ``alpha`` for spreading) instead of the paper's.
    """

    def __init__(self, X, variant, gamma, n_jobs=None, share=(), **overrides):
        from ._core.graph import RBFGraph
        from ._core.propagation import GraphOperator
        from ._threads import effective_n_threads
        from ._validation import check_features

        self.kind = victim_kind(variant)
        unknown = set(overrides) - set(self.kind.settings)
        if unknown:
            raise TypeError(f"unknown setting(s) for {variant}: {sorted(unknown)}")
        self.variant = variant
        self.settings = {**self.kind.settings, **overrides}
        X, _ = check_features(X)
        share = [other for other in share if other.gamma == float(gamma)
                 and other.n_samples == X.shape[0]]
        same_matrix = [other.operator for other in share
                       if other.kind.engine_variant == self.kind.engine_variant]
        if same_matrix:
            self.operator = same_matrix[0]
        else:
            graph = (share[0].operator.graph if share
                     else RBFGraph(X, gamma, effective_n_threads(n_jobs)))
            self.operator = GraphOperator(graph, self.kind.engine_variant)
        self.n_samples = X.shape[0]
        self.gamma = float(gamma)

    def single_flips(self, y, y_true=None):
        """Every labelled input of ``y`` flipped alone (to the next class), all at once
        on this victim's graph: ``mir_fast.flip_impact``'s result, equal to a
        separate fit per flip."""
        from .impact import impact_on_graph

        y = np.asarray(y)
        return impact_on_graph(self.operator, self._estimator(), y, y == -1, y_true)

    def robustness(self, y, y_true=None, max_flips=None):
        """``mir_fast.flip_robustness`` of the labels ``y`` on this victim's graph."""
        from .robustness import robustness_on_graph

        y = np.asarray(y)
        return robustness_on_graph(self.operator, self._estimator(), y, y == -1, max_flips,
                                   y_true)

    def _estimator(self):
        """The engine's estimator with this victim's settings (its loop and checks)."""
        from .impact import VICTIMS as ESTIMATORS

        estimator = ESTIMATORS[self.kind.engine_variant](gamma=self.gamma, **self.settings)
        estimator._check_params()
        return estimator

    def predict(self, Y):
        """Transductive labels for each row of ``Y`` (-1 marks unlabelled inputs).

        Parameters
        ----------
        Y : array of shape (n_vectors, n) or (n,)

        Returns
        -------
        ndarray of the same shape: every input's inferred label, the labelled
        inputs' included (scikit-learn's ``transduction_``).
        """
        Y = np.asarray(Y)
        single = Y.ndim == 1
        Y = np.atleast_2d(Y)
        if Y.shape[1] != self.n_samples:
            raise ValueError(f"label vectors have {Y.shape[1]} entries, X has "
                             f"{self.n_samples} rows")
        out = np.empty(Y.shape, dtype=Y.dtype)
        groups = {}
        for row, labels in enumerate(Y):
            classes = np.unique(labels[labels != -1])
            if len(classes) == 0:
                raise ValueError(f"label vector {row} has no labelled input")
            key = ((labels == -1).tobytes(), classes.tobytes())
            groups.setdefault(key, (classes, []))[1].append(row)
        for classes, rows in groups.values():
            per_batch = max(1, _BATCH_BYTES // (8 * 4 * self.n_samples * len(classes)))
            for start in range(0, len(rows), per_batch):
                chosen = rows[start : start + per_batch]
                out[chosen] = self._propagate(Y[chosen], classes)
        return out[0] if single else out

    def _propagate(self, Y, classes):
        n_vectors, n = Y.shape
        self.operator.forget_deepened()
        unlabelled = Y[0] == -1
        one_hot = (Y[:, :, np.newaxis] == classes).astype(np.float64)  # (v, n, c)
        F = np.ascontiguousarray(one_hot.transpose(1, 0, 2))  # (n, v, c)
        clamp = self.kind.clamp(F, unlabelled, self.settings)
        previous = np.zeros_like(F)
        active = np.ones(n_vectors, dtype=bool)
        for _ in range(self.settings["max_iter"]):
            change = np.abs(F - previous).sum(axis=(0, 2))
            active &= ~(change < self.settings["tol"])
            if not active.any():
                break
            step = F[:, active] if not active.all() else F
            previous = F.copy()
            floor = self.kind.floor(clamp[:, active], self.settings)
            product = self.operator.apply(step.reshape(n, -1), floor,
                                          group=len(classes)).reshape(step.shape)
            F[:, active] = self.kind.step(product, clamp[:, active], unlabelled, self.settings)
        normaliser = F.sum(axis=2, keepdims=True)
        normaliser[normaliser == 0] = 1.0
        F /= normaliser
        return classes[np.argmax(F, axis=2)].T


def transductive_error(predicted, y_true, unlabelled):
    """Fraction of the unlabelled inputs whose inferred label is wrong.

    ``predicted`` may hold one label vector or one per row.
    """
    predicted = np.asarray(predicted)
    wrong = predicted[..., unlabelled] != np.asarray(y_true)[unlabelled]
    return wrong.mean(axis=-1)


def random_forest(random_state=2020, n_jobs=None):
    """The paper's random forest: 100 trees, Gini, sqrt(#features) per split, seeded."""
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(n_estimators=100, criterion="gini", max_features="sqrt",
                                  random_state=random_state, n_jobs=n_jobs)


def mlp(random_state=2020):
    """The paper's network: 128 ReLU units, a logistic output, binary cross-entropy,
    Adam (lr 1e-3), batches of 32, 5 epochs, no weight penalty, seeded."""
    from sklearn.neural_network import MLPClassifier

    return MLPClassifier(hidden_layer_sizes=(128,), activation="relu", solver="adam",
                         alpha=0.0, learning_rate_init=1e-3, batch_size=32, max_iter=5,
                         shuffle=True, random_state=random_state)


INDUCTIVE_MODELS = {"rf": random_forest, "mlp": mlp}


def inductive_error(model_name, X, labels, X_test, y_test, random_state=2020):
    """Test error of an inductive model trained on all transductive inputs with the
    labels the victim inferred (``labels``: one per row of ``X``).

    The fit runs on one thread, BLAS included: the experiments run fits side by side,
    one per core, and the network's many small products lose most when a BLAS thread
    team competes with them for the cores (the Fashion-MNIST network: 6 s on one
    thread, 37 s with two threads beside a busy core; the same test error either way).
    """
    model = INDUCTIVE_MODELS[model_name](random_state=random_state)
    with warnings.catch_warnings(), blas_threads(1):
        warnings.simplefilter("ignore", ConvergenceWarning)  # 5 epochs by design
        model.fit(X, labels)
        predicted = model.predict(X_test)
    return float(np.mean(predicted != y_test))
