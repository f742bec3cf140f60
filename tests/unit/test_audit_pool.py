"""audit.pool: tasks shared between worker processes (from the front) and this one (the back)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator

import pytest

from mla_tracker.audit.pool import Sharing


def _square(task: int) -> tuple[int, int]:
    time.sleep(0.001)
    return os.getpid(), task * task


def _squares() -> Callable[[int], tuple[int, int]]:
    return _square


def _fail_at(bad: int) -> Callable[[int], tuple[int, int]]:
    def run(task: int) -> tuple[int, int]:
        if task == bad:
            raise ValueError(f"task {task} refused")
        return _square(task)

    return run


def _die_at(bad: int) -> Callable[[int], tuple[int, int]]:
    def run(task: int) -> tuple[int, int]:
        if task == bad:
            os._exit(3)
        return _square(task)

    return run


def _share(
    sharing: Sharing[int, tuple[int, int]], count: int, run_here: Callable[[int], tuple[int, int]]
) -> list[tuple[int, int]]:
    try:
        sharing.add(range(count))
        while (index := sharing.take_back()) is not None:
            sharing.results[index] = run_here(sharing.tasks[index])
        return sharing.wait()
    finally:
        sharing.stop()


@pytest.mark.parametrize("workers", [1, 2])
def test_every_task_runs_once_on_a_worker_or_here_in_order(workers: int) -> None:
    results = _share(Sharing(workers, _squares, ()), 300, _square)
    assert [square for _pid, square in results] == [i * i for i in range(300)]
    pids = {pid for pid, _square in results}
    assert os.getpid() in pids and len(pids) == workers + 1  # everyone took a share


@pytest.mark.parametrize("fresh", [False, True])
def test_forked_or_fresh_workers(fresh: bool) -> None:
    sharing: Sharing[int, tuple[int, int]] = Sharing(2, _squares, (), fresh=fresh)
    results = _share(sharing, 300, _square)
    assert [s for _p, s in results] == [i * i for i in range(300)]
    assert len({pid for pid, _s in results}) == 3


@pytest.mark.parametrize("fresh", [False, True])
def test_a_workers_exception_is_raised_here(fresh: bool) -> None:
    with pytest.raises(ValueError, match="task 3 refused"):
        _share(Sharing(1, _fail_at, (3,), fresh=fresh), 300, _square)


@pytest.mark.parametrize("fresh", [False, True])
def test_a_worker_that_dies_is_an_error_here(fresh: bool) -> None:
    with pytest.raises((EOFError, OSError)):
        _share(Sharing(1, _die_at, (3,), fresh=fresh), 300, _square)


@pytest.mark.parametrize("fresh", [False, True])
def test_an_error_here_stops_the_workers_at_once(fresh: bool) -> None:
    sharing: Sharing[int, tuple[int, int]] = Sharing(1, _squares, (), fresh=fresh)
    started = time.monotonic()

    def tasks() -> Iterator[int]:
        yield from range(10)
        raise KeyError("while adding")

    with pytest.raises(KeyError):
        try:
            sharing.add(tasks())
        finally:
            sharing.stop()
    assert time.monotonic() - started < 5
    assert all(worker._ended(0) for worker in sharing._workers)
