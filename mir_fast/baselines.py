"""The state of the art that MIR is compared with: Liu et al.'s label flipping attacks
(NeurIPS 2019, "A Unified Framework for Data Poisoning Attack to Graph-based
Semi-supervised Learning"), re-implemented from the math, and random flipping.

Binary labels are mapped to ``{-1, +1}``.  With RBF weights ``W`` (no self loops) and
degrees ``D``, the harmonic (converged label propagation) prediction of the
unlabelled inputs is ``f_u = K y_l`` with ``K = (D_uu - W_uu)^-1 W_ul``.  A flip
vector ``d in {+1, -1}^l`` (at most ``c`` entries -1) poisons ``y_l`` into
``y_l * d``; the attacks maximise the damage

    damage(d) = 1/2 || sign(K (y_l * d)) - y_u ||^2,

where ``y_u`` is the true labels (supervised attacker) or the clean predictions
``sign(K y_l)`` (unsupervised attacker).
"""

import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import scipy.linalg
from sklearn.metrics.pairwise import rbf_kernel
from sklearn.utils import check_random_state

#: Below this reciprocal condition number (LAPACK's 1-norm estimate) K is reported
#: as ill-conditioned: its entries may have lost every significant digit.
ILL_CONDITIONED_RCOND = 1e-12

_CANDIDATE_BYTES = 64 * 2**20


class IllConditionedWarning(UserWarning):
    """The harmonic operator's linear system is numerically singular."""


@dataclass
class HarmonicOperator:
    """``K = (D_uu - W_uu)^-1 W_ul`` and how trustworthy it is.

    Attributes
    ----------
    K : ndarray of shape (u, l)
    labelled, unlabelled : ndarray of int
        Row indices of X for the columns and rows of K.
    rcond : float
        Reciprocal condition number (1-norm estimate) of the equilibrated system
        ``I - D_uu^-1/2 W_uu D_uu^-1/2``.
    isolated : ndarray of int
        Unlabelled rows whose every weight underflowed (their row of K is 0).
    """

    K: np.ndarray
    labelled: np.ndarray
    unlabelled: np.ndarray
    rcond: float
    isolated: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.intp))

    @property
    def ill_conditioned(self):
        return not self.rcond >= ILL_CONDITIONED_RCOND

    def predict(self, y_signed_labelled):
        """``sign(K y_l)`` for labels in {-1, +1}."""
        return np.sign(self.K @ y_signed_labelled)


def harmonic_operator(X, y, gamma):
    """Form Liu et al.'s ``K = (D_uu - W_uu)^-1 W_ul`` by a stable solve.

    The system is equilibrated, ``(I - D^-1/2 W_uu D^-1/2) Z = D^-1/2 W_ul`` and
    ``K = D^-1/2 Z``, and solved by Cholesky (LU with partial pivoting if rounding
    makes it indefinite); no inverse is formed.  The affinity is formed a block of
    rows at a time and the system factored in place: the peak is one u x u matrix
    (on MNIST 1 vs 7 at 5% labelled, 1.2 GB where the whole u x n affinity, its
    blocks and the factor's copy had taken 4.4 GB).  The RBF weights of tight
    clusters span hundreds of orders of magnitude, which is what made the published
    explicit inverse meaningless; equilibration removes that scale, and what conditioning remains is estimated and, when it is
    poor, reported with an ``IllConditionedWarning``.

    Parameters
    ----------
    X : array of shape (n, d) or sparse matrix
    y : array of shape (n,)
        -1 marks unlabelled inputs.
    gamma : float

    Returns
    -------
    HarmonicOperator
    """
    y = np.asarray(y)
    labelled = np.flatnonzero(y != -1)
    unlabelled = np.flatnonzero(y == -1)
    if len(labelled) == 0 or len(unlabelled) == 0:
        raise ValueError("the harmonic operator needs labelled and unlabelled inputs")
    A, B, scale, isolated = _harmonic_system(X, labelled, unlabelled, gamma)
    anorm = _largest_column_sum(A)
    try:  # factored in place (A is Fortran-ordered): the u x u matrix is held once
        factor = scipy.linalg.cho_factor(A, lower=True, overwrite_a=True, check_finite=False)
        indefinite = False
    except np.linalg.LinAlgError:
        indefinite = True
    if indefinite:  # rounding made it indefinite: LU with partial pivoting, on A formed again
        del A
        A, B, _, _ = _harmonic_system(X, labelled, unlabelled, gamma)
        factor = scipy.linalg.lu_factor(A, overwrite_a=True, check_finite=False)
        rcond, _ = scipy.linalg.lapack.dgecon(factor[0], anorm)
        Z = scipy.linalg.lu_solve(factor, B, check_finite=False)
    else:
        rcond, _ = scipy.linalg.lapack.dpocon(factor[0], anorm, uplo="L")
        Z = scipy.linalg.cho_solve(factor, B, overwrite_b=True, check_finite=False)
    K = scale[:, None] * Z
    operator = HarmonicOperator(K, labelled, unlabelled, float(rcond),
                                unlabelled[isolated])
    if operator.ill_conditioned:
        warnings.warn(f"the harmonic system is ill-conditioned (rcond {rcond:.1e}): K may "
                      "be inaccurate; check its predictions against label propagation",
                      IllConditionedWarning, stacklevel=2)
    return operator


#: Unlabelled rows of the affinity formed at a time by ``_harmonic_system``.
_SYSTEM_BLOCK_ROWS = 1024


def _harmonic_system(X, labelled, unlabelled, gamma):
    """``(A, B, scale, isolated)``: ``A = I - S W_uu S`` and ``B = S W_ul`` with
    ``S = D_uu^-1/2`` (0 for an isolated input), the affinity formed
    ``_SYSTEM_BLOCK_ROWS`` unlabelled rows at a time (never all u x n of it)."""
    u = len(unlabelled)
    A = np.empty((u, u), order="F")  # LAPACK's order: factored without a copy
    B = np.empty((u, len(labelled)))
    scale = np.zeros(u)
    for start in range(0, u, _SYSTEM_BLOCK_ROWS):
        rows = slice(start, start + _SYSTEM_BLOCK_ROWS)
        W = rbf_kernel(X[unlabelled[rows]], X, gamma=gamma)  # block x n
        W[np.arange(W.shape[0]), unlabelled[rows]] = 0.0  # no self loops
        degree = W.sum(axis=1)
        scale[rows] = np.where(degree == 0.0, 0.0,
                               1.0 / np.sqrt(np.where(degree == 0.0, 1.0, degree)))
        A[rows] = W[:, unlabelled]
        A[rows] *= scale[rows, None]
        B[rows] = scale[rows, None] * W[:, labelled]
    A *= scale[None, :]
    np.negative(A, out=A)
    A[np.diag_indices_from(A)] += 1.0
    return A, B, scale, scale == 0.0


def _largest_column_sum(A):
    """``max_j sum_i |A_ij|`` (the 1-norm), a block of rows at a time."""
    sums = np.zeros(A.shape[1])
    for start in range(0, A.shape[0], _SYSTEM_BLOCK_ROWS):
        sums += np.abs(A[start : start + _SYSTEM_BLOCK_ROWS]).sum(axis=0)
    return float(sums.max())


def damage(K, y_l, d, y_u):
    """``1/2 || sign(K (y_l * d)) - y_u ||^2`` (labels and flips in {-1, +1})."""
    residual = np.sign(K @ (y_l * d)) - y_u
    return 0.5 * float(residual @ residual)


def greedy_flips(K, y_l, y_u, budget):
    """Liu et al.'s greedy search: flip, one at a time, the label that raises the damage most.

    Each round tries every unflipped label ``j`` and keeps the first one with the
    largest strictly positive gain; the search stops after ``budget`` flips or when
    no flip raises the damage.  ``f = K (y_l * d)`` is kept up to date (a flip of
    ``j`` adds ``-2 y_j d_j K[:, j]``), so a round costs O(u l), not O(u l^2).

    Returns
    -------
    ndarray of int
        Positions in ``y_l`` of the flipped labels, in the order chosen.
    """
    K = np.asarray(K, dtype=np.float64)
    y_l = np.asarray(y_l, dtype=np.float64)
    y_u = np.asarray(y_u, dtype=np.float64)
    u, n_labelled = K.shape
    d = np.ones(n_labelled)
    f = K @ y_l
    current = 0.5 * float(((np.sign(f) - y_u) ** 2).sum())
    chosen = []
    columns_per_chunk = max(1, _CANDIDATE_BYTES // (8 * max(u, 1)))
    for _ in range(min(budget, n_labelled)):
        best_gain, best = 0.0, -1
        for start in range(0, n_labelled, columns_per_chunk):
            stop = min(start + columns_per_chunk, n_labelled)
            trial = f[:, None] - K[:, start:stop] * (2.0 * y_l[start:stop] * d[start:stop])
            trial_damage = 0.5 * ((np.sign(trial) - y_u[:, None]) ** 2).sum(axis=0)
            gains = trial_damage - current
            gains[d[start:stop] < 0] = -np.inf
            j = int(np.argmax(gains))
            if gains[j] > best_gain:
                best_gain, best = float(gains[j]), start + j
        if best < 0:
            break
        f -= 2.0 * y_l[best] * K[:, best]
        d[best] = -1.0
        current += best_gain
        chosen.append(best)
    return np.array(chosen, dtype=np.intp)


#: Hyperparameters of the probabilistic method in Liu et al.'s own code (AdvSSL).
PROBABILISTIC_DEFAULTS = {"lam": 0.01, "tau": 0.2, "T": 10.0, "lr": 1e-6, "n_iter": 1500,
                          "surrogate": "tanh"}
#: The settings of the CAIN 2022 replication package's copy of the method: fewer, larger
#: steps, a stronger penalty, a warmer relaxation and the linear surrogate ``K (y_l z)``.
CAIN_PACKAGE_PROBABILISTIC = {"lam": 0.1, "tau": 0.5, "lr": 1e-5, "n_iter": 100,
                              "surrogate": "linear"}
SURROGATES = ("tanh", "linear")


def probabilistic_alpha(K, y_l, y_u, *, lam=0.01, tau=0.2, T=10.0, lr=1e-6, n_iter=1500,
                        surrogate="tanh", random_state=None):
    """Flip probabilities of Liu et al.'s probabilistic (relaxed) attack.

    Each flip is a Bernoulli with probability ``alpha_j`` (start 0.5), relaxed by a
    Concrete sample with independent logistic noise per coordinate,
    ``eps_j = log(log U1 / log U2)``:

        z_j = -tanh((logit(alpha_j) + eps_j) / (2 tau))          (z_j -> -1: flip)

    and gradient descent on
    ``L(alpha) = -1/2 ||h - y_u||^2 + lam/2 ||alpha||^2`` with the surrogate
    prediction ``h = tanh(T K (y_l * z))`` (``surrogate="tanh"``, Liu et al.'s) or
    ``h = K (y_l * z)`` (``"linear"``, the CAIN package's; ``T`` unused), and
    ``alpha`` clipped to [1e-3, 1 - 1e-3] after each step.

    Returns
    -------
    ndarray of shape (l,)
    """
    if surrogate not in SURROGATES:
        raise ValueError(f"surrogate must be one of {SURROGATES}, got {surrogate!r}")
    rng = check_random_state(random_state)
    K = np.asarray(K, dtype=np.float64)
    y_l = np.asarray(y_l, dtype=np.float64)
    y_u = np.asarray(y_u, dtype=np.float64)
    alpha = np.full(K.shape[1], 0.5)
    for _ in range(n_iter):
        u1 = rng.random_sample(len(alpha))
        u2 = rng.random_sample(len(alpha))
        eps = np.log(np.log(u1) / np.log(u2))
        _, gradient = relaxed_objective(K, y_l, y_u, alpha, eps, lam=lam, tau=tau, T=T,
                                        surrogate=surrogate)
        alpha = np.clip(alpha - lr * gradient, 1e-3, 1.0 - 1e-3)
    return alpha


def relaxed_objective(K, y_l, y_u, alpha, eps, *, lam, tau, T, surrogate="tanh"):
    """The probabilistic attack's loss ``L(alpha)`` for noise ``eps`` and its gradient.

    With ``a = (logit(alpha) + eps) / tau``, ``z = -tanh(a / 2)`` and the surrogate
    ``h = tanh(T K (y_l * z))`` (or ``h = K (y_l * z)`` when linear):

        dL/dz     = -T y_l * K^T ((h - y_u) * (1 - h^2))   (linear: -y_l * K^T (h - y_u))
        dz/dalpha = -(1 - z^2) / (2 tau alpha (1 - alpha))
        dL/dalpha = dL/dz * dz/dalpha + lam * alpha

    Returns
    -------
    loss : float
    gradient : ndarray of shape (l,)
    """
    z = -np.tanh(0.5 * (np.log(alpha / (1.0 - alpha)) + eps) / tau)
    if surrogate == "linear":
        h = K @ (y_l * z)
        residual = h - y_u
        dL_dz = -y_l * (K.T @ residual)
    else:
        h = np.tanh(T * (K @ (y_l * z)))
        residual = h - y_u
        dL_dz = -T * y_l * (K.T @ (residual * (1.0 - h * h)))
    loss = -0.5 * float(residual @ residual) + 0.5 * lam * float(alpha @ alpha)
    dz_dalpha = -0.5 * (1.0 - z * z) / (tau * alpha * (1.0 - alpha))
    return loss, dL_dz * dz_dalpha + lam * alpha


def probabilistic_flips(K, y_l, y_u, budget, random_state=None, **hyper):
    """Up to ``budget`` labels with the largest flip probability above 0.5.

    ``hyper`` overrides ``PROBABILISTIC_DEFAULTS`` (see ``probabilistic_alpha``).
    """
    settings = {**PROBABILISTIC_DEFAULTS, **hyper}
    alpha = probabilistic_alpha(K, y_l, y_u, random_state=random_state, **settings)
    order = np.argsort(-alpha, kind="stable")
    return order[alpha[order] > 0.5][:budget].astype(np.intp)


@dataclass
class Flips:
    """What an attack chose: ``indices`` (rows of X) and the seconds it took."""

    indices: np.ndarray
    seconds: float
    method: str
    details: dict = field(default_factory=dict)


def _signed(y, classes):
    return np.where(np.asarray(y) == classes[1], 1.0, -1.0)


def liu_attack(X, y, budget, gamma, *, method="greedy", y_true=None, random_state=None,
               operator=None, **hyper):
    """Choose labels to flip with Liu et al.'s greedy or probabilistic method.

    Parameters
    ----------
    X : array or sparse matrix of shape (n, d)
    y : array of shape (n,)
        Two classes; -1 marks unlabelled inputs.
    budget : int
        At most this many flips.
    gamma : float
        RBF width of the graph.
    method : {"greedy", "probabilistic"}
    y_true : array of shape (n,), optional
        True labels of every input: the supervised attack.  Without it the attack is
        unsupervised (the clean harmonic predictions stand in for the truth).
    random_state : int, optional
        Seed of the probabilistic method's noise.
    operator : HarmonicOperator, optional
        K for this ``X``, ``y`` and ``gamma`` if already formed (then ``seconds``
        covers the search only).

    Returns
    -------
    Flips
        Rows of X to flip; ``seconds`` covers forming K and the search.
        ``details`` holds the operator's ``rcond`` and whether the attack was supervised.
    """
    if method not in ("greedy", "probabilistic"):
        raise ValueError(f"method must be 'greedy' or 'probabilistic', got {method!r}")
    y = np.asarray(y)
    classes = np.unique(y[y != -1])
    if len(classes) != 2:
        raise ValueError(f"Liu et al.'s attacks are binary; the labels have {len(classes)} "
                         "classes")
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", IllConditionedWarning)
        operator = operator or harmonic_operator(X, y, gamma)
    y_l = _signed(y[operator.labelled], classes)
    clean = operator.predict(y_l)
    y_u = clean if y_true is None else _signed(np.asarray(y_true)[operator.unlabelled], classes)
    if method == "greedy":
        positions = greedy_flips(operator.K, y_l, y_u, budget)
    else:
        positions = probabilistic_flips(operator.K, y_l, y_u, budget,
                                        random_state=random_state, **hyper)
    seconds = time.perf_counter() - start
    for warning in caught:
        warnings.warn(warning.message, warning.category, stacklevel=2)
    return Flips(operator.labelled[positions], seconds, method,
                 {"rcond": operator.rcond, "supervised": y_true is not None})


def random_flips(y, budget, random_state=None):
    """``budget`` labelled inputs drawn uniformly without replacement (seeded), in the
    order drawn: every prefix is itself a uniform sample, so the harness takes the
    smaller budgets as prefixes of the largest."""
    start = time.perf_counter()
    labelled = np.flatnonzero(np.asarray(y) != -1)
    chosen = check_random_state(random_state).choice(labelled, size=min(budget, len(labelled)),
                                                     replace=False)
    return Flips(chosen, time.perf_counter() - start, "random")
