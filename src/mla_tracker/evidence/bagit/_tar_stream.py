"""Low-copy streaming of a tar archive into files, for extraction.

`TarCursor` reads the (decrypted) tar stream into a few page-aligned 1 MiB batches and hands
out views of member data without copying; `PayloadWriter` hashes those views and writes them
to the extracted files on worker threads (SHA-256 and write(2) release the GIL). tarfile's
own stream mode copies every byte several times through bytes concatenation, which cost more
than the decryption itself.
"""

from __future__ import annotations

import contextlib
import functools
import os
from typing import Any, BinaryIO

from .._buffers import BufferPool, read_into, write_all
from .._relay import Relay

_BATCH = 1024 * 1024
#: Batches in use at once: one being parsed, the rest queued for or being written.
_BATCHES = 4


class TarCursor:
    """Sequential reader over a tar stream, in pooled batches, that knows its offset.

    `view()` returns data without copying; a view handed to `PayloadWriter.write` stays valid
    because a batch goes back to the pool only through `PayloadWriter.release`, after every
    write queued before it. `read()` copies (headers). `readinto` of `src` returning 0 is the
    end of the stream; a short read is not (the age decryptor releases authenticated data
    first and raises the error on the next call, which must therefore happen).
    """

    def __init__(self, src: BinaryIO, writer: PayloadWriter) -> None:
        self._src = src
        self._writer = writer
        self._batch: memoryview | None = None
        self._filled = 0
        self._pos = 0
        self._offset = 0
        self._eof = False

    def tell(self) -> int:
        """Bytes of the stream consumed so far."""
        return self._offset

    def _fill(self, batch: memoryview) -> int:
        got = 0
        while got < len(batch):
            n = read_into(self._src, batch[got:])
            if not n:
                self._eof = True
                break
            got += n
        return got

    def _advance(self) -> bool:
        """Move to the next batch; False at the end of the stream."""
        if self._batch is not None:
            self._writer.release(self._batch)
            self._batch = None
        if self._eof:
            return False
        batch = self._writer.pool.get()
        try:
            filled = self._fill(batch)
        except BaseException:
            self._writer.release(batch)
            raise
        if not filled:
            self._writer.release(batch)
            return False
        self._batch, self._filled, self._pos = batch, filled, 0
        return True

    def view(self, limit: int) -> memoryview:
        """Up to `limit` bytes (at least one unless the stream ended) without copying."""
        if self._pos == self._filled and not self._advance():
            return memoryview(b"")
        assert self._batch is not None
        n = min(limit, self._filled - self._pos)
        data = self._batch[self._pos : self._pos + n]
        self._pos += n
        self._offset += n
        return data

    def read(self, size: int) -> bytes:
        """Up to `size` bytes as a copy, short only at the end of the stream."""
        parts: list[bytes] = []
        while size > 0:
            chunk = self.view(size)
            if not chunk:
                break
            parts.append(chunk.tobytes())
            size -= len(chunk)
        return b"".join(parts)

    def skip(self, size: int) -> int:
        """Discard up to `size` bytes; return how many were there."""
        done = 0
        while done < size and (chunk := self.view(size - done)):
            done += len(chunk)
        return done

    def close(self) -> None:
        """Give the current batch back (through the writer, after its pending writes)."""
        if self._batch is not None:
            self._writer.release(self._batch)
            self._batch = None


class PayloadWriter:
    """Hashes, then writes, extracted file data on two worker threads, in the order queued.

    Each job passes through a hashing thread and then a writing thread, so SHA-256 of one
    view overlaps with the kernel's copy of the previous one, and both with decryption on
    the caller's thread: on two cores the OS balances three busy threads better than two
    lopsided ones (which is lopsided depends on how fast the VM's page cache is that day).
    The first error (a full disk, say) is kept: later writes are skipped, files are still
    closed, and the error is raised by the next `write` or by `finish`. Batches handed to
    `release` return to `pool` once everything queued before them is done.
    """

    def __init__(self) -> None:
        self.pool = BufferPool(_BATCHES, _BATCH)
        self._error: BaseException | None = None
        # Jobs: ("write", fd, hasher, view) | ("close", fd, mtime) | ("release", batch)
        self._relay = Relay(("bag-extract-hash", self._hash), ("bag-extract-write", self._write))

    def _hash(self, job: tuple[Any, ...]) -> None:
        if job[0] == "write":
            job[2].update(job[3])

    def _write(self, job: tuple[Any, ...]) -> None:
        kind = job[0]
        if kind == "release":
            self.pool.put(job[1])
        elif kind == "write":
            if self._error is None:
                try:
                    write_all(functools.partial(os.write, job[1]), job[3])
                except BaseException as exc:  # re-raised on the caller's thread
                    self._error = exc
        else:  # "close": always, so no descriptor leaks after an error
            _, fd, mtime = job
            if self._error is None:
                # A timestamp the platform cannot represent is not worth refusing for.
                with contextlib.suppress(OSError, OverflowError, ValueError, NotImplementedError):
                    os.utime(fd, (mtime, mtime))
            try:
                os.close(fd)
            except OSError as exc:
                self._error = self._error or exc

    def _check(self) -> None:
        if self._error is not None:
            raise self._error

    def write(self, fd: int, hasher: Any, data: memoryview) -> None:
        """Queue `data` to be hashed into `hasher` and written to `fd`."""
        self._check()
        self._relay.put(("write", fd, hasher, data))

    def close_file(self, fd: int, mtime: float) -> None:
        """Queue setting the file's modification time and closing it."""
        self._relay.put(("close", fd, mtime))

    def release(self, batch: memoryview) -> None:
        """Queue `batch`'s return to the pool, after every write queued before it."""
        self._relay.put(("release", batch))

    def finish(self) -> None:
        """Wait until everything queued is done; raise the first error, if any."""
        self.stop()
        self._check()

    def stop(self) -> None:
        """Wait for the workers to finish what is queued (errors are kept, not raised)."""
        self._relay.stop()
