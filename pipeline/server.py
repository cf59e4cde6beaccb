"""The workers' server: a process that imports WeasyPrint once, then forks each worker.

Started as early as a command knows it will typeset (`start`), before this
process imports the rest of the pipeline, so that the two load side by side.
Only the standard library here: importing this module costs nothing.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
from multiprocessing import forkserver

PRELOAD = ["pipeline.libraries", "pipeline.typeset"]


def context() -> multiprocessing.context.BaseContext:
    """Workers forked from a server process that has WeasyPrint imported already."""
    chosen = multiprocessing.get_context("forkserver")
    chosen.set_forkserver_preload(PRELOAD)
    return chosen


def start() -> None:
    """Start the server now (it loads WeasyPrint in the background); a no-op if it runs."""
    context()
    forkserver.ensure_running()
