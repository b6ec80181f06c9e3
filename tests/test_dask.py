"""mir_fast.dask on a real LocalCluster (2 worker processes): the same bits as one
process, for dask arrays, in-memory arrays and CSR, and with a worker killed mid-run."""

import os
import signal
import sys
import threading
import time

import dask.array as dask_array
import distributed
import numpy as np
import pytest

from mir_fast import dask as mir_dask
from mir_fast import major_influence_range
from mir_fast.datasets import clustered_pixels, rcv1_like

FIELDS = ("labelled", "scores", "unlabelled", "dominant", "share", "distance")


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
    with distributed.Client(cluster) as client:
        yield client
    cluster.close()


def _labels(n, fraction=0.05, seed=0):
    rng = np.random.RandomState(seed)
    y = np.full(n, -1)
    labelled = rng.random_sample(n) < fraction
    y[labelled] = rng.randint(0, 3, labelled.sum())
    return y


def _assert_identical(result, expected):
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(result, name), getattr(expected, name),
                                      err_msg=name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_in_memory_dense_is_bit_identical(client, dtype):
    X = clustered_pixels(40000, 24, random_state=1).astype(dtype)  # 3 blocks of rows
    y = _labels(len(X))
    expected = major_influence_range(X, y, gamma=6.0)
    assert expected.scores.sum() > 1000
    _assert_identical(mir_dask.major_influence_range(X, y, gamma=6.0, client=client),
                      expected)


def test_the_local_exact_path_is_bit_identical(client):
    """Workers plan the local path (``mir_fast/_core/local.py``) from the call's row
    count and the labelled rows alone: the same plan, the same bits."""
    rng = np.random.default_rng(3)
    Z = rng.random((40000, 4)) * 4.0
    X = Z @ (rng.normal(size=(4, 384)) / np.sqrt(384)) + 0.1 * rng.normal(size=(40000, 384)) / 20
    y = _labels(len(X))
    expected = major_influence_range(X, y, gamma=50.0)
    assert np.mean(expected.stage == expected.stage.max()) > 0.9  # the path took the rows
    _assert_identical(mir_dask.major_influence_range(X, y, gamma=50.0, client=client),
                      expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dask_array_is_bit_identical(client, dtype):
    X = clustered_pixels(36000, 24, random_state=2).astype(dtype)
    y = _labels(len(X), seed=1)
    expected = major_influence_range(X, y, gamma=6.0)
    chunked = dask_array.from_array(X, chunks=(7000, 12))  # chunks off every grid
    _assert_identical(mir_dask.major_influence_range(chunked, y, gamma=6.0, client=client),
                      expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_csr_is_bit_identical(client, dtype):
    X = rcv1_like(36000, 4000, nnz_per_row=25, dtype=dtype, random_state=3)
    y = _labels(X.shape[0], seed=2)
    expected = major_influence_range(X, y, gamma=8.0)
    assert expected.scores.sum() > 100
    _assert_identical(mir_dask.major_influence_range(X, y, gamma=8.0, client=client),
                      expected)


def _workers_folding_a_block(client, caller, timeout):
    """Addresses of the workers running a block task, as soon as there is one, while
    the calling thread is still waiting for its result ([] if it stopped first)."""
    deadline = time.time() + timeout
    while time.time() < deadline and caller.is_alive():
        busy = [address for address, keys in client.processing().items()
                if any("_fold_" in str(key) for key in keys)]
        if busy:
            return busy
        time.sleep(0.02)
    return []


def test_a_worker_killed_mid_run_changes_nothing(client):
    X = clustered_pixels(6 * 16384, 160, random_state=4)
    y = _labels(len(X), fraction=0.04, seed=3)
    expected = major_influence_range(X, y, gamma=0.5)
    outcome = {}

    def run():
        try:
            outcome["result"] = mir_dask.major_influence_range(X, y, gamma=0.5, client=client)
        except Exception as exc:  # noqa: BLE001 - failing loudly is allowed, not silently
            outcome["error"] = exc

    worker = threading.Thread(target=run)
    worker.start()
    busy = _workers_folding_a_block(client, worker, timeout=120)
    if not busy:
        worker.join(timeout=300)
        pytest.fail("no block task was seen running before the call ended "
                    f"(outcome: {outcome!r}); nothing was killed")
    holders = [address for address, keys in client.has_what().items()
               if any(str(key).startswith("labelled-rows-") for key in keys)]
    busy.sort(key=lambda address: address not in holders)  # kill a holder of the shared rows
    pid = client.run(os.getpid, workers=busy[:1])[busy[0]]
    os.kill(pid, signal.SIGKILL)
    worker.join(timeout=300)
    assert not worker.is_alive()
    assert busy[0] not in client.scheduler_info()["workers"]  # it really died
    if "error" in outcome:  # loud failure: acceptable, but say what it was
        pytest.fail(f"the run failed after a worker died: {outcome['error']!r}")
    _assert_identical(outcome["result"], expected)
    client.wait_for_workers(2, timeout=60)


def test_bad_requests_say_what_is_wrong(client):
    X, y = np.zeros((10, 2)), np.array([0, 1] + [-1] * 8)
    with pytest.raises(ValueError, match="auto_gamma"):
        mir_dask.major_influence_range(X, y, gamma="auto", client=client)
    with pytest.raises(ValueError, match="gamma"):
        mir_dask.major_influence_range(X, y, gamma=-1.0, client=client)
    with pytest.raises(ValueError, match="block_rows"):
        mir_dask.major_influence_range(X, y, gamma=1.0, client=client, block_rows=0)
    with pytest.raises(ValueError, match="2-D"):
        mir_dask.major_influence_range(dask_array.zeros(10), y, gamma=1.0, client=client)


def test_without_a_client_or_without_dask(monkeypatch):
    X, y = np.zeros((10, 2)), np.array([0, 1] + [-1] * 8)
    monkeypatch.setattr(distributed, "get_client",
                        lambda: (_ for _ in ()).throw(ValueError("none")))
    with pytest.raises(ValueError, match="no Dask client"):
        mir_dask.major_influence_range(X, y, gamma=1.0)
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ImportError, match=r"pip install \"mir_fast\[dask\]\""):
        mir_dask.major_influence_range(X, y, gamma=1.0)


def test_blocks_in_flight_fill_each_worker_once():
    class FakeClient:
        def nthreads(self):
            return {"tcp://a": 4, "tcp://b": 1}

    slots = mir_dask._worker_slots(FakeClient(), 2)
    assert sorted(slots) == ["tcp://a", "tcp://a", "tcp://b"]  # 4 // 2 tasks on a, at least 1 on b
    for whole_machine in (None, -1):
        assert sorted(mir_dask._worker_slots(FakeClient(), whole_machine)) == ["tcp://a", "tcp://b"]
