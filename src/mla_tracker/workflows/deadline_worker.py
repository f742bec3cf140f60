"""The deadline worker (design.md §5, issue 10 item 4): warn, assert misses, expire.

Three steps per sweep, each its own transaction:

1. **Refresh**: requests whose statements moved since the last sweep (`deadlines_stale`)
   get their due rows recomputed from the clock (`compute_for`, the same code the API
   shows deadlines with): one row per future move (`warn-1`, `warn-2`, `missed`, or
   `expire` for a preservation's date).
2. **Claim**: due rows (`status = pending AND act_at <= now`, by index) are leased to this
   worker for `lease` (PostgreSQL: `FOR UPDATE SKIP LOCKED`, so workers never wait on one
   another; SQLite serialises writers). A worker killed after claiming loses nothing:
   its lease lapses and another worker takes the rows.
3. **Act**: for each claimed row, recompute the request's deadlines *now* and, if the
   row still applies, append the hub's signed statement and mark the row done in the
   same transaction. A row leaves `pending` only with its statement, so no deadline is
   acted on twice, whichever workers run.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..domain import content as c
from ..domain.deadline_clock import Deadline, Status
from ..domain.deadlines import DeadlineKind
from ..domain.model import Action, State
from ..storage.db import transaction
from ..storage.deadline_tables import DeadlineDueRow
from ..storage.tables import RequestRow
from .context import Context
from .deadlines import compute_for
from .hub_statements import assert_as_hub

PENDING, DONE, OBSOLETE = "pending", "done", "obsolete"
MISSED, EXPIRE = "missed", "expire"
_HELD = frozenset({State.PRESERVED.value, State.EXTENDED.value})


@dataclass
class SweepReport:
    """What one sweep did: rows recomputed, claimed, and each outcome counted."""

    refreshed: int = 0
    claimed: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)

    def count(self, outcome: str) -> None:
        """Count one act's outcome (warned, missed, expired, obsolete, busy, lost)."""
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    @property
    def acted(self) -> int:
        """Statements the hub signed in this sweep."""
        return sum(self.outcomes.get(k, 0) for k in ("warned", "missed", "expired"))


def _is_postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def planned_moves(deadline: Deadline) -> dict[str, datetime]:
    """The worker's future moves on one deadline: move name → when (empty when none)."""
    if deadline.due_at is None or deadline.closed_at is not None:
        return {}  # a stopped clock (refreshed when it resumes) or a deadline already over
    moves = {f"warn-{i}": at for i, at in enumerate(deadline.warnings, start=1)}
    last = EXPIRE if deadline.rule.deadline is DeadlineKind.PRESERVATION_EXPIRY else MISSED
    moves[last] = deadline.due_at
    return moves


async def refresh_due(ctx: Context, *, limit: int = 200) -> int:
    """Recompute the due rows of up to `limit` stale requests; returns how many."""
    now = ctx.clock()
    async with transaction(ctx.sessions, write=True) as session:
        query = select(RequestRow).where(RequestRow.deadlines_stale.is_(True)).limit(limit)
        if _is_postgres(session):
            # Locks these requests until commit: an append waits, then marks it stale again.
            query = query.with_for_update(skip_locked=True)
        rows = (await session.scalars(query)).all()
        if not rows:
            return 0
        found = await compute_for(session, rows, ctx.deadline_rules, now, True)
        wanted: dict[tuple[uuid.UUID, str, str], datetime] = {
            (row.id, d.id, move): at
            for row in rows
            for d in found[row.id]
            for move, at in planned_moves(d).items()
        }
        existing = await session.scalars(
            select(DeadlineDueRow).where(DeadlineDueRow.request_id.in_([r.id for r in rows]))
        )
        for due in existing:
            key = (due.request_id, due.deadline_id, due.move)
            at = wanted.pop(key, None)
            if due.status != PENDING:
                continue  # done or obsolete: never again
            if at is None:
                due.status, due.done_at = OBSOLETE, now
            elif at != due.act_at:
                due.act_at = at
        session.add_all(
            DeadlineDueRow(request_id=rid, deadline_id=did, move=move, act_at=at, status=PENDING)
            for (rid, did, move), at in wanted.items()
        )
        for row in rows:
            row.deadlines_stale = False
    return len(rows)


async def claim_due(
    ctx: Context, owner: str, *, limit: int = 100, lease: timedelta = timedelta(seconds=60)
) -> list[int]:
    """Lease up to `limit` due rows to `owner`, soonest first; returns their ids."""
    now = ctx.clock()
    async with transaction(ctx.sessions, write=True) as session:
        query = (
            select(DeadlineDueRow.id)
            .where(
                DeadlineDueRow.status == PENDING,
                DeadlineDueRow.act_at <= now,
                or_(DeadlineDueRow.lease_until.is_(None), DeadlineDueRow.lease_until < now),
            )
            .order_by(DeadlineDueRow.act_at, DeadlineDueRow.id)
            .limit(limit)
        )
        if _is_postgres(session):
            query = query.with_for_update(skip_locked=True)
        ids = list((await session.scalars(query)).all())
        if ids:
            await session.execute(
                update(DeadlineDueRow)
                .where(DeadlineDueRow.id.in_(ids))
                .values(lease_owner=owner, lease_until=now + lease)
                .execution_options(synchronize_session=False)
            )
    return ids


def _notice(deadline: Deadline) -> c.DeadlineNotice:
    assert deadline.due_at is not None
    return c.DeadlineNotice(
        deadline=deadline.id,
        rule=deadline.rule.id,
        source=deadline.rule.source,
        responsible=deadline.responsible.value,
        responsible_agency=deadline.responsible_agency,
        due_at=deadline.due_at,
    )


def _decide(
    due: DeadlineDueRow, row: RequestRow, deadline: Deadline | None, now: datetime
) -> tuple[Action, c.DeadlineNotice | c.Expiry, str] | None:
    """What the hub signs for this row now, or None when the row no longer applies."""
    if deadline is None or deadline.due_at is None or deadline.closed_at is not None:
        return None
    if due.move == EXPIRE:
        if now <= deadline.due_at or row.state not in _HELD or row.preserved_until is None:
            return None
        return Action.EXPIRE, c.Expiry(deadline=deadline.id, until=row.preserved_until), "expired"
    if due.move == MISSED:
        if deadline.status is not Status.MISSED:
            return None
        return Action.DEADLINE_MISSED, _notice(deadline), "missed"
    # A warning: only the latest one that has come due, and only before the deadline.
    later = [at for at in (*deadline.warnings, deadline.due_at) if at > due.act_at]
    if deadline.status is not Status.PENDING or (later and min(later) <= now):
        return None
    return Action.DEADLINE_WARNING, _notice(deadline), "warned"


async def act_on(ctx: Context, owner: str, due_id: int) -> str:
    """Act on one claimed row; returns the outcome (warned, missed, expired, obsolete, …)."""
    now = ctx.clock()
    async with transaction(ctx.sessions, write=True) as session:
        postgres = _is_postgres(session)
        due = await session.get(DeadlineDueRow, due_id, with_for_update=postgres)
        if due is None or due.status != PENDING or due.lease_owner != owner:
            return "lost"  # done meanwhile, or the lease lapsed and another worker took it
        row = await session.get(RequestRow, due.request_id, with_for_update=postgres)
        assert row is not None  # a due row never exists without its request
        found = await compute_for(session, [row], ctx.deadline_rules, now, True)
        deadline = next((d for d in found[row.id] if d.id == due.deadline_id), None)
        planned = _decide(due, row, deadline, now)
        if planned is None:
            due.status, due.done_at, due.lease_owner = OBSOLETE, now, None
            return "obsolete"
        action, body, outcome = planned
        statement = await assert_as_hub(ctx, session, row, action, body)
        if statement is None:
            # An agency's statement took the head first: the request is stale again and
            # the next sweep decides afresh. Give the row back at once.
            due.lease_owner, due.lease_until = None, None
            return "busy"
        due.status, due.done_at, due.statement_digest = DONE, now, statement.digest
        due.lease_owner = None
    return outcome


async def sweep(
    ctx: Context,
    owner: str,
    *,
    limit: int = 100,
    lease: timedelta = timedelta(seconds=60),
) -> SweepReport:
    """One sweep: refresh stale requests, claim due rows, act on each."""
    report = SweepReport()
    while (refreshed := await refresh_due(ctx, limit=limit * 2)) > 0:
        report.refreshed += refreshed
        if refreshed < limit * 2:
            break
    claimed = await claim_due(ctx, owner, limit=limit, lease=lease)
    report.claimed = len(claimed)
    for due_id in claimed:
        report.count(await act_on(ctx, owner, due_id))
    return report


async def pending_moves(ctx: Context, request_ids: Iterable[uuid.UUID]) -> Sequence[DeadlineDueRow]:
    """The due rows of some requests (for the CLI and tests), by request then time."""
    async with transaction(ctx.sessions, write=False) as session:
        found = await session.scalars(
            select(DeadlineDueRow)
            .where(DeadlineDueRow.request_id.in_(list(request_ids)))
            .order_by(DeadlineDueRow.request_id, DeadlineDueRow.act_at, DeadlineDueRow.id)
        )
        return found.all()
