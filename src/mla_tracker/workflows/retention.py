"""Retention: deleting a request's bodies and content while every chain stays verifiable.

Statements commit to their bodies by digest only, so the signed envelopes, the links and
the transitions (checked from signed metadata) all still verify once the bodies are gone.
This is the hub operator's job on the hub's own machine (`mla db erase-bodies`): it reads
nothing and returns only counts.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import update

from ..storage import repositories as repo
from ..storage.db import transaction
from ..storage.tables import RequestRow, StatementRow
from .context import Context
from .errors import NotFound


@dataclass(frozen=True)
class Erased:
    """What an erasure removed."""

    request_id: uuid.UUID
    bodies: int


async def erase_bodies(ctx: Context, request_id: uuid.UUID) -> Erased:
    """Delete every statement body and the parsed content of one request."""
    async with transaction(ctx.sessions, write=True) as session:
        if await repo.get_request(session, request_id) is None:
            raise NotFound(f"no request {request_id}")
        result = await session.execute(
            update(StatementRow)
            .where(StatementRow.request_id == request_id, StatementRow.body.is_not(None))
            .values(body=None)
            .execution_options(synchronize_session=False)
        )
        await session.execute(
            update(RequestRow)
            .where(RequestRow.id == request_id)
            .values(content=None)
            .execution_options(synchronize_session=False)
        )
    return Erased(request_id, int(getattr(result, "rowcount", 0) or 0))
