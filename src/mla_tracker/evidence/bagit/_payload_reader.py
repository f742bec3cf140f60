"""Reading one payload file for sealing: hashed, counted, never beyond its measured size.

A large file is read and hashed on a worker thread (`HashingReader`: pooled, page-aligned
2 MiB blocks), so that the caller's thread only tars and encrypts: on two cores the read and
SHA-256 of the payload then overlap with ChaCha20-Poly1305 instead of queueing behind it.
Small files are read and hashed inline, where a thread would cost more than it saves.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

from .._buffers import aligned_buffer
from .._hashing_streams import HashingReader
from .errors import SourceError

#: Files at least this large are read and hashed on a worker thread.
PREFETCH_THRESHOLD = 4 * 1024 * 1024
#: What tarfile asks `read()` for at a time when it copies a payload file into the archive:
#: the prefetching reader's block size, so that each read is one whole block, no copy.
COPY_CHUNK = HashingReader.BLOCK


class _BoundedFile:
    """A file descriptor read with `readinto`, ending after `limit` bytes."""

    def __init__(self, fd: int, limit: int) -> None:
        self._fd = fd
        self._left = limit

    def readinto(self, buffer: memoryview) -> int:
        if self._left <= 0:
            return 0
        n = os.readv(self._fd, [buffer[: self._left]])
        self._left -= n
        return n


class PayloadReader:
    """tarfile's copy source for one payload file: `read(n)` returns exactly `n` bytes.

    The view returned is valid until the next `read()` (tarfile writes it out at once). A
    file that comes up short of `expected` is refused with `SourceError`.
    """

    def __init__(
        self, fd: int, expected: int, label: Path, progress: Callable[[int], None]
    ) -> None:
        self._fd = fd
        self._expected = expected
        self._label = label
        self._progress = progress
        self.count = 0
        self._hasher = hashlib.sha256()
        self._prefetch: HashingReader | None = None
        if expected >= PREFETCH_THRESHOLD:
            self._prefetch = HashingReader(_BoundedFile(fd, expected), None)  # type: ignore[arg-type]
            self._buffer = memoryview(b"")
        else:
            self._buffer = aligned_buffer(min(max(expected, 1), COPY_CHUNK))
        self._stitch: memoryview | None = None

    def _shrank(self) -> SourceError:
        return SourceError(
            f"{self._label}: file changed while sealing "
            f"(it shrank below the {self._expected} bytes measured)"
        )

    def read(self, size: int = -1) -> memoryview:
        """Read exactly `size` bytes (all that is left if negative), up to the measured size."""
        remaining = self._expected - self.count
        size = remaining if size < 0 else min(size, remaining)
        view = self._read_prefetched(size) if self._prefetch else self._read_inline(size)
        self.count += size
        self._progress(size)
        return view

    def _read_inline(self, size: int) -> memoryview:
        buf = self._buffer if size <= len(self._buffer) else memoryview(bytearray(size))
        view = buf[:size]
        got = 0
        while got < size:
            n = os.readv(self._fd, [view[got:]])
            if not n:
                raise self._shrank()
            got += n
        self._hasher.update(view)
        return view

    def _read_prefetched(self, size: int) -> memoryview:
        assert self._prefetch is not None
        first = self._prefetch.read(size)
        if len(first) == size:
            return memoryview(first)  # the usual case: tarfile's reads match the blocks
        if size and not first:
            raise self._shrank()
        # A read that straddles two blocks (a short read from the kernel): stitch a copy.
        if self._stitch is None or len(self._stitch) < size:
            self._stitch = memoryview(bytearray(size))
        out = self._stitch[:size]
        got = len(first)
        out[:got] = first
        while got < size:
            more = self._prefetch.read(size - got)
            if not more:
                raise self._shrank()
            out[got : got + len(more)] = more
            got += len(more)
        return out

    def hexdigest(self) -> str:
        """SHA-256 of the file as read (call after reading all of it)."""
        if self._prefetch is not None:
            self.close()
            return self._prefetch.hexdigest()
        return self._hasher.hexdigest()

    def close(self) -> None:
        """Stop the prefetching thread, if any."""
        if self._prefetch is not None:
            self._prefetch.close()
