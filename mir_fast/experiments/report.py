"""The report of a results folder: every registered question's section, in the
registry's order, from the stored records (tables in the paper's layout, the
paper's numbers beside ours where it has them, and the questions' figures)."""

import os

from .questions import QUESTIONS


def write_report(stores, info, folder):
    """Write ``<folder>/report.md`` from ``stores`` (question name -> ``ResultStore``);
    return the paths written."""
    sections = [f"# Reproduction of the paper's experiments: {info[1]}", ""]
    written = []
    for name, question in QUESTIONS.items():
        if name in stores:
            text, files = question.table(stores[name], info, folder)
            sections.append(text)
            written.extend(files)
    path = os.path.join(folder, "report.md")
    with open(path, "w") as fh:
        fh.write("\n".join(sections))
    return [path] + written
