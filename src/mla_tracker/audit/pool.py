"""Share a list of tasks between this process and worker processes, from both ends.

An audit's parent process has work of its own (the log's leaves and root) besides checking
chains, so the workers take tasks from the front as soon as they are made, and this process
takes them from the back once it is free, running them here, never pickled. The two meet
without either waiting long: a worker gets a few tasks per message while many remain and
one at a time near the end, with one message queued behind the one it is working on.

Compared with concurrent.futures.ProcessPoolExecutor this has no future, manager thread or
queue feeder per task (about half the cost per message), and the tail is one small message
instead of two full batches. A worker's exception is raised here; a worker that dies raises
BrokenPipeError or EOFError here; this process's exception stops the workers at once.
Each worker has a sending and a receiving thread here, so that neither side can block
writing to the other while the other writes too.

Workers are forks of this process, or with `fresh=True` new interpreters running
`python -m mla_tracker.audit.pool`. A fork starts at once but shares this process's memory,
so each page this process writes afterwards (if only a reference count, reading its data) is
copied first; a fresh interpreter costs its start and imports instead, and, unlike
multiprocessing's spawn, never imports the caller's main module again.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

#: Most tasks in one message to a worker (while many remain; fewer near the end).
MOST_PER_MESSAGE = 8


def _serve(inbox: Connection, outbox: Connection, run: Callable[[Any], Any]) -> None:
    """A worker's loop: run each message's tasks, reply with the results; stop on b""."""
    # Ctrl-C reaches the whole process group: the parent handles it and stops the workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            message = inbox.recv_bytes()
        except EOFError:  # the parent is gone
            return
        if not message:
            return
        try:
            reply: tuple[bool, Any] = (True, [run(task) for task in pickle.loads(message)])
        except BaseException as exc:  # raised again in the parent
            reply = (False, exc)
        outbox.send_bytes(pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL))


def _forked(
    conn: Connection, other_end: Connection, init: Callable[..., Callable[[Any], Any]], args: Any
) -> None:
    other_end.close()  # so that this worker sees end of file when the parent goes away
    _serve(conn, conn, init(*args))


def _main() -> None:
    """A fresh worker: `python -m mla_tracker.audit.pool INBOX OUTBOX` (file descriptors)."""
    inbox = Connection(int(sys.argv[1]), writable=False)
    outbox = Connection(int(sys.argv[2]), readable=False)
    init, args = pickle.loads(inbox.recv_bytes())
    _serve(inbox, outbox, init(*args))


class _Worker:
    """One worker process and this side's ends of its pipes."""

    def __init__(self, fresh: bool, init: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self._forked: BaseProcess | None = None
        self._popen: subprocess.Popen[bytes] | None = None
        if not fresh:
            ctx = multiprocessing.get_context("fork")
            mine, theirs = ctx.Pipe()
            self._forked = ctx.Process(target=_forked, args=(theirs, mine, init, args), daemon=True)
            self._forked.start()
            theirs.close()
            self.inbox = self.outbox = mine
            return
        worker_reads, here_writes = os.pipe()
        here_reads, worker_writes = os.pipe()
        # The worker finds this package where this process does.
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self._popen = subprocess.Popen(
            [sys.executable, "-m", "mla_tracker.audit.pool", str(worker_reads), str(worker_writes)],
            pass_fds=(worker_reads, worker_writes),
            stdin=subprocess.DEVNULL,
            env=env,
        )
        os.close(worker_reads)
        os.close(worker_writes)
        self.outbox = Connection(here_writes, readable=False)
        self.inbox = Connection(here_reads, writable=False)
        self.outbox.send_bytes(pickle.dumps((init, args), protocol=pickle.HIGHEST_PROTOCOL))

    def end(self, *, now: bool) -> None:
        """Ask the worker to stop (or stop it `now`), wait for it, close the pipes."""
        if now:
            self._signal(signal.SIGTERM)
        else:
            with contextlib.suppress(OSError):  # a worker that is gone needs no goodbye
                self.outbox.send_bytes(b"")
        if not self._ended(5):
            self._signal(signal.SIGKILL)
            self._ended(5)
        self.outbox.close()
        if self.inbox is not self.outbox:
            self.inbox.close()

    def _signal(self, number: int) -> None:
        if self._forked is not None and number == signal.SIGKILL:
            self._forked.kill()
        elif self._forked is not None:
            self._forked.terminate()
        elif self._popen is not None:
            self._popen.send_signal(number)

    def _ended(self, timeout: float) -> bool:
        if self._forked is not None:
            self._forked.join(timeout)
            return self._forked.exitcode is not None
        assert self._popen is not None
        try:
            self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True


class Sharing(Generic[T, R]):
    """Tasks run by `workers` processes (each running what `init(*args)` returns) and here."""

    def __init__(
        self,
        workers: int,
        init: Callable[..., Callable[[T], R]],
        args: tuple[Any, ...],
        *,
        fresh: bool = False,
    ) -> None:
        self.tasks: list[T] = []
        self.results: dict[int, R] = {}
        self._front = 0  # the next task for a worker
        self._back: int | None = None  # tasks from here on are taken (None: still adding)
        self._cond = threading.Condition()
        self._error: BaseException | None = None
        self._workers = [_Worker(fresh, init, args) for _ in range(workers)]
        # Threads only once every worker is forked (forking a threaded process is unsafe).
        self._threads: list[threading.Thread] = []
        for worker in self._workers:
            sent: queue.SimpleQueue[range | None] = queue.SimpleQueue()
            # One message waits behind the one the worker is on, so that it never idles.
            slots = threading.Semaphore(2)
            for target in (self._send, self._receive):
                thread = threading.Thread(target=target, args=(worker, sent, slots), daemon=True)
                thread.start()
                self._threads.append(thread)

    def add(self, tasks: Iterable[T]) -> None:
        """Add tasks (the workers start on them at once), then close the list."""
        for task in tasks:
            with self._cond:
                self.tasks.append(task)
                self._cond.notify_all()
        with self._cond:
            self._back = len(self.tasks)
            self._cond.notify_all()

    def take_back(self) -> int | None:
        """The last task no worker has taken, now this process's; None when none is left."""
        with self._cond:
            if self._error is not None or self._back is None or self._back <= self._front:
                return None
            self._back -= 1
            return self._back

    def wait(self) -> list[R]:
        """Every task's result, in order, once the workers are done; raise a worker's error."""
        for thread in self._threads:
            thread.join()
        if self._error is not None:
            raise self._error
        return [self.results[index] for index in range(len(self.tasks))]

    def stop(self) -> None:
        """End the workers: politely when they are done, at once otherwise."""
        done = not any(thread.is_alive() for thread in self._threads)
        if not done:
            self._fail(RuntimeError("stopped"))  # wakes a sender waiting for tasks
        for worker in self._workers:
            worker.end(now=not done)
        for thread in self._threads:
            thread.join()

    def _fail(self, exc: BaseException) -> None:
        with self._cond:
            self._error = self._error or exc
            self._cond.notify_all()

    def _take_front(self) -> range:
        with self._cond:
            while True:
                if self._error is not None:
                    return range(0)
                limit = len(self.tasks) if self._back is None else self._back
                if self._front < limit:
                    left = limit - self._front
                    if self._back is None:  # still adding: whatever is there, up to the most
                        count = min(left, MOST_PER_MESSAGE)
                    else:  # a share of what is left, so that both ends meet at about once
                        count = max(1, min(MOST_PER_MESSAGE, left // (4 * len(self._workers))))
                    taken = range(self._front, self._front + count)
                    self._front += count
                    return taken
                if self._back is not None:
                    return range(0)
                self._cond.wait()

    def _send(
        self, worker: _Worker, sent: queue.SimpleQueue[range | None], slots: threading.Semaphore
    ) -> None:
        try:
            while True:
                slots.acquire()
                taken = self._take_front()
                if not taken:
                    return
                message = [self.tasks[index] for index in taken]
                worker.outbox.send_bytes(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))
                sent.put(taken)
        except BaseException as exc:  # raised again by wait()
            self._fail(exc)
        finally:
            sent.put(None)

    def _receive(
        self, worker: _Worker, sent: queue.SimpleQueue[range | None], slots: threading.Semaphore
    ) -> None:
        try:
            while (taken := sent.get()) is not None:
                ok, value = pickle.loads(worker.inbox.recv_bytes())
                slots.release()
                if not ok:
                    raise value
                for index, result in zip(taken, value, strict=True):
                    self.results[index] = result
        except BaseException as exc:  # raised again by wait()
            self._fail(exc)
            slots.release()  # a sender waiting for a slot then sees the failure


if __name__ == "__main__":
    _main()
