"""Streams that hash what passes through them on a worker thread (ciphertext of packages).

SHA-256, read(2) and write(2) release the GIL, so the ciphertext digest is computed beside
the age encryption or decryption running on the caller's thread.
"""

from __future__ import annotations

import contextlib
import hashlib
import queue
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, BinaryIO

from .errors import PackageError

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

ProgressCallback = Callable[[int], None]

_QUEUED = 4  # blocks (about 1 MiB each) in flight to or from the worker thread
_WRITER_BLOCK = 16 * (64 * 1024 + 16) + 4096  # age's output batch, with room to spare


class HashingWriter:
    """Write-only stream that hashes, counts and writes to `raw` on a background thread.

    SHA-256 and file writes release the GIL, so hashing and writing the ciphertext overlap with
    reading, hashing and encrypting the plaintext on the caller's thread. At most `_QUEUED`
    blocks (about 1 MiB each) are in flight. Errors of the writer thread are re-raised on the
    next `write()` or on `finish()`.
    """

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._hasher = hashlib.sha256()
        self.size = 0
        self._queue: queue.SimpleQueue[tuple[bytearray, int] | None] = queue.SimpleQueue()
        # Reused copy buffers: a fresh 1 MiB `bytes` per block costs page faults each time.
        self._free: queue.SimpleQueue[bytearray] = queue.SimpleQueue()
        for _ in range(_QUEUED):
            self._free.put(bytearray(_WRITER_BLOCK))
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="package-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            buf, n = item
            if self._error is None:
                try:
                    with memoryview(buf) as view:
                        self._hasher.update(view[:n])
                        _write_all(self._raw, view[:n])
                except BaseException as exc:  # re-raised on the caller's thread
                    self._error = exc
            if len(buf) == _WRITER_BLOCK:
                self._free.put(buf)  # always, so the producer never blocks forever

    def _check(self) -> None:
        if self._error is not None:
            raise self._error

    def write(self, data: ReadableBuffer) -> int:
        """Queue a copy of `data` to be hashed and written."""
        self._check()
        with memoryview(data) as view:
            n = view.nbytes
            buf = self._free.get() if n <= _WRITER_BLOCK else bytearray(n)
            buf[:n] = view.cast("B")
        self._queue.put((buf, n))
        self.size += n
        return n

    def flush(self) -> None:
        """Nothing to do: `finish()` waits for the writer thread and flushes `raw`."""
        self._check()

    def finish(self) -> None:
        """Wait until everything queued is hashed and written, then flush `raw`."""
        self._stop()
        self._check()
        self._raw.flush()

    def _stop(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def abandon(self) -> None:
        """Stop the writer thread after an error; what it had not written is lost."""
        self._error = self._error or PackageError("sealing was abandoned")
        self._stop()

    def hexdigest(self) -> str:
        """SHA-256 of everything written."""
        return self._hasher.hexdigest()


def _write_all(raw: BinaryIO, block: memoryview) -> None:
    """Write all of `block`, retrying the short writes of raw (unbuffered) streams."""
    view = memoryview(block)
    done = 0
    while done < len(view):
        written = raw.write(view[done:])
        if written is None:  # duck-typed writers that return nothing wrote it all
            break
        if written <= 0:
            raise PackageError("the output stream accepted no data")
        done += written


class HashingReader:
    """Read-only stream over `raw` that hashes everything read, prefetching on a thread.

    A background thread reads `raw` in blocks of about 1 MiB and hashes them (both release
    the GIL) while the caller decrypts and extracts; at most `_QUEUED` blocks are in flight.
    Errors of the reader thread are re-raised by `read()`. Call `close()` when done.
    """

    _BLOCK = 1024 * 1024

    def __init__(self, raw: BinaryIO, progress: ProgressCallback | None) -> None:
        self._raw = raw
        self._hasher = hashlib.sha256()
        self._progress = progress
        self.size = 0  # bytes handed to the caller
        self._block = b""
        self._pos = 0
        self._eof = False
        self._stopping = False
        self._queue: queue.Queue[bytes | BaseException] = queue.Queue(maxsize=_QUEUED)
        self._thread = threading.Thread(target=self._run, name="package-reader", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        item: bytes | BaseException
        while not self._stopping:
            try:
                item = self._raw.read(self._BLOCK)
                if item:
                    self._hasher.update(item)
            except BaseException as exc:  # re-raised on the caller's thread
                item = exc
            self._queue.put(item)
            if not isinstance(item, bytes) or not item:
                return

    def read(self, size: int = -1) -> bytes:
        """Read up to `size` bytes (short reads allowed; b"" at EOF)."""
        if size is None or size < 0:
            parts = []
            while chunk := self.read(self._BLOCK):
                parts.append(chunk)
            return b"".join(parts)
        if self._pos == len(self._block):
            if self._eof:
                return b""
            item = self._queue.get()
            if isinstance(item, BaseException):
                self._eof = True
                raise item
            if not item:
                self._eof = True
                return b""
            self._block, self._pos = item, 0
        take = min(size, len(self._block) - self._pos)
        data = self._block[self._pos : self._pos + take]  # the block itself when whole
        self._pos += take
        self.size += take
        if self._progress is not None:
            self._progress(self.size)
        return data

    def close(self) -> None:
        """Stop and join the reader thread."""
        self._stopping = True
        while self._thread.is_alive():
            with contextlib.suppress(queue.Empty):
                self._queue.get(timeout=0.05)  # unblock a put()
        self._thread.join()

    def hexdigest(self) -> str:
        """SHA-256 of everything read from `raw` (call after EOF and close())."""
        return self._hasher.hexdigest()


# --------------------------------------------------------------------------- sealing
