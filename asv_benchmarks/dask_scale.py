"""Dask scale-out check (not in CI): 100,000 x 784 float32, 5% labelled.

Times mir_fast.dask on a cluster of 2 single-threaded worker processes against one
process with 2 threads, interleaved, and prints the medians and their ratio (the
target: the cluster within 25% of one process on this 2-core machine).

    python asv_benchmarks/dask_scale.py [--repeats 5] [--scheduler tcp://host:8786]

With ``--scheduler`` it uses an existing cluster instead of starting a LocalCluster
(then the ratio compares your cluster with this machine).
"""

import argparse
import os
import statistics
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from scale import problem  # noqa: E402

from mir_fast import dask as mir_dask  # noqa: E402
from mir_fast import major_influence_range  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--scheduler", help="address of an existing Dask scheduler")
    args = parser.parse_args()
    import distributed

    warnings.simplefilter("ignore")
    if args.scheduler:
        client = distributed.Client(args.scheduler)
    else:
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                           dashboard_address=None)
        client = distributed.Client(cluster)
    X, y, gamma, _ = problem("dense")
    times = {"one process, 2 threads": [], "dask, 2 workers x 1 thread": []}
    reference = major_influence_range(X, y, gamma=gamma, n_jobs=2)
    result = mir_dask.major_influence_range(X, y, gamma=gamma, client=client, n_jobs=1)
    assert np.array_equal(result.share, reference.share)  # and the same bits
    for _ in range(args.repeats):
        start = time.perf_counter()
        major_influence_range(X, y, gamma=gamma, n_jobs=2)
        times["one process, 2 threads"].append(time.perf_counter() - start)
        start = time.perf_counter()
        mir_dask.major_influence_range(X, y, gamma=gamma, client=client, n_jobs=1)
        times["dask, 2 workers x 1 thread"].append(time.perf_counter() - start)
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, value in medians.items():
        print(f"{name:28s} median {value:6.2f} s  ({', '.join(f'{t:.2f}' for t in times[name])})")
    ratio = medians["dask, 2 workers x 1 thread"] / medians["one process, 2 threads"]
    print(f"dask / one process: {ratio:.2f} (target <= 1.25)")
    client.close()


if __name__ == "__main__":
    main()
