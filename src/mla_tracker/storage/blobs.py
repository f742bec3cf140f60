"""Content-addressed blob store on the filesystem: ciphertext only, written atomically.

A blob is streamed into `tmp/` while it is hashed and counted, checked against the digest
and size the delivery statement signed, fsynced, then renamed to `sha256/ab/cd/<hex>`.
A reader never sees a partial blob; a failed or interrupted write leaves nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from ..errors import MlaError

CHUNK = 1024 * 1024


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


class FileBlobStore:
    """Blobs as files under one root folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "tmp").mkdir(parents=True, exist_ok=True)
        (root / "sha256").mkdir(parents=True, exist_ok=True)

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

    async def put(
        self, chunks: AsyncIterable[bytes], *, expected_sha256: str, expected_size: int
    ) -> StoredBlob:
        """Stream chunks in; keep them only if digest and size are exactly as expected."""
        tmp = self.root / "tmp" / f"{uuid.uuid4().hex}.part"
        digest = hashlib.sha256()
        size = 0
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb", buffering=0) as out:
                async for chunk in chunks:
                    if not chunk:
                        continue
                    size += len(chunk)
                    if size > expected_size:
                        raise BlobTooLarge(f"more than the announced {expected_size} bytes arrived")
                    digest.update(chunk)
                    out.write(chunk)
                if size != expected_size:
                    raise BlobMismatch(
                        f"received {size} bytes, the delivery statement says {expected_size}"
                    )
                if digest.hexdigest() != expected_sha256:
                    raise BlobMismatch(
                        f"received bytes hash to {digest.hexdigest()}, the delivery statement "
                        f"says {expected_sha256}"
                    )
                await asyncio.to_thread(os.fsync, out.fileno())
            final = self.path_of(expected_sha256)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, final)
            return StoredBlob(expected_sha256, size, final)
        finally:
            tmp.unlink(missing_ok=True)

    async def read(self, sha256: str, start: int, end: int) -> AsyncIterator[bytes]:
        """Yield bytes start..end (inclusive) of a blob."""
        path = self.stat(sha256).path
        with path.open("rb") as fh:
            fh.seek(start)
            left = end - start + 1
            while left > 0:
                chunk = fh.read(min(CHUNK, left))
                if not chunk:
                    return
                left -= len(chunk)
                yield chunk
