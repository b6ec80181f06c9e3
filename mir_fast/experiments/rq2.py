"""RQ2: how much does poisoning the top-k MIR labels raise the inductive error?

25% labelled; the victim (LP or LS) infers the unlabelled labels from the poisoned
ones; a random forest and an MLP are trained on all transductive inputs and tested
on the held-out test set.
"""

import time

import numpy as np

from .protocol import VICTIMS, budget_size, flipped

RQ2_LABELLED = 0.25


def run(problem, store, budgets, seeds, progress):
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

