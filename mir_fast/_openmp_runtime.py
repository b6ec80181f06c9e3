"""Load the OpenMP runtime with passive waiting, unless the user chose otherwise.

libgomp's idle threads spin for a while before they sleep (``OMP_WAIT_POLICY``
unset).  On a machine whose cores are all busy that spinning steals them from
other processes: measured here, two processes making small MIR calls with two
threads each on two cores ran 1,000 calls of 60 rows in 4.0 s instead of 0.2 s;
with ``OMP_WAIT_POLICY=PASSIVE`` in 0.23 s, and large calls are unchanged (a
thread team is woken a few times per call, each time for milliseconds of work).

libgomp reads its settings from the environment once, when it is loaded.  So
``load`` sets ``OMP_WAIT_POLICY=PASSIVE`` only while the first compiled module of
mir_fast (and with it the runtime that module links) is imported, and restores
the environment right after: other processes and libraries see the environment
they had.  A user who set ``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT`` keeps that
setting; a runtime already loaded by another library keeps its own.
"""

import os

USER_SETTINGS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")


def load():
    """Import the compiled OpenMP shim with passive waiting (see the module doc)."""
    if any(name in os.environ for name in USER_SETTINGS):
        from . import _openmp  # noqa: F401
        return
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    try:
        from . import _openmp  # noqa: F401
    finally:
        del os.environ["OMP_WAIT_POLICY"]
