"""Thread counts: scikit-learn's ``n_jobs`` meaning, and BLAS kept single-threaded.

The kernels parallelise with OpenMP over unlabelled rows. The dense kernel calls
BLAS from inside the parallel region, so BLAS itself must run on one thread there:
otherwise the two thread pools oversubscribe the cores and results could depend on
BLAS's own splitting. (The CSR kernel calls no BLAS.)
"""

import numbers
import os
from contextlib import contextmanager
from functools import lru_cache

import joblib

from . import _openmp


def effective_n_threads(n_jobs):
    """Translate ``n_jobs`` into a number of OpenMP threads.

    ``None`` means all physical cores, or ``OMP_NUM_THREADS`` when it is set;
    ``-1`` means every logical CPU and ``-k`` all but ``k - 1`` of them; a positive
    integer is taken as it is.  A build without OpenMP always uses one thread.

    Raises
    ------
    ValueError
        If ``n_jobs`` is 0 or not an integer.
    """
    if n_jobs is not None and (
        isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral)
    ):
        raise ValueError(f"n_jobs must be None or a non-zero integer, got {n_jobs!r}")
    if n_jobs == 0:
        raise ValueError("n_jobs == 0 has no meaning; use None, a positive count or -1")
    if not _openmp.openmp_enabled():
        return 1
    if n_jobs is None:
        max_threads = _openmp.max_threads()
        if os.environ.get("OMP_NUM_THREADS"):
            return max_threads
        return max(1, min(max_threads, joblib.cpu_count(only_physical_cores=True)))
    if n_jobs < 0:
        return max(1, joblib.cpu_count() + 1 + int(n_jobs))
    return int(n_jobs)


@lru_cache(maxsize=1)
def _controller():
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


@contextmanager
def single_threaded_blas():
    """Limit every loaded BLAS to one thread for the duration of the block."""
    with _controller().limit(limits=1, user_api="blas"):
        yield


def blas_info():
    """Describe the BLAS libraries loaded in this process (threadpoolctl's view)."""
    return [
        {key: info.get(key) for key in ("internal_api", "version", "architecture", "filepath")}
        for info in _controller().info()
        if info.get("user_api") == "blas"
    ]
