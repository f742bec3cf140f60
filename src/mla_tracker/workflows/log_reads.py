"""Reading the transparency log: checkpoints, proofs and entries, each for whom it is meant.

Checkpoints (with the witnesses' cosignatures) and consistency proofs carry no data of any
request: anyone may read them (a witness needs nothing else). Entries and inclusion proofs
name a request's statements: auditors read all, a party the entries of its own requests,
everyone the key events (the key directory is public). Everyone else gets 404, as for
requests.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from ..crypto import merkle
from ..storage.db import transaction
from ..storage.log_batches import load_nodes
from ..storage.log_tables import LogCheckpointRow, LogCosignatureRow, LogEntryRow
from ..storage.tables import RequestRow
from .context import Context
from .errors import InvalidQuery, NotFound
from .principals import Principal

#: Most entries one range read returns.
MAX_RANGE = 1000


@dataclass(frozen=True)
class Inclusion:
    """An entry with its inclusion proof in the tree of one size."""

    entry: LogEntryRow
    size: int
    proof: Sequence[bytes]


async def checkpoint_note(ctx: Context, size: int | None = None, *, witnessed: bool = False) -> str:
    """A checkpoint's signed note (latest, of `size`, or the latest a witness cosigned), with
    every stored witness cosignature line appended: a signed note with several signatures."""
    async with transaction(ctx.sessions, write=False) as session:
        if size is None and witnessed:
            size = await session.scalar(select(func.max(LogCosignatureRow.size)))
            if size is None:
                raise NotFound("no checkpoint is cosigned by a witness yet")
        if size is None:
            row = await session.scalar(
                select(LogCheckpointRow).order_by(LogCheckpointRow.size.desc()).limit(1)
            )
            if row is None:
                raise NotFound("the log has no checkpoint yet")
        else:
            row = await session.get(LogCheckpointRow, size)
            if row is None:
                raise NotFound(f"no checkpoint of size {size}")
        lines = await session.scalars(
            select(LogCosignatureRow.line)
            .where(LogCosignatureRow.size == row.size)
            .order_by(LogCosignatureRow.witness_name, LogCosignatureRow.witness_key)
        )
        # The log's own signature stays first; signed-note verifiers skip lines of keys they
        # do not know, so a client that knows no witness reads the note as before.
        return row.note + "".join(lines)


def _own_requests(agency_id: str) -> object:
    return select(RequestRow.id).where(
        or_(
            RequestRow.requesting_agency == agency_id,
            RequestRow.requested_agency == agency_id,
            RequestRow.executing_agency == agency_id,
        )
    )


def _visible(principal: Principal) -> object | None:
    """A filter on log entries for this reader; None means all (auditors)."""
    if principal.is_auditor:
        return None
    if principal.agency_id is None:  # the operator: key events only
        return LogEntryRow.kind == "key_event"
    return or_(
        LogEntryRow.kind == "key_event",
        LogEntryRow.request_id.in_(_own_requests(principal.agency_id)),  # type: ignore[arg-type]
    )


async def _size_for(session: AsyncSession, size: int | None) -> int:
    if size is None:
        top = await session.scalar(
            select(LogCheckpointRow.size).order_by(LogCheckpointRow.size.desc()).limit(1)
        )
        if top is None:
            raise NotFound("the log has no checkpoint yet")
        return int(top)
    if await session.get(LogCheckpointRow, size) is None:
        raise NotFound(f"no checkpoint of size {size}: ask for a size a checkpoint names")
    return size


async def inclusion(
    ctx: Context,
    principal: Principal,
    *,
    index: int | None = None,
    digest: str | None = None,
    size: int | None = None,
) -> Inclusion:
    """An entry (by index or digest) with its inclusion proof for a checkpointed size."""
    if (index is None) == (digest is None):
        raise InvalidQuery("give exactly one of index or digest")
    query = select(LogEntryRow)
    query = (
        query.where(LogEntryRow.leaf_index == index)
        if index is not None
        else query.where(LogEntryRow.digest == digest)
    )
    visible = _visible(principal)
    if visible is not None:
        query = query.where(visible)  # type: ignore[arg-type]
    async with transaction(ctx.sessions, write=False) as session:
        entry = await session.scalar(query)
        if entry is None:
            raise NotFound("no such entry visible to you")
        if entry.leaf_index is None:
            raise NotFound("the entry is queued and not integrated yet; ask again shortly")
        tree = await _size_for(session, size)
        if entry.leaf_index >= tree:
            raise InvalidQuery(f"entry {entry.leaf_index} is not in the tree of size {tree}")
        nodes = await load_nodes(session, merkle.inclusion_coords(entry.leaf_index, tree))
    return Inclusion(entry, tree, merkle.inclusion_proof(entry.leaf_index, tree, nodes))


async def consistency(ctx: Context, first: int, second: int) -> Sequence[bytes]:
    """A consistency proof between two checkpointed sizes."""
    if not 0 < first <= second:
        raise InvalidQuery("need 0 < first <= second")
    async with transaction(ctx.sessions, write=False) as session:
        for size in (first, second):
            await _size_for(session, size)
        nodes = await load_nodes(session, merkle.consistency_coords(first, second))
    return merkle.consistency_proof(first, second, nodes)


async def entries(
    ctx: Context, principal: Principal, start: int, end: int
) -> Sequence[LogEntryRow]:
    """Integrated entries with start <= index < end that the reader may see."""
    if start < 0 or end <= start:
        raise InvalidQuery("need 0 <= start < end")
    end = min(end, start + MAX_RANGE)
    query = (
        select(LogEntryRow)
        .where(LogEntryRow.leaf_index >= start, LogEntryRow.leaf_index < end)
        .order_by(LogEntryRow.leaf_index)
    )
    visible = _visible(principal)
    if visible is not None:
        query = query.where(visible)  # type: ignore[arg-type]
    async with transaction(ctx.sessions, write=False) as session:
        return (await session.scalars(query)).all()


async def request_entries(
    ctx: Context, principal: Principal, request_id: uuid.UUID
) -> Sequence[LogEntryRow]:
    """Every log entry of one request (statements and custody), for its readers."""
    visible = _visible(principal)
    query = select(LogEntryRow).where(LogEntryRow.request_id == request_id).order_by(LogEntryRow.id)
    if visible is not None:
        query = query.where(visible)  # type: ignore[arg-type]
    async with transaction(ctx.sessions, write=False) as session:
        return (await session.scalars(query)).all()
