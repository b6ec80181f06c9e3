"""What the tests of the thread limits look at: the thread count of every loaded BLAS."""

from threadpoolctl import threadpool_info


def blas_thread_counts():
    """The set of thread counts the loaded BLAS libraries are set to (threadpoolctl)."""
    return {info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"}
