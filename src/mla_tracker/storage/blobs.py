"""Content-addressed blob store on the filesystem: ciphertext only, written atomically.

A blob is streamed into `tmp/` while it is hashed and counted, checked against the digest
and size the delivery statement signed, fsynced, then renamed to `sha256/ab/cd/<hex>`.
A reader never sees a partial blob; a failed write leaves nothing, and the `.part` file of
a write interrupted by a crash (`kill -9`, power loss) is removed at the next start.

File I/O and hashing run in worker threads, one chunk ahead of the event loop, so a 64 GiB
transfer never blocks other requests; folders are made owner-only (0700).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import fcntl
import hashlib
import os
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from ..errors import MlaError

CHUNK = 1024 * 1024
#: A few threads bound the disk work of concurrent transfers; each keeps one chunk in flight.
_IO = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="mla-blob-io")


class BlobError(MlaError):
    """Base of blob store errors."""

    status: ClassVar[int] = 422
    problem: ClassVar[str] = "package-error"
    title: ClassVar[str] = "Package store error"


class BlobMismatch(BlobError):
    """The bytes received are not the bytes the delivery statement announced."""

    status: ClassVar[int] = 422
    problem: ClassVar[str] = "package-mismatch"
    title: ClassVar[str] = "Package does not match its delivery"


class BlobTooLarge(BlobError):
    """More bytes arrived than announced or allowed."""

    status: ClassVar[int] = 413
    problem: ClassVar[str] = "package-too-large"
    title: ClassVar[str] = "Package too large"


class BlobMissing(BlobError):
    """No blob with that digest."""

    status: ClassVar[int] = 409
    problem: ClassVar[str] = "package-missing"
    title: ClassVar[str] = "Package missing"


@dataclass(frozen=True)
class StoredBlob:
    """A blob at rest."""

    sha256: str
    size: int
    path: Path


@dataclass(frozen=True)
class Received:
    """What a stream of chunks held: its length and SHA-256."""

    size: int
    sha256: str


class _Pipeline:
    """Runs one job at a time in a worker thread while the event loop receives the next."""

    def __init__(self) -> None:
        self.pending: concurrent.futures.Future[object] | None = None

    async def submit(self, job: Callable[[], object]) -> None:
        await self.drain()
        self.pending = _IO.submit(job)

    async def drain(self) -> None:
        if self.pending is not None:
            pending, self.pending = self.pending, None
            await asyncio.wrap_future(pending)

    def settle(self) -> None:
        """On the error path: never close a file a worker still writes to."""
        if self.pending is not None and not self.pending.cancel():
            # Waits at most for one chunk's write; the loop is blocked only this long.
            concurrent.futures.wait([self.pending])
        self.pending = None


async def _consume(
    chunks: AsyncIterable[bytes], limit: int, sink: Callable[[bytes], None] | None
) -> Received:
    """Hash (and hand to `sink`) chunks in a worker thread; BlobTooLarge past `limit` bytes."""
    digest = hashlib.sha256()
    size = 0
    buffer: list[bytes] = []
    buffered = 0
    pipeline = _Pipeline()

    def job(data: bytes) -> Callable[[], None]:
        def run() -> None:
            digest.update(data)  # releases the GIL: hashing overlaps the receiving
            if sink is not None:
                sink(data)

        return run

    try:
        async for chunk in chunks:
            if not chunk:
                continue
            size += len(chunk)
            if size > limit:
                raise BlobTooLarge(f"more than the announced {limit} bytes arrived")
            buffer.append(chunk)
            buffered += len(chunk)
            if buffered >= CHUNK:
                await pipeline.submit(job(b"".join(buffer)))
                buffer, buffered = [], 0
        if buffer:
            await pipeline.submit(job(b"".join(buffer)))
        await pipeline.drain()
    finally:
        pipeline.settle()
    return Received(size, digest.hexdigest())


def _check(received: Received, sha256: str, size: int) -> None:
    if received.size != size:
        raise BlobMismatch(f"received {received.size} bytes, the delivery statement says {size}")
    if received.sha256 != sha256:
        raise BlobMismatch(
            f"received bytes hash to {received.sha256}, the delivery statement says {sha256}"
        )


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class FileBlobStore:
    """Blobs as files under one root folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        for folder in (root, root / "tmp", root / "sha256"):
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)

    def path_of(self, sha256: str) -> Path:
        """Where a blob with this digest lives (whether or not it exists)."""
        return self.root / "sha256" / sha256[:2] / sha256[2:4] / sha256

    def stat(self, sha256: str) -> StoredBlob:
        """The stored blob, or BlobMissing."""
        path = self.path_of(sha256)
        try:
            size = path.stat().st_size
        except FileNotFoundError as exc:
            raise BlobMissing(f"no blob {sha256}") from exc
        return StoredBlob(sha256, size, path)

    def remove_stale_parts(self) -> int:
        """Delete `tmp/*.part` files no live process is writing (left by a crash); their count.

        A writer holds an exclusive flock on its `.part` for as long as it writes, and the
        kernel drops the lock when the process dies, so another process sharing this folder
        keeps its uploads in progress.
        """
        removed = 0
        for part in (self.root / "tmp").glob("*.part"):
            try:
                fd = os.open(part, os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live upload
            else:
                part.unlink(missing_ok=True)
                removed += 1
            finally:
                os.close(fd)
        return removed

    def _open_part(self) -> tuple[Path, int]:
        while True:
            tmp = self.root / "tmp" / f"{uuid.uuid4().hex}.part"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                # A cleaner may have removed the file between open and lock: start again.
                if os.stat(tmp).st_ino == os.fstat(fd).st_ino:
                    return tmp, fd
            except FileNotFoundError:
                pass
            os.close(fd)

    def _commit(self, tmp: Path, fd: int, sha256: str) -> Path:
        os.fsync(fd)
        final = self.path_of(sha256)
        final.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.replace(tmp, final)
        return final

    async def put(
        self, chunks: AsyncIterable[bytes], *, expected_sha256: str, expected_size: int
    ) -> StoredBlob:
        """Stream chunks in; keep them only if digest and size are exactly as expected."""
        tmp, fd = await asyncio.to_thread(self._open_part)
        try:
            received = await _consume(chunks, expected_size, lambda data: _write_all(fd, data))
            _check(received, expected_sha256, expected_size)
            final = await asyncio.to_thread(self._commit, tmp, fd, expected_sha256)
            return StoredBlob(expected_sha256, received.size, final)
        finally:
            os.close(fd)
            tmp.unlink(missing_ok=True)

    async def matches(
        self, chunks: AsyncIterable[bytes], *, expected_sha256: str, expected_size: int
    ) -> bool:
        """Whether the chunks are exactly the expected bytes; reads them, stores nothing."""
        try:
            received = await _consume(chunks, expected_size, None)
        except BlobTooLarge:
            return False
        return received == Received(expected_size, expected_sha256)

    async def read(self, sha256: str, start: int, end: int) -> AsyncIterator[bytes]:
        """Yield bytes start..end (inclusive) of a blob, reading one chunk ahead in a thread."""
        path = self.stat(sha256).path
        fd = await asyncio.to_thread(os.open, path, os.O_RDONLY)
        position, left = start, end - start + 1
        pending: concurrent.futures.Future[bytes] | None = None
        try:
            if left > 0:
                pending = _IO.submit(os.pread, fd, min(CHUNK, left), position)
            while pending is not None:
                chunk = await asyncio.wrap_future(pending)
                pending = None
                if not chunk:
                    return
                position += len(chunk)
                left -= len(chunk)
                if left > 0:
                    pending = _IO.submit(os.pread, fd, min(CHUNK, left), position)
                yield chunk
        finally:
            if pending is not None and not pending.cancel():
                with contextlib.suppress(Exception):
                    concurrent.futures.wait([pending])
            os.close(fd)
