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
from .protocol import budget_size, flipped

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
            inductive_all = problem.inductive_errors(vectors, predicted)
            for state, labels, inductive in zip(STATES, predicted, inductive_all):
                records.append(dict(rq="rq4", dataset=problem.name, victim=variant,
                                    victim_settings=VICTIMS[variant].settings,
                                    labelled=fraction, state=state, repeat=repeat, seed=seed,
                                    n_poisoned=n_poisoned, effort=effort,
                                    transductive_error=float(
                                        problem.transductive_error(labels, split)),
                                    rf_error=inductive["rf"], mlp_error=inductive["mlp"]))
        store.add(task, records)


def table(store, info, folder):
    """RQ4's section: errors in each state, per victim and labelled fraction, and the
    paired Wilcoxon test of re-checking against labelling extra inputs."""
    records = store.select(rq="rq4")
    fractions = sorted({r["labelled"] for r in records})
    ran = tables.victims_of(records)
    parts = [tables.intro(info, "RQ4: re-check the top-MIR labels vs label extra inputs (10% "
                                "poisoned, effort = a third of that)", records)]
    fields = (("transductive_error", "transductive error of the victim"),
              ("rf_error", "RF inductive error"), ("mlp_error", "MLP inductive error"))
    for field, title in fields:
        rows = []
        for variant, victim in ran.items():
            for fraction in fractions:
                chosen = [r for r in records if r["victim"] == variant
                          and r["labelled"] == fraction]
                rows.append([victim.title, f"{fraction:.0%}"] + [
                    tables.spread([r for r in chosen if r["state"] == s], field, tables.pct)
                    for s in STATES])
        parts.append(f"**{title}**\n\n" + tables.table(
            ["victim", "labelled", "clean", "poisoned", "re-check top MIR", "label extra"],
            rows) + "\n")
    by_cell = {(r["state"], r["victim"], r["labelled"], r["seed"]): r for r in records}
    cells = sorted({k[1:] for k in by_cell if k[0] == "relabelled"})
    tests = []
    for field, title in fields:
        pairs = [(by_cell[("relabelled",) + c][field], by_cell[("extra_labels",) + c][field])
                 for c in cells if ("extra_labels",) + c in by_cell]
        _, p, n = tables.paired_test([a for a, _ in pairs], [b for _, b in pairs])
        lower = sum(a < b for a, b in pairs)
        tests.append(f"{title}: p = {tables.p_value(p)} (re-checking lower in {lower} of {n})")
    parts.append("Paired Wilcoxon signed-rank tests (two-sided, over every victim, labelled "
                 "fraction and split), re-checking vs labelling extra inputs: "
                 + "; ".join(tests) + ".\n")
    return "\n".join(parts), []
