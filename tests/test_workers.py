"""Workers: jobs handed over at once, jobs held until a worker is free, errors kept whole."""

from __future__ import annotations

import os
import pickle
import time

import pytest

from pipeline.model import BookletError, Problem
from pipeline.workers import Workers


def test_an_authors_error_comes_back_from_a_worker_whole() -> None:
    error = BookletError([Problem("chapters/01.md", 3, "bad thing", "fix it"),
                          Problem("chapters/02.md", None, "other thing", None)])
    again = pickle.loads(pickle.dumps(error))
    assert again.problems == error.problems
    assert str(again) == str(error)

    with Workers(2) as workers, pytest.raises(BookletError) as raised:
        workers.submit(_fail, "chapters/03.md").result()
    assert raised.value.problems == (Problem("chapters/03.md", 7, "broken", "mend it"),)


def test_held_jobs_wait_for_a_free_worker_and_let_later_urgent_jobs_pass() -> None:
    with Workers(2) as workers:
        now = workers.submit(_stamp, 0.4)  # both workers busy with jobs handed over at once
        also = workers.submit(_stamp, 0.4)
        held = [workers.later(_stamp, 0.1) for _ in range(6)]
        time.sleep(0.1)
        urgent = workers.submit(_stamp, 0.0)  # handed over after the held ones were held
        results = [future.result() for future in held]
        first = min(now.result()[1], also.result()[1])
        urgent_start = urgent.result()[0]
    assert all(start >= first - 0.01 for start, _ in results), "a held job ran too soon"
    # In a plain queue the urgent job would wait for all six; held, at most two go first.
    assert sum(1 for start, _ in results if start < urgent_start) <= 2


def test_held_jobs_run_here_without_workers_and_unwanted_ones_are_cancelled() -> None:
    with Workers(1) as workers:
        assert workers.later(os.getpid).result() == os.getpid()
    with Workers(2) as workers:
        blockers = [workers.submit(time.sleep, 0.5) for _ in range(2)]
        held = workers.later(os.getpid)
    assert held.cancelled()
    assert all(b.done() for b in blockers)


def test_jobs_handed_over_while_the_workers_start_are_passed_on_in_order() -> None:
    # While the workers start (the server loading WeasyPrint), submit does not
    # wait: the jobs wait in a list, and the starter hands them on.
    with Workers(2) as workers:
        first = [workers.submit(pow, 2, n) for n in range(8)]
        unwanted = workers.submit(time.sleep, 0.5)
        cancelled = unwanted.cancel()  # possible while it waits; harmless either way
        after = workers.submit(os.getpid)
        assert [future.result() for future in first] == [2**n for n in range(8)]
        assert after.result() != os.getpid()  # in a worker
        if not cancelled:
            unwanted.result()
    assert unwanted.cancelled() == cancelled


def _fail(path: str) -> None:
    raise BookletError.at(path, 7, "broken", "mend it")


def _stamp(seconds: float) -> tuple[float, float]:
    started = time.monotonic()
    time.sleep(seconds)
    return started, time.monotonic()
