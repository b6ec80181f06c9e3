"""RQ2: how much does poisoning the top-k MIR labels raise the inductive error?

25% labelled; the victim (LP or LS) infers the unlabelled labels from the poisoned
ones; a random forest and an MLP are trained on all transductive inputs and tested
on the held-out test set.
"""

import os
import time

import numpy as np

from ..victims import VICTIMS
from . import tables
from .protocol import MODELS, budget_size, flipped

NAME = "rq2"
TITLE = "inductive error after poisoning the top-MIR labels"
RQ2_LABELLED = 0.25


def run(problem, store, plan, progress):
    budgets, seeds = plan.budgets, plan.seeds
    tasks = [(v, r, s) for v in VICTIMS for r, s in enumerate(seeds)]
    for variant, repeat, seed in progress(tasks, desc="RQ2"):
        task = f"rq2/{variant}/{seed}"
        if store.done(task):
            continue
        start = time.perf_counter()
        split = problem.split(RQ2_LABELLED, seed)
        ranking, _ = problem.mir_ranking(split)
        n_labelled = int((split != -1).sum())
        levels = (0.0,) + tuple(budgets)
        vectors = np.vstack([flipped(split, ranking[: budget_size(b, n_labelled)])
                             for b in levels])
        predicted = problem.victim(variant).predict(vectors)
        records = []
        inductive_all = problem.inductive_errors(vectors, predicted)
        seconds = time.perf_counter() - start
        for budget, labels, inductive in zip(levels, predicted, inductive_all):
            records.append(dict(rq="rq2", dataset=problem.name, victim=variant,
                                victim_settings=VICTIMS[variant].settings,
                                labelled=RQ2_LABELLED, budget=budget, repeat=repeat, seed=seed,
                                n_poisoned=budget_size(budget, n_labelled),
                                transductive_error=float(problem.transductive_error(labels,
                                                                                    split)),
                                rf_error=inductive["rf"], mlp_error=inductive["mlp"],
                                task_seconds=seconds))
        store.add(task, records)


def table(store, info, folder):
    """RQ2's section: the inductive errors per budget, and Figure 4."""
    records = store.select(rq="rq2")
    budgets = sorted({r["budget"] for r in records})
    ran = tables.victims_of(records)
    victims = list(ran)
    header = ["budget"] + [f"{ran[v].title} {tables.MODEL_NAMES[m]}" for v in victims
                           for m in MODELS]
    rows = []
    for budget in budgets:
        row = ["clean" if budget == 0 else f"{budget:.0%}"]
        for variant in victims:
            chosen = [r for r in records if r["victim"] == variant and r["budget"] == budget]
            row += [tables.spread(chosen, f"{model}_error", tables.pct) for model in MODELS]
        rows.append(row)
    path = os.path.join(folder, "rq2-figure.png")
    figure_4([(info, records)], path)
    return (tables.intro(info, "RQ2: inductive error after poisoning the top-MIR labels (25% "
                         "labelled)", records) + tables.table(header, rows) + "\n\n"
            + "![RQ2: error vs budget](rq2-figure.png)\n"), [path]


def figure_4(panels, path):
    """The paper's Figure 4, one panel per data set side by side: inductive error
    against the poison budget (ticks at the budgets), RF solid and MLP dotted, one
    colour per victim, error bars of one standard deviation over the repetitions;
    the series are drawn a little apart and with their own markers so that none
    hides another where they meet (as at 0%).

    Parameters
    ----------
    panels : list of (info, records)
        ``info`` is ``(name, title, stand_in_for)``; ``records`` its RQ2 records.
    path : str
        The PNG to write.
    """
    from .._figures import pyplot

    plt = pyplot()
    figure, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.8),
                                squeeze=False)
    markers = "osD^vP"
    for axis, (info, records) in zip(axes[0], panels):
        budgets = sorted({r["budget"] for r in records})
        ran = tables.victims_of(records)
        series = [(v, m) for v in ran for m in MODELS]
        width = 0.6 * (100 * min(np.diff(budgets)) if len(budgets) > 1 else 1.0)
        for position, (variant, model) in enumerate(series):
            victim = ran[variant]
            cells = [[r[f"{model}_error"] for r in records if r["victim"] == variant
                      and r["budget"] == b] for b in budgets]
            means = [100 * np.mean(c) for c in cells]
            deviations = [100 * np.std(c, ddof=1) if len(c) > 1 else 0.0 for c in cells]
            offset = width * (position / max(1, len(series) - 1) - 0.5) / 2
            axis.errorbar([100 * b + offset for b in budgets], means, yerr=deviations,
                          fmt="-" if model == "rf" else ":", color=victim.colour,
                          marker=markers[position % len(markers)], markersize=5,
                          markerfacecolor="white" if model == "mlp" else victim.colour,
                          capsize=2, label=f"{tables.MODEL_NAMES[model]} on {victim.short} "
                                           "labels")
        axis.set_xticks([100 * b for b in budgets])
        axis.set_xticklabels([f"{100 * b:g}%" for b in budgets])
        axis.set_xlabel("poison budget (share of the labelled inputs)")
        axis.set_ylabel("inductive error rate (%)")
        repeats = len({r["seed"] for r in records})
        axis.set_title(f"{info[1]}{' (stand-in)' if info[2] else ''}\n25% labelled, "
                       f"{repeats} split{'s' if repeats != 1 else ''}", fontsize=10)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)  # each panel's own: its records may hold other victims
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
