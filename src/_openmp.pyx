"""What the compiled kernels were built with: OpenMP or not, and its thread count."""

from _openmp_shim cimport MIR_OPENMP_ENABLED, mir_omp_max_threads


def openmp_enabled():
    """Return True when the kernels were compiled with OpenMP."""
    return bool(MIR_OPENMP_ENABLED)


def max_threads():
    """Return ``omp_get_max_threads()`` (1 in a build without OpenMP)."""
    return mir_omp_max_threads()
