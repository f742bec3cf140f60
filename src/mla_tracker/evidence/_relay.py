"""Worker threads in a row: every job passes through each stage in order, one thread a stage.

The package pipelines hash on one thread and write on the next, so that on two cores the OS
can keep both busy whichever stage is slower that day (SHA-256 and write(2) release the GIL).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

Stage = tuple[str, Callable[[Any], None]]  # (thread name, what it does to each job)


class Relay:
    """Runs `stages` on daemon threads; `put()` jobs in, `stop()` once they have all passed.

    A stage must not raise: it keeps its own errors (as the writers do) so that every later
    job, and the buffers they carry, still reach the end of the row.
    """

    def __init__(self, *stages: Stage) -> None:
        self._queues: list[queue.SimpleQueue[Any]] = [queue.SimpleQueue() for _ in stages]
        self._threads = [
            threading.Thread(target=self._run, args=(i, work), name=name, daemon=True)
            for i, (name, work) in enumerate(stages)
        ]
        for thread in self._threads:
            thread.start()

    def _run(self, index: int, work: Callable[[Any], None]) -> None:
        inbox = self._queues[index]
        outbox = self._queues[index + 1] if index + 1 < len(self._queues) else None
        try:
            while (job := inbox.get()) is not None:
                work(job)
                if outbox is not None:
                    outbox.put(job)
        finally:
            if outbox is not None:
                outbox.put(None)

    def put(self, job: Any) -> None:
        """Hand a job to the first stage."""
        self._queues[0].put(job)

    def stop(self) -> None:
        """Wait until every job put so far has passed every stage (again: no-op)."""
        if self._threads[0].is_alive():
            self._queues[0].put(None)
        for thread in self._threads:
            thread.join()
