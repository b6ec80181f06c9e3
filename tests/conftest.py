import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))

from mir_fast import _threads  # noqa: E402

#: The library's threshold below which a call runs on one thread.
WORK_PER_THREAD = _threads.WORK_PER_THREAD


@pytest.fixture(autouse=True)
def every_call_uses_the_threads_it_is_given(monkeypatch):
    """Test problems are small and would run on one thread (``threads_for_work``):
    the suite checks that results do not depend on the thread count, so it turns
    the threshold off; the test of the threshold turns it back on."""
    monkeypatch.setattr(_threads, "WORK_PER_THREAD", 0)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
