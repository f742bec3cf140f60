"""Evidence packages: announced by a signed delivery, uploaded as ciphertext, downloaded by
parties, every transfer recorded as a server-signed custody assertion."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..crypto.custody import sign_custody
from ..crypto.statement import GENESIS
from ..domain.request import PackageAnnounced
from ..storage.blobs import BlobMissing, BlobTooLarge
from ..storage.db import transaction
from ..storage.tables import CustodyRow, PackageRow, RequestRow
from . import log
from .context import Context
from .errors import Forbidden, NotFound, WorkflowError
from .principals import Principal
from .queries import visible_request


class NotUploaded(WorkflowError):
    """The package was announced but its ciphertext has not arrived yet."""

    status: ClassVar[int] = 409
    problem: ClassVar[str] = "package-not-uploaded"
    title: ClassVar[str] = "Package not uploaded yet"


class RangeNotSatisfiable(WorkflowError):
    """The requested byte range lies outside the package."""

    status: ClassVar[int] = 416
    problem: ClassVar[str] = "range-not-satisfiable"
    title: ClassVar[str] = "Range not satisfiable"

    def __init__(self, size: int) -> None:
        super().__init__(f"the package has {size} bytes")
        self.size = size

    def extra(self) -> dict[str, Any]:
        """The package's size, so the client can ask again."""
        return {"size": self.size}

    def headers(self) -> dict[str, str]:
        """RFC 9110 §15.5.17: a 416 names the current length."""
        return {"Content-Range": f"bytes */{self.size}"}


class AlreadyStored(WorkflowError):
    """The package was uploaded before, and these bytes are not the ones stored."""

    status: ClassVar[int] = 409
    problem: ClassVar[str] = "package-already-stored"
    title: ClassVar[str] = "Package already stored"


@dataclass(frozen=True)
class Download:
    """What to stream for a download, after its custody assertion was recorded."""

    package: PackageRow
    start: int
    end: int


def register_package(
    session: AsyncSession,
    request_id: uuid.UUID,
    announced: PackageAnnounced,
    statement_digest: str,
    now: datetime,
) -> None:
    """Inside the append transaction: record a package a delivery statement announced."""
    session.add(
        PackageRow(
            request_id=request_id,
            package_id=announced.package_id,
            ciphertext_sha256=announced.ciphertext_sha256,
            ciphertext_size=announced.ciphertext_size,
            delivered_by=announced.delivered_by,
            statement_digest=statement_digest,
            delivered_at=now,
            uploaded_at=None,
            custody_seq=0,
            custody_head=GENESIS,
            conditions_digest=announced.conditions_digest,
        )
    )


async def _party_request(
    session: AsyncSession, principal: Principal, request_id: uuid.UUID
) -> RequestRow:
    if principal.agency_id is None:
        raise Forbidden("the operator cannot handle evidence")
    return await visible_request(session, principal, request_id)


async def _package(
    session: AsyncSession, request_id: uuid.UUID, package_id: str, *, lock: bool = False
) -> PackageRow:
    query = select(PackageRow).where(
        PackageRow.request_id == request_id, PackageRow.package_id == package_id
    )
    if lock:
        query = query.with_for_update()
    package = (await session.scalars(query)).one_or_none()
    if package is None:
        raise NotFound(f"no package '{package_id}' on request {request_id}")
    return package


async def _custody(
    ctx: Context,
    session: AsyncSession,
    package: PackageRow,
    event: str,
    agency: str,
    byte_range: tuple[int, int] | None = None,
) -> None:
    if ctx.server_key is None:
        raise RuntimeError("the service was started without a server key")
    now = ctx.clock()
    seq = package.custody_seq + 1
    envelope, dig = sign_custody(
        ctx.server_key,
        request_id=package.request_id,
        package_id=package.package_id,
        seq=seq,
        prev=package.custody_head,
        event=event,
        agency=agency,
        ciphertext_sha256=package.ciphertext_sha256,
        ciphertext_size=package.ciphertext_size,
        byte_range=byte_range,
        at=now,
    )
    session.add(
        CustodyRow(
            request_id=package.request_id,
            package_id=package.package_id,
            seq=seq,
            event=event,
            agency_id=agency,
            at=now,
            digest=dig,
            envelope=envelope.to_json(),
        )
    )
    await log.queue(session, envelope, ctx, request_id=package.request_id)
    package.custody_seq = seq
    package.custody_head = dig


async def upload(
    ctx: Context,
    principal: Principal,
    request_id: uuid.UUID,
    package_id: str,
    chunks: AsyncIterable[bytes],
) -> tuple[PackageRow, bool]:
    """Store a package's ciphertext if it matches its delivery; return (package, stored now)."""
    if ctx.blobs is None:
        raise RuntimeError("the service was started without a blob store")
    async with transaction(ctx.sessions, write=False) as session:
        await _party_request(session, principal, request_id)
        package = await _package(session, request_id, package_id)
    if package.delivered_by != principal.agency_id:
        raise Forbidden("only the agency that delivered a package uploads it")
    if package.uploaded_at is not None:
        # Read the bytes anyway: an identical retry (a client that lost our answer) is a
        # success, anything else must not look like one. Nothing is stored or recorded.
        same = await ctx.blobs.matches(
            chunks,
            expected_sha256=package.ciphertext_sha256,
            expected_size=package.ciphertext_size,
        )
        if not same:
            raise AlreadyStored(
                f"package '{package_id}' is already stored, with other bytes; nothing changed"
            )
        return package, False
    if package.ciphertext_size > ctx.policy.max_package_bytes:  # the limit was lowered since
        raise BlobTooLarge(
            f"package is larger than this hub accepts ({ctx.policy.max_package_bytes} bytes)"
        )
    await ctx.blobs.put(
        chunks,
        expected_sha256=package.ciphertext_sha256,
        expected_size=package.ciphertext_size,
    )
    async with transaction(ctx.sessions, write=True) as session:
        package = await _package(session, request_id, package_id, lock=True)
        if package.uploaded_at is not None:
            return package, False
        package.uploaded_at = ctx.clock()
        await _custody(ctx, session, package, "uploaded", principal.agency_id or "")
    return package, True


async def start_download(
    ctx: Context,
    principal: Principal,
    request_id: uuid.UUID,
    package_id: str,
    byte_range: tuple[int | None, int | None] | None,
) -> Download:
    """Authorise a download, resolve its byte range and record it in the custody trail.

    `byte_range` is (first, last) of an HTTP Range: (n, None) from n on, (None, n) the last n.
    """
    if ctx.blobs is None:
        raise RuntimeError("the service was started without a blob store")
    if principal.is_auditor:
        raise Forbidden("auditors verify metadata; they never read evidence content")
    async with transaction(ctx.sessions, write=True) as session:
        await _party_request(session, principal, request_id)
        package = await _package(session, request_id, package_id, lock=True)
        if package.uploaded_at is None:
            raise NotUploaded(f"package '{package_id}' has not been uploaded yet")
        try:
            ctx.blobs.stat(package.ciphertext_sha256)
        except BlobMissing as exc:
            raise NotUploaded(f"package '{package_id}' is missing from the blob store") from exc
        size = package.ciphertext_size
        start, end = 0, size - 1
        if byte_range is not None:
            first, last = byte_range
            if first is None:
                start = max(size - (last or 0), 0)
            else:
                start = first
                end = size - 1 if last is None else min(last, size - 1)
            if start > end or start >= size or (first is None and not last):
                raise RangeNotSatisfiable(size)
        await _custody(
            ctx,
            session,
            package,
            "downloaded",
            principal.agency_id or "",
            (start, end) if byte_range is not None else None,
        )
    return Download(package, start, end)


async def packages_of(
    ctx: Context, principal: Principal, request_id: uuid.UUID
) -> Sequence[PackageRow]:
    """The packages delivered on a request (parties and auditors)."""
    async with transaction(ctx.sessions, write=False) as session:
        await _party_request(session, principal, request_id)
        query = (
            select(PackageRow)
            .where(PackageRow.request_id == request_id)
            .order_by(PackageRow.delivered_at, PackageRow.package_id)
        )
        return (await session.scalars(query)).all()


async def custody_trail(
    ctx: Context, principal: Principal, request_id: uuid.UUID, package_id: str
) -> Sequence[CustodyRow]:
    """A package's custody assertions in order (parties and auditors)."""
    async with transaction(ctx.sessions, write=False) as session:
        await _party_request(session, principal, request_id)
        await _package(session, request_id, package_id)
        query = (
            select(CustodyRow)
            .where(CustodyRow.request_id == request_id, CustodyRow.package_id == package_id)
            .order_by(CustodyRow.seq)
        )
        return (await session.scalars(query)).all()
