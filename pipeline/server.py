"""The workers' server: a process that imports WeasyPrint once, then forks each worker.

Started as early as a command knows it will typeset (`start`), before this
process imports the rest of the pipeline, so that the two load side by side.
Only the standard library here: importing this module costs nothing.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
import os
from multiprocessing import forkserver

PRELOAD = ["pipeline.libraries", "pipeline.typeset"]


def context() -> multiprocessing.context.BaseContext:
    """Workers forked from a server process that has WeasyPrint imported already."""
    chosen = multiprocessing.get_context("forkserver")
    chosen.set_forkserver_preload(PRELOAD)
    return chosen


def start(jobs: int | None = None) -> None:
    """Start the server now, if `jobs` workers (None: one per core) would use it.

    It loads WeasyPrint in the background; a no-op if it runs already.
    """
    if (jobs or default_jobs()) > 1:  # one job runs in the command's own process
        context()
        forkserver.ensure_running()


def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1
