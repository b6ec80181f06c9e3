"""The ``mir-fast`` command line."""

import argparse
import sys
import time

import numpy as np


def _demo(args):
    from . import major_influence_range, show_config
    from .datasets import DEFAULT_GAMMA, digits17, labelled_split

    X, y, _, _ = digits17(test_size=0)
    gamma = DEFAULT_GAMMA["digits17"] if args.gamma is None else args.gamma
    y_split = labelled_split(y, args.labelled, random_state=args.seed)
    start = time.perf_counter()
    result = major_influence_range(X, y_split, gamma=gamma, n_jobs=args.n_jobs)
    elapsed = time.perf_counter() - start
    print(f"Major Influence Range on scikit-learn's digits, 1 vs 7: {X.shape[0]} images, "
          f"{X.shape[1]} pixels, {len(result.labelled)} labelled ({args.labelled:.0%}, "
          f"seed {args.seed}), gamma={gamma:g}")
    print(f"{int(result.counted.sum())} of {len(result.unlabelled)} unlabelled images have a "
          f"major influencer (share > {result.threshold:g})")
    print(f"\n  {'rank':>4}  {'input':>5}  {'label':>5}  {'MIR':>4}")
    for rank, index in enumerate(result.ranking()[: args.top], start=1):
        mir = result.scores[np.searchsorted(result.labelled, index)]
        print(f"  {rank:>4}  {index:>5}  {y[index]:>5}  {mir:>4}")
    print(f"\ntime: {elapsed * 1e3:.1f} ms")
    show_config()
    return 0


def build_parser():
    parser = argparse.ArgumentParser(
        prog="mir-fast",
        description="Major Influence Range: influence analysis and label poisoning "
        "for graph-based semi-supervised learning.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="MIR on scikit-learn's bundled digits, 1 vs 7")
    demo.add_argument("--labelled", type=float, default=0.25, help="labelled fraction")
    demo.add_argument("--gamma", type=float, default=None, help="RBF width (default 3)")
    demo.add_argument("--seed", type=int, default=2020, help="split seed")
    demo.add_argument("--top", type=int, default=10, help="how many inputs to list")
    demo.add_argument("--n-jobs", type=int, default=None, help="threads")
    demo.set_defaults(run=_demo)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
