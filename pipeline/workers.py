"""Parts -> RenderedParts, in worker processes, from the cache where it can.

A command that will typeset starts its workers first (`Workers`), before it
reads the sources. The workers are forked from a server process that imports
WeasyPrint once (most of a second of CPU, which each worker paid before) while
this process reads and converts the chapters; a worker keeps its font
configuration and parsed stylesheets from one part to the next (typeset.py).
Nothing here imports WeasyPrint: only the workers, or a command that typesets
in its own process, do. Workers are started from a thread of their own,
because a worker's start waits until the server has imported WeasyPrint;
jobs handed over meanwhile wait in a list, and that thread hands them on,
so that this process goes on converting instead of waiting with it.

Workers are new processes, not copies of this one: what a job needs goes in
its arguments (a test's stand-in for a function here does not reach them).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import CancelledError, Future, ProcessPoolExecutor, as_completed
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from pipeline import server
from pipeline.cache import PartCache
from pipeline.model import PDF_OPTIONS, Part, RenderedPart
from pipeline.progress import Progress

T = TypeVar("T")


class Workers:
    """Worker processes for one command; with one job, everything runs here.

    `submit` hands a job to the workers at once; `later` keeps it back until a
    worker would otherwise be idle, so that background work (a batch's cover
    letters) fills the gaps of the work a command waits on (the book's build)
    instead of delaying it.
    """

    def __init__(self, jobs: int | None = None) -> None:
        self.jobs = jobs or server.default_jobs()
        self._pool: ProcessPoolExecutor | None = None
        self._turn = threading.Condition()
        self._busy = 0  # jobs handed to the pool and not yet finished
        self._held: deque[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]] = deque()
        self._feeder: threading.Thread | None = None
        self._starter: threading.Thread | None = None
        # Jobs handed over while the workers start, which the starter hands on:
        # starting a worker waits for the server to load WeasyPrint, and this
        # process has better things to do meanwhile than wait with it.
        self._starting: list[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]] | None
        self._starting = None
        self._closing = False

    def __enter__(self) -> Workers:
        if self.jobs > 1:
            self._pool = ProcessPoolExecutor(
                max_workers=self.jobs, mp_context=server.context(),
                initializer=_start_worker, initargs=(dict(os.environ),),
            )
            self._starting = []
            self._starter = threading.Thread(target=self._start, args=(self._pool,),
                                             name="workers-starter", daemon=True)
            self._starter.start()
        return self

    def _start(self, pool: ProcessPoolExecutor) -> None:
        """Start every worker (a pool starts one per job handed over while none is idle),
        then hand on the jobs that came meanwhile, in order."""
        # A worker that cannot start (the pool shut down, or its server gone) leaves
        # the pool broken: the jobs handed on below then fail, instead of waiting.
        with contextlib.suppress(Exception):
            for _ in range(self.jobs):
                pool.submit(time.sleep, 0.05)
        with self._turn:  # (reentrant: submit takes it too) nothing overtakes them
            waiting, self._starting = self._starting or [], None
            for future, function, args in waiting:
                self._hand_on(future, function, args)
            self._turn.notify_all()  # the feeder may go on

    def _started(self) -> None:
        starter = self._starter  # (the feeder's thread may be here too)
        if starter is not None:
            starter.join()
            self._starter = None

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._started()
        with self._turn:  # held jobs nobody waited for are not wanted
            self._closing = True
            while self._held:
                self._held.popleft()[0].cancel()
            self._turn.notify_all()
        if self._feeder is not None:
            self._feeder.join()
            self._feeder = None
        if self._pool is not None:
            # After Ctrl-C or an error, the jobs not yet started are not wanted;
            # those running are waited for (as Python's way out would anyway),
            # so that no worker outlives its command (in a command forwarded to
            # the server kept warm, multiprocessing's way out would otherwise
            # wait for them while they wait for work).
            self._pool.shutdown(wait=True, cancel_futures=error is not None)
            self._pool = None

    @property
    def parallel(self) -> bool:
        return self._pool is not None

    def submit(self, function: Callable[..., T], *args: Any) -> Future[T]:
        """Run `function(*args)` in a worker (here, at once, without workers)."""
        if self._pool is not None:
            with self._turn:
                if self._starting is not None:  # the starter hands it on
                    waiting: Future[T] = Future()
                    self._starting.append((waiting, function, args))
                    return waiting
                self._busy += 1
            handed = self._pool.submit(function, *args)
            handed.add_done_callback(self._finished)
            return handed
        future: Future[T] = Future()
        try:
            future.set_result(function(*args))
        except Exception as error:  # handed over like a worker's
            future.set_exception(error)
        return future

    def later(self, function: Callable[..., T], *args: Any) -> Future[T]:
        """Run `function(*args)` in a worker once one has nothing else to do.

        Held jobs start in the order they were held. Without workers the job
        runs here, at once.
        """
        if self._pool is None:
            return self.submit(function, *args)
        future: Future[T] = Future()
        with self._turn:
            self._held.append((future, function, args))
            if self._feeder is None:
                self._feeder = threading.Thread(target=self._feed, name="workers-feeder",
                                                 daemon=True)
                self._feeder.start()
            self._turn.notify_all()
        return future

    def _finished(self, _: Future[Any]) -> None:
        with self._turn:
            self._busy -= 1
            self._turn.notify_all()

    def _feed(self) -> None:
        """Hand held jobs to the pool one at a time, whenever a worker is free."""
        while True:
            with self._turn:
                # No worker is free while they start, nor while all are busy.
                while not self._closing and (not self._held or self._starting is not None
                                             or self._busy >= self.jobs):
                    self._turn.wait()
                if self._closing:
                    return
                future, function, args = self._held.popleft()
            self._hand_on(future, function, args)

    def _hand_on(self, future: Future[T], function: Callable[..., T], args: tuple[Any, ...]
                 ) -> None:
        """Submit a job kept back, and pass its result to whoever holds `future`."""
        if not future.set_running_or_notify_cancel():
            return  # cancelled meanwhile
        try:
            handed = self.submit(function, *args)
        except BaseException as error:  # the pool is broken or shut down
            future.set_exception(error)
            return
        handed.add_done_callback(lambda done: _pass_on(done, future))


def _pass_on(done: Future[T], future: Future[T]) -> None:
    """The result (or the error) of a job handed to the pool, to whoever holds `future`."""
    if done.cancelled():
        future.set_exception(CancelledError())
    elif done.exception() is not None:
        future.set_exception(done.exception())  # type: ignore[arg-type]
    else:
        future.set_result(done.result())


def _start_worker(environment: dict[str, str]) -> None:
    """In a worker: the command's environment; Ctrl-C is for the command, which
    stops the workers itself."""
    server.take_environment(environment)  # (forked by a server another command started)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # whatever the command made of it
    # WeasyPrint, before the first part comes (already there if the server loaded it).
    import pipeline.typeset  # noqa: F401


def load_job(module: str) -> None:
    """Import `module` (in a worker), before a job that needs it comes."""
    importlib.import_module(module)


def typeset_job(part: Part, root: Path, whole_fonts: bool = True,
                keep_local_links: bool = False) -> RenderedPart:
    """Typeset one part (in a worker): see typeset.typeset."""
    from pipeline.typeset import typeset

    return typeset(part, root, whole_fonts, keep_local_links)


def typeset_all(
    parts: Sequence[Part],
    root: Path,
    jobs: int | None = None,
    whole_fonts: bool = True,
    keep_local_links: bool = False,
    cache: PartCache | None = None,
    progress: Progress | None = None,
    workers: Workers | None = None,
    meanwhile: Callable[[int], object] | None = None,
) -> list[RenderedPart]:
    """Typeset parts (those not in the cache), in parallel worker processes.

    With `workers`, their processes typeset (even a single part); without,
    a pool of `jobs` processes is started for these parts alone. `meanwhile`
    is called with the number of parts handed over, before they are waited for.
    """
    options = {"whole_fonts": whole_fonts, "keep_local_links": keep_local_links,
               "pdf": PDF_OPTIONS}
    keys = [cache.key(part, options) for part in parts] if cache else [""] * len(parts)
    found = [cache.get(key) if cache else None for key in keys]
    missing = [i for i, part in enumerate(found) if part is None]
    progress = progress or Progress()
    cached = len(parts) - len(missing)

    def finished(done: int, name: str) -> None:
        progress.advance("typeset", cached + done, len(parts), name)

    todo = [parts[i] for i in missing]
    args = (root, whole_fonts, keep_local_links)
    meanwhile = meanwhile or (lambda handed: None)
    if workers is not None:
        made = _typeset_many(todo, workers, args, finished, meanwhile)
    else:
        with Workers(min(jobs or server.default_jobs(), len(todo)) or 1) as own:
            made = _typeset_many(todo, own, args, finished, meanwhile)
    for i, part in zip(missing, made, strict=True):
        found[i] = part
        if cache:
            cache.put(keys[i], part)
    return [part for part in found if part is not None]


def _typeset_many(
    parts: Sequence[Part], workers: Workers, args: tuple[Path, bool, bool],
    finished: Callable[[int, str], None], meanwhile: Callable[[int], object],
) -> list[RenderedPart]:
    if not workers.parallel:
        meanwhile(len(parts))
        one_by_one = []
        for part in parts:
            one_by_one.append(typeset_job(part, *args))
            finished(len(one_by_one), part.name)
        return one_by_one
    # Longest parts first, so that no worker is left with a big one at the end.
    order = sorted(range(len(parts)), key=lambda i: -len(parts[i].html))
    futures = {workers.submit(typeset_job, parts[i], *args): i for i in order}
    meanwhile(len(parts))
    try:
        made: dict[int, RenderedPart] = {}
        failed: dict[int, BaseException] = {}
        for future in as_completed(futures):
            index = futures[future]
            error = future.exception()
            if error is None:
                made[index] = future.result()
                finished(len(made), parts[index].name)
            else:
                failed[index] = error
    except BaseException:
        for future in futures:  # Ctrl-C: the parts not yet started are not wanted
            future.cancel()
        raise
    if failed:
        raise failed[min(failed)]  # the first part's problem, whichever finished first
    return [made[i] for i in range(len(parts))]


def engine() -> str:
    """What typesets, for the cache key: a new WeasyPrint means new pages."""
    return f"weasyprint {metadata.version('weasyprint')}"
