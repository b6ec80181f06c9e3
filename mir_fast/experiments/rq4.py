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

from .protocol import VICTIMS, budget_size, flipped

RQ4_BUDGET = 0.10
STATES = ("clean", "poisoned", "relabelled", "extra_labels")


def run(problem, store, fractions, seeds, progress):
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
