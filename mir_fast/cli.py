"""The ``mir-fast`` command line."""

import argparse
import os
import sys
import time
import warnings

import numpy as np


def _demo(args):
    from . import major_influence_range, show_config
    from .datasets import describe, digits17, labelled_split

    X, y, _, _ = digits17(test_size=0)
    gamma = describe("digits17").gamma if args.gamma is None else args.gamma
    y_split = labelled_split(y, args.labelled, random_state=args.seed)
    start = time.perf_counter()
    result = major_influence_range(X, y_split, gamma=gamma, n_jobs=args.n_jobs)
    elapsed = time.perf_counter() - start
    print(f"Major Influence Range on scikit-learn's digits, 1 vs 7: {X.shape[0]} images, "
          f"{X.shape[1]} pixels, {len(result.labelled)} labelled ({args.labelled:.0%}, "
          f"seed {args.seed}), gamma={result.gamma:g}")
    print(f"{int(result.counted.sum())} of {len(result.unlabelled)} unlabelled images have a "
          f"major influencer (share > {result.threshold:g})")
    print(f"\n  {'rank':>4}  {'input':>5}  {'label':>5}  {'MIR':>4}")
    for rank, index in enumerate(result.ranking()[: args.top], start=1):
        mir = result.scores[np.searchsorted(result.labelled, index)]
        print(f"  {rank:>4}  {index:>5}  {y[index]:>5}  {mir:>4}")
    print(f"\ntime: {elapsed * 1e3:.1f} ms")
    show_config()
    return 0


def _example_data(args):
    import csv

    from sklearn.datasets import dump_svmlight_file

    from .datasets import digits17, labelled_split

    X, y_true, _, _ = digits17(test_size=0)
    y = labelled_split(y_true, args.labelled, random_state=args.seed)
    os.makedirs(args.folder, exist_ok=True)
    paths = [os.path.join(args.folder, f"data.{ext}") for ext in ("npz", "csv", "svm")]
    np.savez(paths[0], X=X, y=y, y_true=y_true)
    with open(paths[1], "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([f"pixel{i}" for i in range(X.shape[1])] + ["label"])
        writer.writerows([*row, "" if label == -1 else label] for row, label in zip(X, y))
    dump_svmlight_file(X, y, paths[2])
    for path in paths:
        print(path)
    _note(args, f"scikit-learn's digits, 1 vs 7: {len(y)} images, {int((y != -1).sum())} "
                f"labelled ({args.labelled:.0%}, seed {args.seed}), the rest -1 (or an empty "
                "CSV cell)")
    return 0


def _gamma(text):
    if text == "auto":
        return text
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"gamma must be a number or 'auto', got {text!r}")


def _budget(text):
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"budget must be an int or a fraction, got {text!r}")


def _load(args):
    from ._io import read_dataset

    data = read_dataset(args.input, labels=args.labels, fmt=args.format,
                        label_column=args.label_column, unlabelled_value=args.unlabelled_value)
    if args.labelled_fraction is not None:
        data = data.keep_labelled_fraction(args.labelled_fraction, args.seed)
    return data


def _score_records(data, result):
    order = result.order()
    return [
        dict(rank=rank, index=int(result.labelled[p]), label=data.labels[result.labelled[p]],
             mir=int(result.scores[p]))
        for rank, p in enumerate(order, start=1)
    ]


def _score(args):
    from . import major_influence_range

    data = _load(args)
    _, y = data.codes()
    result = major_influence_range(data.X, y, gamma=args.gamma, threshold=args.threshold,
                                   n_jobs=args.n_jobs, progress=not args.no_progress)
    _note(args, f"gamma={result.gamma:.6g}; {int(result.counted.sum())} of "
                f"{len(result.unlabelled)} unlabelled inputs have a major influencer")
    _write(args, _score_records(data, result), ["rank", "index", "label", "mir"])
    return 0


def _attack(args):
    from .attack import poison_labels

    data = _load(args)
    classes, y = data.codes()
    y_poisoned, flipped = poison_labels(data.X, y, budget=args.budget, gamma=args.gamma,
                                        flip_to=args.flip_to, threshold=args.threshold,
                                        random_state=args.seed, n_jobs=args.n_jobs)
    labels = np.asarray(data.labels).astype(object)
    poisoned = labels.copy()
    poisoned[flipped] = classes[y_poisoned[flipped]]
    changed = np.zeros(len(labels), dtype=bool)
    changed[flipped] = True
    _note(args, f"flipped {len(flipped)} labels")
    records = [dict(index=i, label=labels[i], poisoned_label=poisoned[i],
                    flipped=bool(changed[i])) for i in range(len(labels))]
    _write(args, records, ["index", "label", "poisoned_label", "flipped"])
    return 0


def _audit(args):
    from . import major_influence_range
    from .attack import flagged_for_recheck

    data = _load(args)
    _, y = data.codes()
    result = major_influence_range(data.X, y, gamma=args.gamma, threshold=args.threshold,
                                   n_jobs=args.n_jobs, progress=not args.no_progress)
    flagged = flagged_for_recheck(result, args.budget)
    records = _score_records(data, result)[: len(flagged)]  # the same order
    dominated = result.unlabelled[result.counted]
    owner = result.dominant[result.counted]
    for record in records:
        record["dominated"] = dominated[owner == record["index"]].tolist()
    _note(args, f"{len(records)} labels to re-check first")
    if args.report:
        from ._audit_report import write_audit_report
        from ._figures import require_figure_library

        require_figure_library("the report's thumbnails")
        _note(args, f"report: {write_audit_report(args.report, records, data.X, args.input)}")
    _write(args, records, ["rank", "index", "label", "mir", "dominated"])
    return 0


def _impact(args):
    from .impact import flip_impact

    if args.gamma == "auto":
        raise ValueError("impact needs the victim's RBF width: give --gamma (a number)")
    data = _load(args)
    classes, y = data.codes()
    settings = {k: v for k, v in (("max_iter", args.max_iter), ("tol", args.tol),
                                  ("alpha", args.alpha)) if v is not None}
    impact = flip_impact(data.X, y, victim=args.victim, gamma=args.gamma,
                         flip_to=args.flip_to, n_jobs=args.n_jobs, **settings)
    position = {index: k for k, index in enumerate(impact.labelled)}
    records = [dict(rank=rank, index=int(index), label=data.labels[index],
                    flip_to=classes[impact.flip_to[position[index]]],
                    changed=int(impact.changed[position[index]]),
                    n_iter=int(impact.n_iter[position[index]]))
               for rank, index in enumerate(impact.ranking(), start=1)]
    _note(args, f"{args.victim}: flipping one label changes up to "
                f"{int(impact.changed.max(initial=0))} of {int((y == -1).sum())} "
                f"unlabelled predictions (clean fit: {impact.clean_n_iter} iterations)")
    _write(args, records, ["rank", "index", "label", "flip_to", "changed", "n_iter"])
    return 0


def _robustness(args):
    from ._io import read_dataset
    from ._figures import certified_curves, require_figure_library
    from .robustness import flip_robustness
    from .victims import VICTIMS

    if args.gamma == "auto":
        raise ValueError("robustness needs the victims' RBF width: give --gamma (a number)")
    if args.max_flips < 1:
        raise ValueError(f"--max-flips must be at least 1, got {args.max_flips}")
    require_figure_library("the robustness figure (--plot)")
    data = read_dataset(args.input, labels=args.labels, fmt=args.format,
                        label_column=args.label_column, unlabelled_value=args.unlabelled_value)
    known = ~data.unlabelled  # inputs whose true label the file gives
    if args.labelled_fraction is not None:
        data = data.keep_labelled_fraction(args.labelled_fraction, args.seed)
    classes, y = data.codes()
    truth = None
    truth_file = _true_labels(args.input, len(y))
    if truth_file is not None:  # an .npz holding y_true (mir-fast example-data writes one)
        truth = np.full(len(y), -1, dtype=np.int64)
        in_classes = np.isin(truth_file, classes)
        truth[in_classes] = np.searchsorted(classes, truth_file[in_classes])
    elif known[data.unlabelled].all():  # every unlabelled input's label was hidden
        truth = np.full(len(y), -1, dtype=np.int64)
        labels = np.asarray(data.labels)
        in_classes = np.isin(labels, classes)
        truth[in_classes] = np.searchsorted(classes, labels[in_classes])
    victims = ["propagation", "spreading"] if args.victim == "both" else [args.victim]
    settings = {k: v for k, v in (("max_iter", args.max_iter), ("tol", args.tol))
                if v is not None}
    records, curves, ks = [], {}, list(range(0, args.max_flips + 1))
    for name in victims:
        extra = dict(settings, **({"alpha": args.alpha} if name == "spreading"
                                  and args.alpha is not None else {}))
        result = flip_robustness(data.X, y, victim=name, gamma=args.gamma,
                                 max_flips=args.max_flips, y_true=truth,
                                 n_jobs=args.n_jobs, **extra)
        for k in ks[1:]:
            records.append(dict(
                victim=name, k=k, radius_k=int((result.radius == k).sum()),
                unchanged=round(result.certified_fraction(k), 6),
                accurate=None if truth is None else round(result.certified_accuracy(k), 6)))
        shares = [result.certified_fraction(k) if truth is None
                  else result.certified_accuracy(k) for k in ks]
        victim = VICTIMS[name]
        curves[victim.title] = (ks, shares, victim.colour, "-")
        _note(args, f"{name}: {len(result.radius)} unlabelled inputs, "
                    f"{int((result.radius == -1).sum())} that no flips change, "
                    f"{int((result.radius > args.max_flips).sum())} that need more than "
                    f"{args.max_flips}; radii exact for the clean fit's {result.n_iter} "
                    f"updates, and up to {result.stable_flips} also where flips move "
                    "scikit-learn's stopping test")
    ylabel = ("certified accuracy (%)" if truth is not None
              else "predictions unchanged by any k flips (%)")
    certified_curves(curves, args.plot, f"{os.path.basename(args.input)}: certified "
                     "robustness to label flips", ylabel)
    _note(args, f"figure: {args.plot}")
    _write(args, records, ["victim", "k", "radius_k", "unchanged", "accurate"])
    return 0


def _true_labels(path, n):
    """The ``y_true`` array of an ``.npz`` input, when it holds one of length n."""
    if not str(path).lower().endswith(".npz"):
        return None
    try:
        with np.load(path, allow_pickle=False) as archive:
            if "y_true" not in archive.files:
                return None
            y_true = archive["y_true"]
    except (OSError, ValueError):
        return None
    if y_true.shape != (n,):
        raise ValueError(f"y_true in {path} has shape {y_true.shape}, expected ({n},)")
    return y_true


def _reproduce(args):
    from .experiments import reproduce

    outcome = reproduce(args.question, args.dataset, labelled=args.labelled,
                        budgets=args.budget, repeats=args.repeats,
                        timing_repeats=args.timing_repeats, seed=args.seed, out=args.out,
                        quick=args.quick, data_home=args.data_home, n_jobs=args.n_jobs,
                        max_train=args.max_train, progress=not args.no_progress)
    for path in outcome["files"]:
        print(path)
    _note(args, f"done in {outcome['seconds']:.1f} s; tables in "
                f"{outcome['folder']}/report.md")
    return 0


def _add_reproduce(commands):
    from .datasets import dataset_names
    from .experiments import QUESTIONS
    from .experiments.protocol import BUDGETS, LABELLED_FRACTIONS

    command = commands.add_parser("reproduce", help="the paper's experiments (RQ1-RQ4): "
                                  "records, tables and figure")
    command.add_argument("question", choices=[*QUESTIONS, "all"])
    command.add_argument("--dataset", help=dataset_names())
    command.add_argument("--labelled", type=float, nargs="+", default=list(LABELLED_FRACTIONS),
                         help="labelled fractions (default 0.05 0.15 0.25)")
    command.add_argument("--budget", type=float, nargs="+", default=list(BUDGETS),
                         help="poison budgets, fractions of the labelled inputs "
                         "(default 0.05 0.10 0.15 0.20)")
    command.add_argument("--repeats", type=int, help="splits per setting (default 3; "
                         "1 with --quick)")
    command.add_argument("--timing-repeats", type=int, help="RQ3 timing runs per method "
                         "and protocol (default 50, the paper's; 2 with --quick; 0: RQ3's "
                         "effectiveness alone)")
    command.add_argument("--seed", type=int, default=2020, help="first split seed")
    command.add_argument("--out", help="results folder (default mir-fast-results/<dataset>); "
                         "records already there are reused")
    command.add_argument("--quick", action="store_true", help="every RQ on digits17, once")
    command.add_argument("--data-home", help="folder with the data set's files")
    command.add_argument("--max-train", type=int, help="keep the first N transductive inputs")
    command.add_argument("--n-jobs", type=int, default=None,
                         help="threads, BLAS included (default: cores)")
    command.add_argument("--no-progress", action="store_true", help="no progress bars")
    command.add_argument("--quiet", action="store_true", help="no summary on stderr")
    command.set_defaults(run=_reproduce)


def _figure4(args):
    from .experiments import figure_4

    missing = [folder for folder in args.folders if not os.path.isdir(folder)]
    if missing:
        raise ValueError(f"no results folder {missing[0]}")
    _note(args, f"figure: {figure_4(args.folders, args.out)}")
    return 0


def _add_figure4(commands):
    command = commands.add_parser("figure4", help="the paper's Figure 4 from results folders, "
                                  "one panel per data set")
    command.add_argument("folders", nargs="+", help="folders written by mir-fast reproduce")
    command.add_argument("--out", default="figure4.png", help="PNG to write")
    command.add_argument("--quiet", action="store_true", help="no summary on stderr")
    command.set_defaults(run=_figure4)


def _note(args, text):
    if not args.quiet:
        print(f"mir-fast: {text}", file=sys.stderr)


def _write(args, records, columns):
    from ._io import write_table

    write_table(records, columns, out=args.out, fmt=args.output_format)


def _add_io_options(command):
    command.add_argument("input", help="data file: .npz (X, y), .npy (with --labels), .csv, "
                         "or LIBSVM/svmlight (.svm, .libsvm, .txt)")
    command.add_argument("--labels", help="labels for a .npy / sparse .npz input")
    command.add_argument("--format", choices=["npz", "npy", "csv", "svmlight"],
                         help="input format (default: from the extension)")
    command.add_argument("--label-column", help="CSV label column, by name or index "
                         "(default: the last)")
    command.add_argument("--unlabelled-value", default="-1",
                         help="label marking an unlabelled input (default -1; empty CSV "
                         "cells are unlabelled too)")
    command.add_argument("--labelled-fraction", type=float, help="keep only this fraction "
                         "of labels, chosen as in the paper (RandomState(seed).permutation)")
    command.add_argument("--gamma", type=_gamma, default="auto",
                         help="RBF width, or 'auto' (default)")
    command.add_argument("--threshold", type=float, default=0.5,
                         help="share an input must exceed to count (default 0.5)")
    command.add_argument("--n-jobs", type=int, default=None, help="threads (default: cores)")
    command.add_argument("--seed", type=int, default=2020,
                         help="seed for --labelled-fraction and random flips (default 2020)")
    command.add_argument("--out", help="output file (default: standard output)")
    command.add_argument("--output-format", choices=["csv", "json", "markdown"],
                         help="default: from --out's extension (.json, .md, else csv); "
                         "without --out a Markdown table on a terminal, CSV in a pipe")
    command.add_argument("--no-progress", action="store_true", help="no progress bar")
    command.add_argument("--quiet", action="store_true", help="no summary on stderr")


class _Parser(argparse.ArgumentParser):
    """argparse with the README's promise: a usage error is one line on stderr."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser():
    parser = _Parser(
        prog="mir-fast",
        description="Major Influence Range: influence analysis and label poisoning "
        "for graph-based semi-supervised learning.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    # --debug after the subcommand too; SUPPRESS leaves the first one's value alone
    debug = _Parser(add_help=False)
    debug.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show tracebacks")
    commands = parser.add_subparsers(dest="command", required=True)
    add_parser = commands.add_parser
    commands.add_parser = lambda *a, **k: add_parser(*a, parents=[debug], **k)
    demo = commands.add_parser("demo", help="MIR on scikit-learn's bundled digits, 1 vs 7")
    demo.add_argument("--labelled", type=float, default=0.25, help="labelled fraction")
    demo.add_argument("--gamma", type=_gamma, default=None,
                      help="RBF width, or 'auto' (default 3)")
    demo.add_argument("--seed", type=int, default=2020, help="split seed")
    demo.add_argument("--top", type=int, default=10, help="how many inputs to list")
    demo.add_argument("--n-jobs", type=int, default=None, help="threads")
    demo.set_defaults(run=_demo)

    example = commands.add_parser("example-data", help="write data.npz, data.csv and data.svm "
                                  "(scikit-learn's digits, 1 vs 7) to try the other commands")
    example.add_argument("folder", nargs="?", default=".", help="where (default: here)")
    example.add_argument("--labelled", type=float, default=0.25, help="labelled fraction")
    example.add_argument("--seed", type=int, default=2020, help="split seed")
    example.add_argument("--quiet", action="store_true", help="no summary on stderr")
    example.set_defaults(run=_example_data)

    score = commands.add_parser("score", help="MIR of every labelled input, ranked")
    _add_io_options(score)
    score.set_defaults(run=_score)

    attack = commands.add_parser("attack", help="poison the labels with the highest MIR")
    _add_io_options(attack)
    attack.add_argument("--budget", type=_budget, required=True,
                        help="labels to flip: a count, or a fraction of the labelled inputs")
    attack.add_argument("--flip-to", choices=["other", "random", "runner_up"],
                        default="other", help="new label (default: the other class)")
    attack.set_defaults(run=_attack)

    audit = commands.add_parser("audit", help="labels to re-check first, with the inputs "
                                "each dominates")
    _add_io_options(audit)
    audit.add_argument("--budget", type=_budget, default=None,
                       help="how many (default: every label with MIR > 0)")
    audit.add_argument("--report", help="also write a page (.md, or .html) with the inputs "
                       "each label dominates; for square grey images, thumbnails")
    audit.set_defaults(run=_audit)
    impact = commands.add_parser("impact", help="the exact effect of flipping each label "
                                 "alone on a victim's predictions, ranked")
    _add_io_options(impact)
    impact.add_argument("--victim", choices=["propagation", "spreading"],
                        default="propagation", help="default: propagation")
    impact.add_argument("--max-iter", type=int, help="default: scikit-learn's")
    impact.add_argument("--tol", type=float, help="default: scikit-learn's (1e-3)")
    impact.add_argument("--alpha", type=float, help="spreading's clamping (default 0.2)")
    impact.add_argument("--flip-to", choices=["other", "next"], default="other",
                        help="the other class (binary), or the next class")
    impact.set_defaults(run=_impact)

    robustness = commands.add_parser("robustness", help="certified robustness: the fewest "
                                     "label flips that change each prediction, per victim")
    _add_io_options(robustness)
    robustness.add_argument("--victim", choices=["propagation", "spreading", "both"],
                            default="both", help="default: both, on one figure")
    robustness.add_argument("--max-flips", type=int, default=10,
                            help="largest k to certify (default 10)")
    robustness.add_argument("--max-iter", type=int, help="default: scikit-learn's")
    robustness.add_argument("--tol", type=float, help="default: scikit-learn's (1e-3)")
    robustness.add_argument("--alpha", type=float, help="spreading's clamping (default 0.2)")
    robustness.add_argument("--plot", default="robustness.png",
                            help="PNG of the certified accuracy against k (default "
                            "robustness.png); the unchanged share when true labels are "
                            "unknown (an .npz may hold them as y_true)")
    robustness.set_defaults(run=_robustness)
    _add_reproduce(commands)
    _add_figure4(commands)
    return parser


def main(argv=None):
    """Entry point of ``mir-fast``: one clear line on stderr and exit 2 on bad input."""
    args = build_parser().parse_args(argv)
    with warnings.catch_warnings():
        if not args.debug:
            warnings.showwarning = _show_warning
        try:
            return args.run(args)
        except Exception as exc:  # noqa: BLE001 - the command line never shows a traceback
            if args.debug:
                raise
            print(f"mir-fast: error: {exc}", file=sys.stderr)
            return 2


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """A warning as one line (no Python source line); --debug shows Python's form."""
    print(f"mir-fast: warning: {message}", file=sys.stderr if file is None else file)


if __name__ == "__main__":
    sys.exit(main())
