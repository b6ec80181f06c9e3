"""The registry of research questions, and the plan every question's run reads.

A question is any object (the ``rq1`` ... ``rq4`` modules are) with

* ``NAME`` (``"rq1"``: the records file, the CLI's choice) and ``TITLE``;
* ``run(problem, store, plan, progress)``: its measurements into ``store``
  (a ``ResultStore``), skipping tasks already there;
* ``table(store, info, folder)``: ``(markdown, files)``, its report section and any
  files (figures) it wrote into ``folder``.

``reproduce``, the report and the command line iterate ``QUESTIONS``: adding a
question is one ``register_question`` call.
"""

from dataclasses import dataclass

QUESTIONS = {}


def register_question(question):
    """Add (or replace) a research question; returns it."""
    QUESTIONS[question.NAME] = question
    return question


@dataclass(frozen=True)
class Plan:
    """The settings of one ``reproduce`` call, as the questions read them."""

    labelled: tuple  # labelled fractions
    budgets: tuple  # poison budgets (fractions of the labelled inputs)
    seeds: tuple  # split seeds of the repetitions
    timing_repeats: int  # timing runs per method
    seed: int  # the first split seed
