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
from .protocol import MODELS, budget_size, flipped, victim_order

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
        split = problem.split(RQ2_LABELLED, seed)
        ranking, _ = problem.mir_ranking(split)
        n_labelled = int((split != -1).sum())
        levels = (0.0,) + tuple(budgets)
        vectors = np.vstack([flipped(split, ranking[: budget_size(b, n_labelled)])
                             for b in levels])
        predicted = problem.victim(variant).predict(vectors)
        records = []
        for budget, poisoned, labels in zip(levels, vectors, predicted):
            start = time.perf_counter()
            inductive = problem.inductive_errors(poisoned, labels)
            records.append(dict(rq="rq2", dataset=problem.name, victim=variant,
                                labelled=RQ2_LABELLED, budget=budget, repeat=repeat, seed=seed,
                                n_poisoned=budget_size(budget, n_labelled),
                                transductive_error=float(problem.transductive_error(labels,
                                                                                    split)),
                                rf_error=inductive["rf"], mlp_error=inductive["mlp"],
                                seconds=time.perf_counter() - start))
        store.add(task, records)


def table(store, info, folder):
    """RQ2's section: the inductive errors per budget, and Figure 4."""
    records = store.select(rq="rq2")
    budgets = sorted({r["budget"] for r in records})
    victims = sorted({r["victim"] for r in records}, key=victim_order)
    header = ["budget"] + [f"{VICTIMS[v].title} {tables.MODEL_NAMES[m]}" for v in victims
                           for m in MODELS]
    rows = []
    for budget in budgets:
        row = ["clean" if budget == 0 else f"{budget:.0%}"]
        for variant in victims:
            for model in MODELS:
                chosen = [r for r in records if r["victim"] == variant and r["budget"] == budget]
                row.append(tables.pct(tables.mean(chosen, f"{model}_error")))
        rows.append(row)
    figure = figure_4(store, info, os.path.join(folder, "rq2-figure.png"))
    return (tables.intro(info, "RQ2: inductive error after poisoning the top-MIR labels (25% "
                         "labelled)", records) + tables.table(header, rows) + "\n\n"
            + "![RQ2: error vs budget](rq2-figure.png)\n"), [figure]


def figure_4(store, info, path):
    """The paper's Figure 4: error vs budget; RF plain, MLP dotted; one colour per victim."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = store.select(rq="rq2")
    budgets = sorted({r["budget"] for r in records})
    figure, axes = plt.subplots(figsize=(5, 3.5))
    for variant in sorted({r["victim"] for r in records}, key=victim_order):
        victim = VICTIMS[variant]
        for model, style in zip(MODELS, ("-", ":")):
            errors = [tables.mean([r for r in records if r["victim"] == variant
                             and r["budget"] == b], f"{model}_error") for b in budgets]
            axes.plot([100 * b for b in budgets], [100 * e for e in errors], style,
                      color=victim.colour, marker="o",
                      label=f"{tables.MODEL_NAMES[model]} on {victim.short} labels")
    axes.set_xlabel("poison budget (% of labelled inputs)")
    axes.set_ylabel("inductive error rate (%)")
    axes.set_title(info[1] + (" (stand-in)" if info[2] else ""))
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
