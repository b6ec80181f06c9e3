"""MIR on a Dask cluster, for data that outgrows one machine.

The labelled rows are gathered once and shared by every worker; the unlabelled
rows are folded block by block by the same Cython kernels, each worker with its own
OpenMP threads; the per-row results come back in row order and make the same
``MIRResult`` as :func:`mir_fast.major_influence_range`, bit for bit: the parts of
the computation that depend on all rows (the dense centring mean, computed over a
fixed grid of row blocks; the CSR kernel's dense head) are computed once and sent
with every block.

Needs ``pip install "mir_fast[dask]"`` (``dask[array,distributed]``).
"""

import contextlib
import uuid
import warnings

import numpy as np
import scipy.sparse as sp

from . import _core
from ._threads import effective_n_threads, single_threaded_blas
from ._validation import check_gamma, check_threshold, unlabelled_mask

#: Unlabelled rows per task when the caller does not say.  Blocks are whole
#: blocks of the seam (``_core.BLOCK_ROWS``): the tiles of one single-machine call.
DEFAULT_BLOCK_ROWS = _core.BLOCK_ROWS


def _require_dask():
    try:
        import dask.array  # noqa: F401
        import distributed  # noqa: F401
    except ImportError as exc:
        raise ImportError("mir_fast.dask needs Dask: pip install \"mir_fast[dask]\" "
                          "(dask[array,distributed])") from exc


def _client(client):
    import distributed

    if client is not None:
        return client
    try:
        return distributed.get_client()
    except ValueError:
        raise ValueError("no Dask client: pass client=distributed.Client(...) (an address "
                         "such as 'tcp://scheduler:8786', or a LocalCluster)") from None


@contextlib.contextmanager
def _data_inside_tasks():
    """Silence Dask's advice to scatter large task arguments: data travel inside
    tasks on purpose here, so that the scheduler can re-run them if a worker dies."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Ll]arge (graph|object)",
                                category=UserWarning)
        yield


def _same(value):
    return value


def _shared_rows(client, rows):
    """A future holding ``rows`` that survives the death of any worker.

    Scattered data cannot be recreated once every worker holding it has died (and
    the scheduler trims broadcast copies down to one), so the rows travel inside a
    task instead: the scheduler keeps the task and runs it again if its result is
    lost.  Workers fetch the rows from each other as their first block needs them.
    """
    with _data_inside_tasks():
        return client.submit(_same, rows, pure=False, key=f"labelled-rows-{uuid.uuid4().hex}")


def _fold_dense_block(block, labelled_rows, context, gamma, threshold, n_jobs):
    """Worker: fold a block of unlabelled rows against the shared labelled rows."""
    stacked = np.concatenate([labelled_rows, np.asarray(block, dtype=labelled_rows.dtype)])
    with single_threaded_blas():
        return _fold_stacked(_core.DenseEngine(stacked), len(labelled_rows), context, gamma,
                             threshold, n_jobs)


def _fold_csr_block(block, labelled_rows, context, gamma, threshold, n_jobs):
    """Worker: fold a CSR block of unlabelled rows against the labelled rows."""
    stacked = sp.vstack([labelled_rows, block], format="csr")
    return _fold_stacked(_core.CSREngine(stacked), labelled_rows.shape[0], context, gamma,
                         threshold, n_jobs)


def _fold_stacked(engine, n_labelled, context, gamma, threshold, n_jobs):
    """Fold the rows after the first ``n_labelled`` of a stacked block against those."""
    n_rows = engine.X.shape[0]
    return engine.fold(np.arange(n_labelled, dtype=np.int64),
                       np.arange(n_labelled, n_rows, dtype=np.int64), gamma, threshold,
                       effective_n_threads(n_jobs), **context)


def _check_dask_array(X):
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D, got a dask array of shape {X.shape}")
    if any(np.isnan(s) for s in X.shape):
        raise ValueError("X has unknown chunk sizes: call X.compute_chunk_sizes() first")
    if X.dtype not in (np.float32, np.float64):
        X = X.astype(np.float64)
    return X


def _dask_array_futures(client, X, labelled, unlabelled, gamma, threshold, n_jobs, block_rows):
    """Futures for a dask array: statistics over a fixed grid of row chunks, then one
    task per block of ``block_rows`` unlabelled rows (gathered from X's chunks)."""
    import dask

    X = _check_dask_array(X)
    statistics_grid = _core.DenseStatistics.BLOCK_ROWS  # chunks start on the grid
    X = client.persist(X.rechunk((8 * statistics_grid, X.shape[1])))
    partials = client.compute([dask.delayed(_core.DenseStatistics.partials)(b)
                               for b in X.to_delayed().ravel()], sync=True)
    statistics = _core.DenseStatistics.combine([p for part in partials for p in part],
                                               X.shape[0])
    if not np.isfinite(statistics.mean).all():
        raise ValueError("X contains NaN or infinity")
    labelled_rows = client.compute(X[labelled], sync=True)
    shared = _shared_rows(client, labelled_rows)
    context = _core.DenseEngine.context_from(statistics, len(unlabelled))
    blocks = X[unlabelled].rechunk((block_rows, X.shape[1])).to_delayed().ravel()
    tasks = [dask.delayed(_fold_dense_block)(block, shared, context, gamma, threshold, n_jobs)
             for block in blocks]
    return client.compute(tasks), (X, shared)  # the caller holds these until done


def _worker_slots(client, n_jobs):
    """One entry per block task that keeps a worker's threads busy: the worker's
    address, repeated as many times as it has room for tasks of ``n_jobs`` threads
    (once when ``n_jobs`` is None or negative: such a task takes the whole machine)."""
    return [address for address, threads in client.nthreads().items()
            for _ in range(max(1, threads // n_jobs) if n_jobs and n_jobs > 0 else 1)]


def _in_memory_parts(client, problem, gamma, threshold, n_jobs, block_rows):
    """Fold an in-memory array or CSR matrix block by block of unlabelled rows.

    Blocks are handed out as the workers free up: each worker thread gets one task,
    and the next block goes to the worker whose task just finished.  The work stays
    balanced whatever the workers' speeds (left to itself the scheduler would queue
    the first blocks on the worker holding the labelled rows), and the client cuts
    the next block while the workers compute.  The worker is a preference, not a
    requirement: if it dies, its task runs elsewhere; each block travels inside its
    task so that the scheduler can send it again.  Returns the parts in row order.
    """
    from distributed import as_completed

    X, labelled, unlabelled = problem.X, problem.labelled, problem.unlabelled
    context = problem.engine.context(labelled, unlabelled)
    shared = _shared_rows(client, X[labelled])
    fold_block = _fold_csr_block if problem.engine.kind == "csr" else _fold_dense_block
    starts = range(0, len(unlabelled), block_rows)
    parts = [None] * len(starts)
    submitted = {}

    def submit(index, worker):
        block = X[unlabelled[starts[index] : starts[index] + block_rows]]
        with _data_inside_tasks():
            future = client.submit(fold_block, block, shared, context, gamma, threshold,
                                   n_jobs, pure=False, workers=[worker],
                                   allow_other_workers=True)
        submitted[future.key] = (index, worker)
        return future

    slots = _worker_slots(client, n_jobs)[: len(starts)]
    running = as_completed([submit(index, worker) for index, worker in enumerate(slots)])
    following = iter(range(len(slots), len(starts)))
    for future in running:
        index, worker = submitted.pop(future.key)
        parts[index] = future.result()  # a failed task raises here
        following_index = next(following, None)
        if following_index is not None:
            running.add(submit(following_index, worker))
    return parts


def major_influence_range(X, y, *, gamma, threshold=0.5, client=None, block_rows=None,
                          n_jobs=1):
    """Major Influence Range computed by a Dask cluster.

    Parameters
    ----------
    X : dask.array.Array, ndarray or scipy sparse matrix of shape (n, d)
        A dask array stays distributed (it is persisted on the workers); an
        in-memory array or sparse matrix is cut into blocks of unlabelled rows.
    y : array-like of shape (n,)
        In memory; ``-1`` marks unlabelled inputs.
    gamma : float
        RBF width (``"auto"`` is not offered here: choose it on a sample with
        :func:`mir_fast.auto_gamma`).
    threshold : float, default=0.5
    client : distributed.Client, optional
        Default: the current client (``distributed.get_client()``).
    block_rows : int, optional
        Unlabelled rows per task, rounded up to a multiple of 16,384 (the default).
    n_jobs : int, default=1
        OpenMP threads per task on the workers (scikit-learn's meaning).

    Returns
    -------
    MIRResult
        Equal, bit for bit, to ``mir_fast.major_influence_range(X, y, ...)``.  If a
        worker dies, its tasks are re-run elsewhere; if that is impossible the call
        raises: a result never holds partial counts.
    """
    _require_dask()
    import dask.array as da

    if isinstance(gamma, str):
        raise ValueError("gamma='auto' is not offered on a cluster: choose gamma with "
                         "mir_fast.auto_gamma on a sample of the data")
    gamma = check_gamma(gamma)
    threshold = check_threshold(threshold)
    block_rows = DEFAULT_BLOCK_ROWS if block_rows is None else int(block_rows)
    if block_rows < 1:
        raise ValueError(f"block_rows must be positive, got {block_rows}")
    block_rows = -(-block_rows // _core.BLOCK_ROWS) * _core.BLOCK_ROWS
    client = _client(client)
    if isinstance(X, da.Array):
        unlabelled_rows = unlabelled_mask(y, X.shape[0])
        labelled = np.flatnonzero(~unlabelled_rows).astype(np.int64)
        unlabelled = np.flatnonzero(unlabelled_rows).astype(np.int64)
        futures, held = _dask_array_futures(client, X, labelled, unlabelled, gamma, threshold,
                                            n_jobs, block_rows)
        parts = client.gather(futures)
        del futures, held
    else:
        problem = _core.prepare(X, y)
        labelled, unlabelled = problem.labelled, problem.unlabelled
        parts = _in_memory_parts(client, problem, gamma, threshold, n_jobs, block_rows)
    fold = _core.RowFold.concatenate(parts) if parts else _core.RowFold.empty(0)
    if len(fold.nearest) != len(unlabelled):
        raise RuntimeError(f"the cluster returned {len(fold.nearest)} rows for "
                           f"{len(unlabelled)} unlabelled inputs")
    result = _core.assemble(fold, labelled, unlabelled, gamma, threshold)
    _core.warn_if_degenerate(result)
    return result
