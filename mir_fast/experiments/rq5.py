"""RQ5 (ours, not the paper's): how robust are the victims' predictions to label
flips, and does MIR pick the labels that certificates say are most dangerous?

For every split, ``flip_robustness`` gives each unlabelled input's radius (the fewest
label flips that change its prediction, exact, see ``mir_fast.robustness``) and a
smallest flip set.  Recorded: the certified accuracy (right, and unchanged by any
``k`` flips) for ``k = 0 .. MAX_FLIPS``, and the overlap between the top-MIR labels
and the labels that appear most often in the smallest flip sets (the same number of
each: the paper's smallest budget, 5% of the labelled inputs), beside what a random
choice of that many labels would overlap on average.
"""

import os
import time

import numpy as np

from .._figures import certified_curves
from ..victims import VICTIMS
from . import tables

NAME = "rq5"
TITLE = "certified robustness to label flips, and MIR against the certificates"
MAX_FLIPS = 10
#: Share of the labelled inputs compared between MIR's ranking and the certificates'.
TOP_SHARE = 0.05
SHOWN_K = (1, 2, 3, 5, 10)


def most_used_labels(flips, labelled, count):
    """The ``count`` labelled inputs that occur in most smallest flip sets (ties to
    the lower index)."""
    uses = np.zeros(len(labelled), dtype=np.int64)
    for indices, _ in flips:
        uses[np.searchsorted(labelled, indices)] += 1
    return labelled[np.lexsort((labelled, -uses))[:count]]


def run(problem, store, plan, progress):
    tasks = [(v, p, r, s) for v in VICTIMS for p in plan.labelled
             for r, s in enumerate(plan.seeds)]
    for variant, fraction, repeat, seed in progress(tasks, desc="RQ5"):
        task = f"rq5/{variant}/{fraction}/{seed}"
        if store.done(task):
            continue
        start = time.perf_counter()
        split = problem.split(fraction, seed)
        ranking, _ = problem.mir_ranking(split)
        labelled = np.flatnonzero(split != -1)
        result = problem.victim(variant).robustness(split, problem.y, max_flips=MAX_FLIPS)
        count = max(1, int(TOP_SHARE * len(labelled)))
        dangerous = most_used_labels(result.flips, labelled, count)
        overlap = len(np.intersect1d(ranking[:count], dangerous)) / count
        finite = result.radius[(result.radius > 0) & (result.radius <= MAX_FLIPS)]
        store.add(task, [dict(
            rq="rq5", dataset=problem.name, victim=variant,
            victim_settings=VICTIMS[variant].settings, labelled=fraction,
            repeat=repeat, seed=seed, n_labelled=len(labelled),
            n_unlabelled=len(result.unlabelled), n_iter=result.n_iter,
            stable_flips=result.stable_flips,
            certified_accuracy=[result.certified_accuracy(k) for k in range(MAX_FLIPS + 1)],
            certified_fraction=[result.certified_fraction(k) for k in range(MAX_FLIPS + 1)],
            median_radius=float(np.median(finite)) if len(finite) else float("nan"),
            never_changed=int((result.radius == -1).sum()), top_count=count,
            mir_overlap=overlap, random_overlap=count / len(labelled),
            seconds=time.perf_counter() - start)])


def _mean_curve(records, field):
    return list(np.mean([r[field] for r in records], axis=0))


def table(store, info, folder):
    """RQ5's section: certified accuracy at a few k, the overlap, and the figure."""
    records = store.select(rq="rq5")
    fractions = sorted({r["labelled"] for r in records})
    ran = tables.victims_of(records)
    header = ["victim", "labelled", "clean accuracy"] + [f"k = {k}" for k in SHOWN_K] + [
        f"median radius (of those <= {MAX_FLIPS})", "MIR overlap (random)", "stable flips"]
    rows, curves = [], {}
    styles = ("-", "--", ":", "-.")
    for variant, victim in ran.items():
        for position, fraction in enumerate(fractions):
            chosen = [r for r in records if r["victim"] == variant and r["labelled"] == fraction]
            if not chosen:
                continue
            accuracy = _mean_curve(chosen, "certified_accuracy")
            at = [[{"share": r["certified_accuracy"][k]} for r in chosen]
                  for k in range(MAX_FLIPS + 1)]
            rows.append([victim.title, f"{fraction:.0%}",
                         tables.spread(at[0], "share", tables.pct)]
                        + [tables.spread(at[k], "share", tables.pct) for k in SHOWN_K]
                        + [tables.spread(chosen, "median_radius", tables.num),
                           f"{tables.spread(chosen, 'mir_overlap', tables.pct)} "
                           f"({tables.pct(tables.mean(chosen, 'random_overlap'))})",
                           min(r["stable_flips"] for r in chosen)])
            curves[f"{victim.short}, {fraction:.0%} labelled"] = (
                list(range(MAX_FLIPS + 1)), accuracy, victim.colour,
                styles[position % len(styles)])
    path = os.path.join(folder, "rq5-figure.png")
    certified_curves(curves, path, info[1] + (" (stand-in)" if info[2] else ""),
                     "certified accuracy (%)")
    text = (tables.intro(info, "RQ5: certified accuracy under k label flips (right, and "
                         "unchanged by any k flips)", records) + tables.table(header, rows)
            + "\n\nMIR overlap: share of the top 5% labels by MIR that are also among the "
            "5% of labels occurring most often in the smallest flip sets (a random choice "
            "of that many labels: in parentheses). Stable flips: the fewest over the "
            "repetitions of `stable_flips` (radii up to it hold for the fits as "
            "scikit-learn stops them; larger ones for the clean fit's iteration count).\n\n"
            "![RQ5: certified accuracy against k](rq5-figure.png)\n")
    return text, [path]
