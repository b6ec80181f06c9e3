"""Scale run (not in CI): dense 100,000 x 784 and CSR 200,000 x 47,236 (RCV1-like),
5% labelled, 2 threads.  Prints time and the peak resident memory the call adds
next to the input's size.  Usage: python asv_benchmarks/scale.py [dense|csr ...]
"""

import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402

from mir_fast import major_influence_range  # noqa: E402
from mir_fast.datasets import clustered_pixels, labelled_split, rcv1_like  # noqa: E402


def problem(kind):
    if kind == "dense":
        X = clustered_pixels(100_000, 784, random_state=0)
        gamma = 1.18  # about gamma="auto" for clustered_pixels at 784 features
        size = X.nbytes
    else:
        X = rcv1_like(n_samples=200_000, random_state=0)
        gamma = 20.0
        size = X.data.nbytes + X.indices.nbytes + X.indptr.nbytes
    n = X.shape[0]
    return X, labelled_split(np.zeros(n, dtype=np.int64), 0.05, 2020), gamma, size


def main(kinds):
    warnings.simplefilter("ignore")
    for kind in kinds:
        X, y, gamma, size = problem(kind)
        major_influence_range(X[:500], y[:500], gamma=gamma)  # imports, thread pools
        before = compare._rss_bytes()
        compare._reset_peak_rss()
        start = time.perf_counter()
        result = major_influence_range(X, y, gamma=gamma)
        seconds = time.perf_counter() - start
        added = (compare._peak_rss_bytes() - before) / 1e6
        print(f"{kind}: {X.shape[0]} x {X.shape[1]} {X.dtype}, {len(result.labelled)} labelled, "
              f"gamma={gamma:g}: {seconds:.2f} s, input {size / 1e6:.0f} MB, "
              f"call added {added:.0f} MB, stages {np.bincount(result.stage).tolist()}")


if __name__ == "__main__":
    main(sys.argv[1:] or ["dense", "csr"])
