"""Machine-readable results: one JSON line per measurement, resumable by task."""

import datetime
import json
import os
import platform

from .._version import __version__


def run_metadata(n_jobs):
    """Versions, thread count and machine of this run, stored with every record."""
    import numpy
    import scipy
    import sklearn

    return {"mir_fast": __version__, "numpy": numpy.__version__, "scipy": scipy.__version__,
            "sklearn": sklearn.__version__, "python": platform.python_version(),
            "n_jobs": n_jobs, "cpus": os.cpu_count(), "machine": platform.machine()}


class ResultStore:
    """Records of one research question on one data set, in ``<folder>/<name>.jsonl``.

    Every record carries the ``task`` that produced it; a task whose records are
    already in the file is skipped on the next run (resume after an interruption).
    A task's records are appended together once it has finished, so a file never
    holds part of a task.
    """

    def __init__(self, folder, name, metadata):
        os.makedirs(folder, exist_ok=True)
        self.path = os.path.join(folder, f"{name}.jsonl")
        self.metadata = metadata
        self.records = []
        if os.path.exists(self.path):
            with open(self.path) as fh:
                self.records = [json.loads(line) for line in fh if line.strip()]

    def done(self, task):
        return any(record["task"] == task for record in self.records)

    def add(self, task, records):
        stamp = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        finished = [{"task": task, **record, "meta": {**self.metadata, "finished": stamp}}
                    for record in records]
        with open(self.path, "a") as fh:
            for record in finished:
                fh.write(json.dumps(record, default=_plain) + "\n")
        self.records.extend(finished)

    def select(self, **conditions):
        return [r for r in self.records if all(r.get(k) == v for k, v in conditions.items())]


def _plain(value):
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"cannot store {type(value).__name__} in a record")
