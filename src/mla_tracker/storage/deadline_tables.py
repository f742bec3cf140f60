"""The worker's index of deadline moves: when to look at which request, and what was done.

Deadlines themselves are computed from the statement timeline (domain/deadline_clock.py);
these rows only say *when* the worker must look again, so a sweep reads the due rows by
index instead of every open request. A row is acted on at most once: its status leaves
`pending` in the same transaction as the hub's signed statement.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .tables import Base
from .types import UTCDateTime


class DeadlineDueRow(Base):
    """One future move of the worker on one deadline: a warning, a miss or an expiry."""

    __tablename__ = "deadline_due"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("requests.id"))
    #: The clock's id of the deadline, e.g. `decide-2` (kind and the seq that opened it).
    deadline_id: Mapped[str] = mapped_column(String(64))
    #: `warn-1`, `warn-2`, … (earliest first), `missed` or `expire`.
    move: Mapped[str] = mapped_column(String(16))
    act_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: pending → done (acted, statement_digest set) or obsolete (nothing left to do).
    status: Mapped[str] = mapped_column(String(16))
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    statement_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)

    __table_args__ = (
        UniqueConstraint("request_id", "deadline_id", "move", name="uq_deadline_due_move"),
        Index("ix_deadline_due_pending", "status", "act_at"),
    )
