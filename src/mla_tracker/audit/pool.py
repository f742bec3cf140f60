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
"""

from __future__ import annotations

import contextlib
import multiprocessing
import pickle
import queue
import threading
from collections.abc import Callable, Iterable
from multiprocessing.connection import Connection
from multiprocessing.context import DefaultContext, ForkContext, ForkServerContext, SpawnContext
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

#: Most tasks in one message to a worker (while many remain; fewer near the end).
MOST_PER_MESSAGE = 8


def _serve(
    conn: Connection, other_end: Connection, init: Callable[..., Callable[[Any], Any]], args: Any
) -> None:
    """A worker: run each message's tasks with what `init(*args)` returns; stop on b""."""
    other_end.close()  # so that this worker sees end of file when the parent goes away
    run = init(*args)
    while True:
        try:
            message = conn.recv_bytes()
        except EOFError:
            return
        if not message:
            return
        try:
            reply: tuple[bool, Any] = (True, [run(task) for task in pickle.loads(message)])
        except BaseException as exc:  # raised again in the parent
            reply = (False, exc)
        conn.send_bytes(pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL))


class Sharing(Generic[T, R]):
    """Tasks run by `workers` processes (each running what `init(*args)` returns) and here."""

    def __init__(
        self,
        workers: int,
        init: Callable[..., Callable[[T], R]],
        args: tuple[Any, ...],
        context: DefaultContext | ForkContext | ForkServerContext | SpawnContext | None = None,
    ) -> None:
        self.tasks: list[T] = []
        self.results: dict[int, R] = {}
        self._front = 0  # the next task for a worker
        self._back: int | None = None  # tasks from here on are taken (None: still adding)
        self._cond = threading.Condition()
        self._error: BaseException | None = None
        ctx = context or multiprocessing.get_context()
        self._processes = []
        self._conns = []
        for _ in range(workers):
            mine, theirs = ctx.Pipe()
            process = ctx.Process(target=_serve, args=(theirs, mine, init, args), daemon=True)
            process.start()
            theirs.close()
            self._processes.append(process)
            self._conns.append(mine)
        # Threads only once every worker is forked (forking a threaded process is unsafe).
        self._threads: list[threading.Thread] = []
        for conn in self._conns:
            sent: queue.SimpleQueue[range | None] = queue.SimpleQueue()
            # One message waits behind the one the worker is on, so that it never idles.
            slots = threading.Semaphore(2)
            for target in (self._send, self._receive):
                thread = threading.Thread(target=target, args=(conn, sent, slots), daemon=True)
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
        for conn, process in zip(self._conns, self._processes, strict=True):
            if done:
                with contextlib.suppress(OSError):  # a worker that is gone needs no goodbye
                    conn.send_bytes(b"")
            else:
                process.terminate()
        for process in self._processes:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join()
        for thread in self._threads:
            thread.join()
        for conn in self._conns:
            conn.close()

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
                        count = max(1, min(MOST_PER_MESSAGE, left // (4 * len(self._conns))))
                    taken = range(self._front, self._front + count)
                    self._front += count
                    return taken
                if self._back is not None:
                    return range(0)
                self._cond.wait()

    def _send(
        self, conn: Connection, sent: queue.SimpleQueue[range | None], slots: threading.Semaphore
    ) -> None:
        try:
            while True:
                slots.acquire()
                taken = self._take_front()
                if not taken:
                    return
                message = [self.tasks[index] for index in taken]
                conn.send_bytes(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))
                sent.put(taken)
        except BaseException as exc:  # raised again by wait()
            self._fail(exc)
        finally:
            sent.put(None)

    def _receive(
        self, conn: Connection, sent: queue.SimpleQueue[range | None], slots: threading.Semaphore
    ) -> None:
        try:
            while (taken := sent.get()) is not None:
                ok, value = pickle.loads(conn.recv_bytes())
                slots.release()
                if not ok:
                    raise value
                for index, result in zip(taken, value, strict=True):
                    self.results[index] = result
        except BaseException as exc:  # raised again by wait()
            self._fail(exc)
            slots.release()  # a sender waiting for a slot then sees the failure
