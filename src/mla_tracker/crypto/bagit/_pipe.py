"""SHA-256 of a large payload file's chunks on a worker thread, over reusable buffers.

hashlib releases the GIL, so hashing a payload file runs beside the age encryption on the
caller's thread: sealing keeps both cores busy instead of one. Chunks are read into a small
pool of preallocated buffers that the worker hands back once hashed, because a fresh 1 MiB
`bytes` per read costs page faults on every allocation (a third of the reading time here).
Small files are hashed inline, where a thread would cost more than it saves.
"""

from __future__ import annotations

import hashlib
import queue
import threading

#: Files at least this large are hashed on a worker thread.
PIPE_THRESHOLD = 4 * 1024 * 1024
_BUFFERS = 8
_BUFFER_SIZE = 1024 * 1024


class HashPipe:
    """A SHA-256 fed from pooled buffers, hashed on a worker thread (or inline)."""

    def __init__(self, *, threaded: bool) -> None:
        self._hasher = hashlib.sha256()
        self._free: queue.SimpleQueue[bytearray] = queue.SimpleQueue()
        self._work: queue.SimpleQueue[tuple[bytearray, int] | None] | None = None
        self._thread: threading.Thread | None = None
        for _ in range(_BUFFERS if threaded else 1):
            self._free.put(bytearray(_BUFFER_SIZE))
        if threaded:
            self._work = queue.SimpleQueue()
            self._thread = threading.Thread(target=self._run, name="bag-hash", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        assert self._work is not None
        while (item := self._work.get()) is not None:
            buf, n = item
            with memoryview(buf) as view:
                self._hasher.update(view[:n])
            if len(buf) == _BUFFER_SIZE:
                self._free.put(buf)

    def buffer(self, size: int) -> bytearray:
        """A buffer of at least `size` bytes to read the next chunk into."""
        if size > _BUFFER_SIZE:
            return bytearray(size)  # never happens with tarfile's 1 MiB copies
        return self._free.get()  # blocks while the worker is behind: bounded memory

    def feed(self, buf: bytearray, n: int) -> None:
        """Hash the first `n` bytes of `buf`; the buffer must not be written until reused."""
        if self._work is None:
            with memoryview(buf) as view:
                self._hasher.update(view[:n])
            if len(buf) == _BUFFER_SIZE:
                self._free.put(buf)
            return
        self._work.put((buf, n))

    def close(self) -> None:
        """Stop the worker once it has hashed everything handed over."""
        if self._thread is not None and self._thread.is_alive():
            assert self._work is not None
            self._work.put(None)
            self._thread.join()

    def hexdigest(self) -> str:
        """The digest of everything handed over."""
        self.close()
        return self._hasher.hexdigest()
