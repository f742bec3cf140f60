"""Loading the facts a move refers to (domain.request.References) in a few queries."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable

import msgspec
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from ..domain.content import RequestContent
from ..domain.model import AgencyRole, Kind, State, Urgency
from ..domain.request import AgencyFacts, Facts, PackageFacts, References, RequestFacts
from .request_reads import RequestView
from .tables import AgencyRow, PackageRow, RequestRow


def request_facts(row: RequestRow | RequestView) -> RequestFacts:
    """The domain's view of a request projection row."""
    return RequestFacts(
        id=row.id,
        kind=Kind(row.kind),
        state=State(row.state),
        urgency=Urgency(row.urgency),
        requesting_agency=row.requesting_agency,
        requested_agency=row.requested_agency,
        executing_agency=row.executing_agency,
        preserved_until=row.preserved_until,
        linked_request_id=row.linked_request_id,
        conditions_digest=row.conditions_digest,
    )


_NOTHING = References()


async def _agencies(session: AsyncSession, ids: Iterable[str]) -> dict[str, AgencyFacts]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = await session.scalars(select(AgencyRow).where(AgencyRow.id.in_(wanted)))
    return {r.id: AgencyFacts(r.id, AgencyRole(r.role), r.country) for r in rows}


async def _requests(
    session: AsyncSession, ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, RequestFacts]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    query = (
        select(RequestRow)
        .where(RequestRow.id.in_(wanted))
        .options(defer(RequestRow.content, raiseload=True))
    )
    return {r.id: request_facts(r) for r in await session.scalars(query)}


async def _packages(
    session: AsyncSession, request_id: uuid.UUID | None, ids: Iterable[str]
) -> dict[str, PackageFacts]:
    wanted = sorted(set(ids))
    if not wanted or request_id is None:
        return {}
    query = select(PackageRow).where(
        PackageRow.request_id == request_id, PackageRow.package_id.in_(wanted)
    )
    return {
        r.package_id: PackageFacts(r.package_id, r.ciphertext_sha256)
        for r in await session.scalars(query)
    }


async def _content(session: AsyncSession, request_id: uuid.UUID | None) -> RequestContent | None:
    if request_id is None:
        return None
    stored = await session.scalar(select(RequestRow.content).where(RequestRow.id == request_id))
    return None if stored is None else msgspec.convert(stored, RequestContent)


#: The session to read facts with, asked for only when a move refers to something.
Reads = Callable[[], Awaitable[AsyncSession]]


def reads_in(session: AsyncSession) -> Reads:
    """`Reads` for a session already open (a transaction in progress)."""

    async def current() -> AsyncSession:
        return session

    return current


async def load_facts(
    reads: Reads,
    refs: References,
    *,
    request_id: uuid.UUID | None,
    max_package_bytes: int,
    dual_criminality_reservations: frozenset[str] = frozenset(),
) -> Facts:
    """The agencies, requests and (this request's) packages refs names; absent ones left out.

    The agencies of every referenced request are loaded too, since rules compare them.
    Most moves refer to nothing: then no session is asked for.
    """
    if refs == _NOTHING:
        return Facts(
            max_package_bytes=max_package_bytes,
            dual_criminality_reservations=dual_criminality_reservations,
        )
    session = await reads()
    requests = await _requests(session, refs.requests)
    parties = {a for r in requests.values() for a in (r.requesting_agency, r.requested_agency)}
    return Facts(
        agencies=await _agencies(session, refs.agencies | parties),
        requests=requests,
        packages=await _packages(session, request_id, refs.packages),
        max_package_bytes=max_package_bytes,
        content=await _content(session, request_id) if refs.content else None,
        dual_criminality_reservations=dual_criminality_reservations,
    )
