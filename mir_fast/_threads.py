"""Thread counts: scikit-learn's ``n_jobs`` meaning, and BLAS kept single-threaded.

The kernels parallelise with OpenMP over unlabelled rows. The dense kernel calls
BLAS from inside the parallel region, so BLAS itself must run on one thread there:
otherwise the two thread pools oversubscribe the cores and results could depend on
BLAS's own splitting. (The CSR kernel calls no BLAS.)

Two limits keep the thread team no larger than it can be useful, neither of which
changes a bit of any result (the kernels' results do not depend on the thread
count):

* a count is never above the CPUs this process may use (``joblib.cpu_count``:
  affinity and cgroup quotas included); a larger ``n_jobs`` is capped with a
  warning, as threadpoolctl caps its limits, and every per-thread buffer is sized
  by the capped count;
* a call too small to pay for a thread team runs on ``threads_for_work(n, work)``
  threads: one thread per ``WORK_PER_THREAD`` pair-features (one labelled x
  unlabelled pair times the features, the unit of the kernels' work).  Waking a
  team costs tens of microseconds, and far more when another process holds the
  other cores (libgomp's idle threads spin before they sleep).
"""

import numbers
import os
import warnings
from contextlib import contextmanager
from functools import lru_cache

import joblib

from . import _openmp


def effective_n_threads(n_jobs):
    """Translate ``n_jobs`` into a number of OpenMP threads for the kernels.

    ``None`` means all physical cores, or ``OMP_NUM_THREADS`` when it is set;
    ``-1`` means every logical CPU and ``-k`` all but ``k - 1`` of them; a positive
    integer is taken as it is up to the number of CPUs this process may use (more
    threads than CPUs only slow the kernels down): a larger one is capped, with a
    ``UserWarning``.  A build without OpenMP always uses one thread (the count is
    still checked, and capped with the warning).

    Raises
    ------
    ValueError
        If ``n_jobs`` is 0 or not an integer.
    """
    n_threads = _count(n_jobs)
    return n_threads if _openmp.openmp_enabled() else 1


def requested_threads(n_jobs):
    """``n_jobs`` as a count for pools other than the kernels' (BLAS, worker
    processes): the count :func:`effective_n_threads` gives in a build with OpenMP,
    whether this build has OpenMP or not (without it, ``None`` means the physical
    cores).

    Raises
    ------
    ValueError
        If ``n_jobs`` is 0 or not an integer.
    """
    return _count(n_jobs)


def _count(n_jobs):
    if n_jobs is not None and (
        isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral)
    ):
        raise ValueError(f"n_jobs must be None or a non-zero integer, got {n_jobs!r}")
    if n_jobs == 0:
        raise ValueError("n_jobs == 0 has no meaning; use None, a positive count or -1")
    available = joblib.cpu_count()
    if n_jobs is None:
        physical = joblib.cpu_count(only_physical_cores=True)
        if not _openmp.openmp_enabled():
            return max(1, physical)
        max_threads = _openmp.max_threads()
        if os.environ.get("OMP_NUM_THREADS"):
            return _capped(max_threads, available, "OMP_NUM_THREADS")
        return max(1, min(max_threads, physical))
    if n_jobs < 0:
        return max(1, available + 1 + int(n_jobs))
    return _capped(int(n_jobs), available, f"n_jobs={n_jobs}")


def _capped(n_threads, available, asked_by):
    if n_threads <= available:
        return n_threads
    warnings.warn(f"{asked_by} asks for more threads than the {available} CPU(s) this "
                  f"process may use; using {available}", UserWarning, stacklevel=5)
    return available


#: Pair-features (labelled x unlabelled pairs times features) that make one thread's
#: share of a call worth waking a thread team for.  Measured here (passive waiting,
#: see ``_openmp_runtime``): 2 threads are slower than 1 up to ~1.5e6 of work
#: (0.45 vs 0.63 ms), even at ~1.2e7 and 1.6x faster at ~5e7.
WORK_PER_THREAD = 1 << 22


def threads_for_work(n_threads, work):
    """At most ``n_threads``, and one per ``WORK_PER_THREAD`` units of ``work``
    (``WORK_PER_THREAD = 0``: always ``n_threads``; the test suite sets it so)."""
    if WORK_PER_THREAD <= 0:
        return n_threads
    return int(max(1, min(n_threads, work // WORK_PER_THREAD)))


@lru_cache(maxsize=1)
def _controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


@contextmanager
def single_threaded_blas():
    """Limit every loaded BLAS to one thread for the duration of the block (the
    kernels' calls: the libraries loaded at the first call, found once)."""
    with _controller().limit(limits=1, user_api="blas"):
        yield


@contextmanager
def blas_threads(n_threads):
    """Limit every BLAS loaded so far to ``n_threads`` threads for the duration of the
    block (long runs such as the experiments: the libraries are looked up afresh, so
    one loaded since the first kernel call is limited too)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=n_threads, user_api="blas"):
        yield


def blas_info():
    """Describe the BLAS libraries loaded in this process (threadpoolctl's view)."""
    return [
        {key: info.get(key) for key in ("internal_api", "version", "architecture", "filepath")}
        for info in _controller().info()
        if info.get("user_api") == "blas"
    ]
