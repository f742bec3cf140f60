"""SHA-256 of a large payload file's chunks on a worker thread, over reusable buffers.

hashlib releases the GIL, so hashing a payload file runs beside the age encryption on the
caller's thread: sealing keeps both cores busy instead of one. Chunks are read into a small
pool of page-aligned buffers (see `crypto._buffers`) that the worker hands back once hashed.
Small files are hashed inline, where a thread would cost more than it saves.
"""

from __future__ import annotations

import hashlib
import queue
import threading

from .._buffers import BufferPool

#: Files at least this large are hashed on a worker thread.
PIPE_THRESHOLD = 4 * 1024 * 1024
_BUFFERS = 8
_BUFFER_SIZE = 1024 * 1024


class HashPipe:
    """A SHA-256 fed from pooled buffers, hashed on a worker thread (or inline)."""

    def __init__(self, *, threaded: bool, size_hint: int = _BUFFER_SIZE) -> None:
        self._hasher = hashlib.sha256()
        # A small file gets one buffer of its own size, not a 1 MiB one.
        self._buffer_size = _BUFFER_SIZE if threaded else max(1, min(size_hint, _BUFFER_SIZE))
        self._pool = BufferPool(_BUFFERS if threaded else 1, self._buffer_size)
        self._work: queue.SimpleQueue[tuple[memoryview, int] | None] | None = None
        self._thread: threading.Thread | None = None
        if threaded:
            self._work = queue.SimpleQueue()
            self._thread = threading.Thread(target=self._run, name="bag-hash", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        assert self._work is not None
        while (item := self._work.get()) is not None:
            buf, n = item
            self._hasher.update(buf[:n])
            self._recycle(buf)

    def _recycle(self, buf: memoryview) -> None:
        if len(buf) == self._buffer_size:
            self._pool.put(buf)

    def buffer(self, size: int) -> memoryview:
        """A buffer of at least `size` bytes to read the next chunk into."""
        if size > self._buffer_size:
            return memoryview(bytearray(size))  # never happens with tarfile's 1 MiB copies
        return self._pool.get()  # blocks while the worker is behind: bounded memory

    def feed(self, buf: memoryview, n: int) -> None:
        """Hash the first `n` bytes of `buf`; the buffer must not be written until reused."""
        if self._work is None:
            self._hasher.update(buf[:n])
            self._recycle(buf)
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
