"""Bad input as a hostile user would give it: each case gets a clear error, a capped
behaviour or the right answer, never a crash.  Cases that used to crash the
process run in a subprocess."""

import os
import subprocess
import sys
import textwrap
import traceback
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mir_fast
from mir_fast import (
    DegenerateGammaWarning,
    auto_gamma,
    labels_to_recheck,
    major_influence_range,
    poison_labels,
)
from mir_fast import _openmp, _threads
from mir_fast.datasets import digits17, labelled_split
from test_cli import run as run_cli

PACKAGE = os.path.dirname(mir_fast.__file__)


def run_python(code, env=None):
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=300, env=env)


@pytest.fixture(scope="module")
def digits():
    X, y, _, _ = digits17(test_size=0)
    return X, labelled_split(y, 0.25)


# -- 1. huge n_jobs -------------------------------------------------------------------

@pytest.mark.parametrize("n_jobs", ["100000", "40000", "2**40"])
def test_huge_n_jobs_is_capped_with_a_warning(n_jobs):
    done = run_python(f"""
        import warnings
        import numpy as np
        from mir_fast import major_influence_range
        from mir_fast.datasets import digits17, labelled_split
        X, y, _, _ = digits17(test_size=0)
        y = labelled_split(y, 0.25)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            capped = major_influence_range(X, y, gamma=3.0, n_jobs={n_jobs})
        one = major_influence_range(X, y, gamma=3.0, n_jobs=1)
        assert np.array_equal(capped.dominant, one.dominant)
        assert np.array_equal(capped.share, one.share)
        print([str(w.message) for w in caught])
    """)
    assert done.returncode == 0, done.stderr
    assert "asks for more threads than the" in done.stdout


def test_effective_threads_never_exceed_the_cpus():
    import joblib

    with pytest.warns(UserWarning, match="more threads than"):
        n = _threads.effective_n_threads(10**6)
    assert n == (joblib.cpu_count() if _openmp.openmp_enabled() else 1)
    assert _threads.effective_n_threads(-10**6) == 1


def test_a_build_without_openmp_still_gives_blas_and_workers_n_jobs(monkeypatch):
    import joblib

    monkeypatch.setattr(_openmp, "openmp_enabled", lambda: False)
    available = joblib.cpu_count()
    assert _threads.effective_n_threads(available) == 1  # the kernels: one thread
    assert _threads.requested_threads(available) == available
    assert _threads.requested_threads(-1) == available
    assert _threads.requested_threads(None) == joblib.cpu_count(only_physical_cores=True)
    with pytest.warns(UserWarning, match="more threads than"):
        assert _threads.requested_threads(10**6) == available
    with pytest.warns(UserWarning, match="more threads than"):
        assert _threads.effective_n_threads(10**6) == 1
    with pytest.raises(ValueError, match="n_jobs"):
        _threads.requested_threads(0)


def test_cli_huge_n_jobs(tmp_path, digits):
    X, y = digits
    np.savez(tmp_path / "d.npz", X=X, y=y)
    done = run_cli("score", str(tmp_path / "d.npz"), "--gamma", "3", "--n-jobs", "100000")
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines()[0].startswith("mir-fast: warning: n_jobs=100000 asks")


def test_small_calls_start_no_thread_team(monkeypatch):
    from conftest import WORK_PER_THREAD
    from mir_fast._core import dense

    monkeypatch.setattr(_threads, "WORK_PER_THREAD", WORK_PER_THREAD)
    seen = []
    original = dense.fold_dense

    def spy(*args, **kwargs):
        seen.append(args[5])
        return original(*args, **kwargs)

    monkeypatch.setattr(dense, "fold_dense", spy)
    rng = np.random.RandomState(0)
    y = np.where(rng.rand(60) < 0.25, 0, -1)
    y[:2] = [0, 1]
    major_influence_range(rng.rand(60, 8), y, gamma=1.0, n_jobs=2)
    assert seen == [1]
    assert _threads.threads_for_work(2, 4 * _threads.WORK_PER_THREAD) == 2
    assert _threads.threads_for_work(8, 3 * _threads.WORK_PER_THREAD) == 3
    assert _threads.threads_for_work(2, 0) == 1


def test_openmp_runtime_waits_passively_and_leaves_the_environment_alone():
    """libgomp prints its settings at load with OMP_DISPLAY_ENV=VERBOSE.  An unset
    policy also prints 'PASSIVE' (with a spin count of 300000); only a passive policy
    chosen before loading has a spin count of 0.  The first block is mir_fast's
    runtime; scikit-learn's own (a second block, loaded later) keeps its default."""
    code = """
        import os, mir_fast
        print("left:", os.environ.get("OMP_WAIT_POLICY"))
    """
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}

    def spin_counts(done):
        return [line.split("=")[1].strip() for line in done.stderr.splitlines()
                if line.strip().startswith("GOMP_SPINCOUNT")]

    done = run_python(code, env={**env, "OMP_DISPLAY_ENV": "VERBOSE"})
    assert done.returncode == 0, done.stderr
    assert "left: None" in done.stdout
    if _openmp.openmp_enabled():
        assert spin_counts(done)[0] == "'0'", done.stderr
    chosen = run_python(code, env={**env, "OMP_DISPLAY_ENV": "VERBOSE",
                                   "OMP_WAIT_POLICY": "ACTIVE"})
    assert "left: ACTIVE" in chosen.stdout
    assert "'0'" not in spin_counts(chosen)


# -- 2. structurally invalid sparse input ---------------------------------------------

CORRUPTIONS = {
    "indptr decreasing": ("X.indptr[5] = 10**6", "indptr decreases at row"),
    "indptr past the end": ("X.indptr[-1] = X.nnz + 50", "indptr ends at"),
    "indptr too short": ("X.indptr = X.indptr[:-3]", "indptr has"),
    "indptr not from 0": ("X.indptr = X.indptr + 1", "indptr starts at 1"),
    "column too large": ("X.indices[3] = 10**5", "column index 100000 is out of range"),
    "column negative": ("X.indices[3] = -4", "column index -4 is negative"),
    "csc row too large": ("X = X.tocsc(); X.indices[2] = 10**6", "row index 1000000"),
    "coo column too large": ("X = X.tocoo(); X.col[2] = 10**6", "column index 1000000"),
}


@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
def test_corrupt_sparse_structure_is_a_clear_error(case):
    corrupt, message = CORRUPTIONS[case]
    done = run_python(f"""
        import scipy.sparse as sp
        from mir_fast import major_influence_range
        from mir_fast.datasets import digits17, labelled_split
        X, y, _, _ = digits17(test_size=0)
        X = sp.csr_matrix(X)
        {corrupt}
        try:
            major_influence_range(X, labelled_split(y, 0.25), gamma=3.0)
        except ValueError as exc:
            print("error:", exc)
    """)
    assert done.returncode == 0, done.stderr
    assert "error: X (" in done.stdout and "corrupt" in done.stdout or "index" in done.stdout
    assert message in done.stdout



@pytest.mark.parametrize("corrupt", ["X.indices[3] = -1", "X.indices[3] = 10**5",
                                     "X.indptr[-1] = X.nnz + 50"])
def test_the_victims_check_sparse_structure_before_scikit_learn_converts_it(corrupt):
    """scikit-learn's validation hands a sparse X to scipy's compiled conversions, which
    trust its structure: a complex CSR with a column index of -1 once made them write out
    of bounds (heap corruption, then a crash or a hang far from the cause).  Every
    estimator entry point checks the structure first."""
    done = run_python(f"""
        import numpy as np, scipy.sparse as sp
        from mir_fast import flip_robustness
        from mir_fast.semi_supervised import LabelPropagation, LabelSpreading
        from mir_fast.datasets import digits17, labelled_split
        X0, y, _, _ = digits17(test_size=0)
        y = labelled_split(y, 0.25)
        fitted = LabelPropagation(gamma=3.0).fit(X0, y)
        calls = {{
            "propagation fit": lambda X: LabelPropagation(gamma=3.0).fit(X, y),
            "spreading fit": lambda X: LabelSpreading(gamma=3.0).fit(X, y),
            "predict_proba": lambda X: fitted.predict_proba(X),
            "flip_robustness": lambda X: flip_robustness(X, y, gamma=3.0, max_flips=1),
        }}
        for name, call in calls.items():
            for dtype in (np.float64, np.complex128):
                X = sp.csr_matrix(X0.astype(dtype))
                {corrupt}
                try:
                    call(X)
                    print(name, "no error")
                except ValueError as exc:
                    print(name, "error:", exc)
    """)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 8, done.stdout
    assert all("error: X (CSR)" in line for line in lines), done.stdout


# -- 3. gamma="auto" on data of any scale ----------------------------------------------

def test_auto_gamma_is_scale_free(digits):
    X, y = digits
    gamma = auto_gamma(X, y)
    assert auto_gamma(X * 2.0**-266, y) == gamma * 2.0**532  # exact: a power of two
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not one divide-by-zero or degeneracy warning
        small = major_influence_range(X * 1e-80, y, gamma="auto")
    reference = major_influence_range(X, y, gamma="auto")
    assert np.isfinite(small.gamma)
    assert small.gamma * 1e-160 == pytest.approx(gamma, rel=1e-9)
    assert np.array_equal(small.scores, reference.scores)
    assert np.isfinite(small.share).all() and (small.share <= 1).all()


def test_data_whose_squares_underflow_is_refused(digits):
    X, y = digits
    for gamma in ("auto", 1.0):
        with pytest.raises(ValueError, match="too small.*underflow"):
            major_influence_range(X * 1e-170, y, gamma=gamma)


def test_auto_gamma_warns_when_every_point_is_the_same():
    y = np.full(30, -1)
    y[:8] = [0, 1] * 4
    with pytest.warns(DegenerateGammaWarning, match="same point"):
        result = major_influence_range(np.ones((30, 5)), y, gamma="auto")
    assert np.isfinite(result.gamma) and result.scores.sum() == 0


def test_auto_gamma_warns_when_most_inputs_are_exact_ties():
    # every unlabelled input sits halfway between two labelled ones
    X = np.array([[0.0], [2.0]] + [[1.0]] * 20)
    y = np.array([0, 1] + [-1] * 20)
    with pytest.warns(DegenerateGammaWarning, match="exactly tied"):
        gamma = auto_gamma(X, y)
    assert np.isfinite(gamma)


def test_auto_gamma_warns_when_the_threshold_is_below_one_over_the_labelled():
    rng = np.random.RandomState(0)
    y = np.full(40, -1)
    y[:4] = [0, 1, 0, 1]
    with pytest.warns(DegenerateGammaWarning, match="more than half"):
        gamma = auto_gamma(rng.rand(40, 3), y, threshold=0.1)
    assert np.isfinite(gamma)


# -- 4. labelled_split ----------------------------------------------------------------

def test_labelled_split_keeps_float_labels():
    y = np.array([0.5, 1.5, 0.5, 1.5, 2.5, 0.5])
    split = labelled_split(y, 0.5, random_state=0)
    kept = split != -1
    assert split.dtype == np.float64 and kept.sum() == 3
    assert np.array_equal(split[kept], y[kept])


@pytest.mark.parametrize("y, fraction, message", [
    (np.zeros((6, 2)), 0.5, "1-D"),
    (np.array(3), 0.5, "1-D"),
    (np.arange(6), "0.5", "a number"),
    (np.arange(6), None, "a number"),
    (np.arange(6), 1.5, r"\(0, 1\]"),
    (np.array([0.0, np.nan, 1.0]), 0.5, "NaN"),
])
def test_labelled_split_says_what_is_wrong(y, fraction, message):
    with pytest.raises(ValueError, match=message):
        labelled_split(y, fraction)


# -- 5. messages of the command line --------------------------------------------------

@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad")
    rng = np.random.RandomState(0)
    (folder / "adir").mkdir()
    (folder / "garbage.npz").write_bytes(rng.bytes(3000))
    (folder / "garbage.npy").write_bytes(rng.bytes(3000))
    np.save(folder / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (folder / "empty.svm").write_text("")
    X = rng.rand(40, 3)
    np.savetxt(folder / "table.csv", np.c_[X, rng.randint(0, 2, 40)], delimiter=",")
    return folder


@pytest.mark.parametrize("args, message", [
    (["adir"], "adir is a directory, not a data file"),
    (["garbage.npz"], "garbage.npz is not a NumPy .npz file"),
    (["garbage.npy", "--labels", "garbage.npy"], "garbage.npy is not a NumPy .npy file"),
    (["objects.npy", "--labels", "objects.npy"], "holds an array of Python objects"),
    (["empty.svm"], "empty.svm holds no inputs"),
    (["table.csv", "--label-column", "0"], "non-integer numbers"),
])
def test_cli_says_what_is_wrong_with_a_file(bad_files, args, message):
    done = run_cli("score", *args, cwd=bad_files)
    assert done.returncode == 2
    assert done.stderr.strip() == f"mir-fast: error: {done.stderr.strip()[17:]}"
    assert message in done.stderr
    assert "pickle" not in done.stderr and "unsafely" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_cli_usage_errors_are_one_line():
    for args in (["score"], ["bogus"], ["score", "x.csv", "--bogus"], ["demo", "--gamma", "x"]):
        done = run_cli(*args)
        assert done.returncode == 2
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("mir-fast"), done.stderr
        assert "usage:" not in done.stderr


def test_cli_debug_after_the_subcommand_and_warnings_as_one_line(bad_files):
    done = run_cli("score", "table.csv", "--gamma", "-1", "--debug", cwd=bad_files)
    assert done.returncode == 1 and "Traceback" in done.stderr
    done = run_cli("score", "table.csv", "--gamma", "1e-9", "--labelled-fraction", "0.5",
                   cwd=bad_files)
    assert done.returncode == 0
    warning = [line for line in done.stderr.splitlines() if "warning" in line]
    assert warning and warning[0].startswith("mir-fast: warning: gamma=1e-09 is so small")
    assert "warnings.warn" not in done.stderr and ".py:" not in done.stderr


def test_cli_demo_takes_gamma_auto():
    done = run_cli("demo", "--gamma", "auto", "--top", "3")
    assert done.returncode == 0, done.stderr
    assert "gamma=2.66" in done.stdout


# -- the input layer, fuzzed -----------------------------------------------------------

#: The modules that check user input: every error must be raised by one of them
#: (the estimators check their input with scikit-learn's own validation first).
VALIDATION_FILES = {"_validation.py", "_threads.py", "influence.py", "attack.py", "split.py",
                    "semi_supervised.py", "impact.py", "robustness.py"}
SKLEARN_UTILS = os.path.dirname(__import__("sklearn.utils.validation").utils.validation.__file__)
SKLEARN_VALIDATION_FILES = {"validation.py", "multiclass.py"}


def raised_by_validation(frame):
    folder, name = os.path.split(frame.filename)
    if folder.startswith(PACKAGE):
        return name in VALIDATION_FILES
    return folder == SKLEARN_UTILS and name in SKLEARN_VALIDATION_FILES

GOOD_DTYPES = [np.float64, np.float32, np.int64, np.uint8]
BAD_DTYPES = [np.float16, np.int8, np.bool_, np.complex128, object, "U3"]
SPECIAL = [0.0, -0.0, 1.0, -1.0, 1e-300, 1e300, 1e-160, np.nan, np.inf, -np.inf, 3.5]


def mostly(draw, good, bad):
    """Draw from ``good`` nine times in ten, so that most examples get past the
    first check and reach the next ones (and the kernels)."""
    return draw(good if draw(st.integers(0, 9)) else bad)


@st.composite
def features(draw):
    n = mostly(draw, st.integers(2, 12), st.integers(0, 1))
    d = mostly(draw, st.integers(1, 4), st.just(0))
    shape = mostly(draw, st.just((n, d)), st.sampled_from([(n,), (n, d, 1), ()]))
    finite = st.floats(-10, 10, allow_subnormal=False)
    element = finite if draw(st.integers(0, 9)) else st.one_of(finite, st.sampled_from(SPECIAL))
    values = draw(st.lists(element, min_size=int(np.prod(shape)), max_size=int(np.prod(shape))))
    X = np.array(values, dtype=np.float64).reshape(shape)
    dtype = mostly(draw, st.sampled_from(GOOD_DTYPES), st.sampled_from(BAD_DTYPES))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        X = X.astype(dtype)
    kind = draw(st.sampled_from(["array", "list", "csr", "csc", "coo", "corrupt-csr"]))
    if kind == "list":
        return X.tolist()
    if kind == "array" or X.ndim != 2 or dtype in (object, "U3", np.float16):
        return X
    matrix = sp.csr_matrix(X) if kind != "coo" else sp.coo_matrix(X)
    if kind == "csc":
        matrix = matrix.tocsc()
    if kind == "corrupt-csr" and matrix.nnz:
        field = draw(st.sampled_from(["indptr", "indices"]))
        array = getattr(matrix, field)
        array[draw(st.integers(0, len(array) - 1))] = draw(st.integers(-5, 10**6))
    return matrix


@st.composite
def labels(draw, n):
    kind = mostly(draw, st.sampled_from(["int", "float", "str"]), st.just("bad"))
    if kind == "bad":
        return draw(st.sampled_from([np.zeros((n, 2)), np.zeros(n + 1), 7, None,
                                     np.full(n, np.nan), np.full(n, -1)]))
    values = draw(st.lists(st.integers(-1, 2), min_size=n, max_size=n))
    if kind == "float":
        return np.array(values, dtype=float) + draw(st.sampled_from([0.0, 0.0, 0.5]))
    if kind == "str":
        return np.array([str(v) for v in values])
    return np.array(values)


def mostly_strategy(good, bad):
    return st.integers(0, 9).flatmap(lambda k: good if k else bad)


GAMMAS = mostly_strategy(st.one_of(st.floats(0.01, 100), st.just("auto")),
                         st.one_of(st.floats(allow_nan=True, allow_infinity=True),
                                   st.sampled_from(["5", None, True, 0, -1, 1e308, 1e-308])))
THRESHOLDS = mostly_strategy(st.floats(0.05, 0.95),
                             st.one_of(st.floats(-1, 2), st.sampled_from([np.nan, "0.5", None])))
BUDGETS = mostly_strategy(st.one_of(st.integers(0, 4), st.floats(0.01, 1)),
                          st.one_of(st.integers(-3, 30), st.floats(-1, 2),
                                    st.sampled_from(["3", None])))
N_JOBS = mostly_strategy(st.sampled_from([None, 1, 2, -1]),
                         st.sampled_from([-100, 0, 10**6, 2**40, 1.5, True, "2"]))


ALPHAS = mostly_strategy(st.floats(0.05, 0.95), st.sampled_from([0.0, 1.0, -1.0, "0.2", None]))
MAX_ITERS = mostly_strategy(st.integers(1, 20), st.sampled_from([0, -1, 2.5, "5", None]))


def _fit(victim):
    from mir_fast import semi_supervised

    estimator = {"propagation": semi_supervised.LabelPropagation,
                 "spreading": semi_supervised.LabelSpreading}[victim]
    return lambda X, y, **kwargs: estimator(**kwargs).fit(X, y)


MAX_FLIPS = mostly_strategy(st.sampled_from([None, 1, 3]),
                            st.sampled_from([0, -2, 1.5, True, "3"]))


def _robustness(X, y, **kwargs):
    from mir_fast import flip_robustness

    victim = "spreading" if "alpha" in kwargs else "propagation"
    return flip_robustness(X, y, victim=victim, **kwargs)


def _impact(X, y, **kwargs):
    from mir_fast import flip_impact

    victim = "spreading" if "alpha" in kwargs else "propagation"
    return flip_impact(X, y, victim=victim, flip_to="next", **kwargs)


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_the_input_layer_never_crashes(data):
    X = data.draw(features())
    n = len(X) if isinstance(X, list) else (X.shape[0] if np.ndim(X) else 0)
    y = data.draw(labels(n))
    call = data.draw(st.sampled_from(["mir", "poison", "recheck", "propagation", "spreading",
                                      "impact", "robustness"]))
    kwargs = dict(gamma=data.draw(GAMMAS), n_jobs=data.draw(N_JOBS))
    if call in ("mir", "poison", "recheck"):
        kwargs["threshold"] = data.draw(THRESHOLDS)
    if call in ("poison", "recheck"):
        kwargs["budget"] = data.draw(BUDGETS)
    if call in ("spreading", "impact") or (call == "robustness" and data.draw(st.booleans())):
        kwargs["alpha"] = data.draw(ALPHAS)
    if call in ("propagation", "spreading", "impact", "robustness"):
        kwargs["max_iter"] = data.draw(MAX_ITERS)
    if call == "robustness":
        kwargs["max_flips"] = data.draw(MAX_FLIPS)
    function = {"mir": major_influence_range, "poison": poison_labels,
                "recheck": labels_to_recheck, "impact": _impact, "robustness": _robustness,
                "propagation": _fit("propagation"), "spreading": _fit("spreading")}[call]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            function(X, y, **kwargs)
        except ValueError as exc:
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            assert raised_by_validation(frame), (frame, exc)
            assert str(exc)
