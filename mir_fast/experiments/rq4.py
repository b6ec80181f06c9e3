"""RQ4: after a MIR attack on 10% of the labels, which countermeasure helps more:
re-checking (relabelling) the top-MIR labels, or labelling as many extra inputs?

The effort of both is one third of the poisoned count.  MIR does not depend on
the label values, so the defender's ranking of the poisoned labels is the
attacker's: re-checking the top third restores that many poisoned labels.  The
extra inputs are drawn from the unlabelled ones (seeded) and get their true label.
Errors are measured on the inputs unlabelled in the original split (an extra
input, labelled correctly, counts as right).
"""

import numpy as np

from ..victims import VICTIMS
from . import tables
from .protocol import budget_size, flipped, victim_order

NAME = "rq4"
TITLE = "re-check the top-MIR labels or label extra inputs"
RQ4_BUDGET = 0.10
STATES = ("clean", "poisoned", "relabelled", "extra_labels")


def run(problem, store, plan, progress):
    fractions, seeds = plan.labelled, plan.seeds
    tasks = [(p, r, s) for p in fractions for r, s in enumerate(seeds)]
    for fraction, repeat, seed in progress(tasks, desc="RQ4"):
        task = f"rq4/{fraction}/{seed}"
        if store.done(task):
            continue
        split = problem.split(fraction, seed)
        ranking, _ = problem.mir_ranking(split)
        n_poisoned = budget_size(RQ4_BUDGET, len(ranking))
        effort = max(1, n_poisoned // 3)
        poisoned = flipped(split, ranking[:n_poisoned])
        relabelled = flipped(poisoned, ranking[:effort])
        extra = poisoned.copy()
        rng = np.random.RandomState(seed)
        newly = rng.choice(np.flatnonzero(split == -1), size=effort, replace=False)
        extra[newly] = problem.y[newly]
        vectors = np.vstack([split, poisoned, relabelled, extra])
        records = []
        for variant in VICTIMS:
            predicted = problem.victim(variant).predict(vectors)
            for state, labels_given, labels in zip(STATES, vectors, predicted):
                inductive = problem.inductive_errors(labels_given, labels)
                records.append(dict(rq="rq4", dataset=problem.name, victim=variant,
                                    labelled=fraction, state=state, repeat=repeat, seed=seed,
                                    n_poisoned=n_poisoned, effort=effort,
                                    transductive_error=float(
                                        problem.transductive_error(labels, split)),
                                    rf_error=inductive["rf"], mlp_error=inductive["mlp"]))
        store.add(task, records)


def table(store, info, folder):
    """RQ4's section: errors in each state, per victim and labelled fraction."""
    records = store.select(rq="rq4")
    fractions = sorted({r["labelled"] for r in records})
    parts = [tables.intro(info, "RQ4: re-check the top-MIR labels vs label extra inputs (10% "
                    "poisoned, effort = a third of that)", records)]
    for field, title in (("transductive_error", "transductive error of the victim"),
                         ("rf_error", "RF inductive error"), ("mlp_error", "MLP inductive error")):
        rows = []
        for variant in sorted({r["victim"] for r in records}, key=victim_order):
            for fraction in fractions:
                chosen = [r for r in records if r["victim"] == variant
                          and r["labelled"] == fraction]
                rows.append([VICTIMS[variant].title, f"{fraction:.0%}"] + [
                    tables.pct(tables.mean([r for r in chosen if r["state"] == s], field)) for s in STATES])
        parts.append(f"**{title}**\n\n" + tables.table(
            ["victim", "labelled", "clean", "poisoned", "re-check top MIR", "label extra"],
            rows) + "\n")
    return "\n".join(parts), []
