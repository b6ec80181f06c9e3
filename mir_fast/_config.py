"""``show_config``: how this installation of mir_fast was built and will run."""

import sys

from . import _openmp
from ._threads import blas_info, effective_n_threads
from ._version import __version__


def show_config(file=None):
    """Print (and return as a dict) version, OpenMP, default threads and BLAS.

    The kernels' GEMMs go through SciPy's BLAS (``scipy.linalg.cython_blas``).
    """
    config = {
        "version": __version__,
        "openmp": _openmp.openmp_enabled(),
        "default_threads": effective_n_threads(None),
        "blas": blas_info(),
    }
    out = file if file is not None else sys.stdout
    print(f"mir_fast {config['version']}", file=out)
    print(f"  OpenMP: {'on' if config['openmp'] else 'off (serial build)'}", file=out)
    print(f"  default threads (n_jobs=None): {config['default_threads']}", file=out)
    for lib in config["blas"]:
        print(
            f"  BLAS: {lib['internal_api']} {lib['version']} ({lib['architecture']}) "
            f"{lib['filepath']}",
            file=out,
        )
    return config
