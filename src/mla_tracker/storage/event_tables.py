"""Tables of notifications: the events outbox, webhook subscriptions and their deliveries.

An accepted statement inserts one event row per party agency in its own transaction, with
no position yet. Publishing (workflows/events.py) gives committed events dense positions in
commit order, the event ids agencies see, and fans each out into delivery rows for its
agency's matching subscriptions, in one transaction under one lock: an event is published,
and fanned out, exactly once. Positions rather than the insert id, because on PostgreSQL
insert ids commit out of order: a reader resuming after id 11 would skip an id 10 that
committed later, and so would a fan-out cursor (docs/notifications.md).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from .tables import Base
from .types import JSONDocument, UTCDateTime

_ID = BigInteger().with_variant(Integer, "sqlite")


class EventRow(Base):
    """One event for one agency: metadata of an accepted statement (never a body)."""

    __tablename__ = "events"
    #: Insertion order (internal); the id agencies see is `position`.
    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    #: Dense from 1 in publication (commit) order; NULL until published.
    position: Mapped[int | None] = mapped_column(BigInteger, nullable=True, unique=True)
    agency_id: Mapped[str] = mapped_column(String(64))
    request_id: Mapped[uuid.UUID] = mapped_column(Uuid())
    #: statement.accepted, deadline.warning, deadline.missed or preservation.expired.
    type: Mapped[str] = mapped_column(String(32))
    #: The JSON text sent as SSE `data:` and as the webhook body's `data` (docs/notifications.md).
    payload: Mapped[str] = mapped_column(Text())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_events_agency_position", "agency_id", "position"),)


class WebhookRow(Base):
    """An agency's webhook subscription.

    The secrets are stored as issued: HMAC signing needs the secret itself, so unlike a
    bearer token it cannot be kept as a hash. No answer or log line ever carries them.
    """

    __tablename__ = "webhooks"
    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"), index=True)
    url: Mapped[str] = mapped_column(String(2048))
    #: Event types delivered; empty means every type.
    event_types: Mapped[list[str]] = mapped_column(JSONDocument)
    secret: Mapped[str] = mapped_column(String(128))
    #: The secret before the last rotation, still signing until `previous_secret_until`.
    previous_secret: Mapped[str | None] = mapped_column(String(128), nullable=True)
    previous_secret_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    secret_rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    def secrets_at(self, now: datetime) -> list[str]:
        """The secrets that sign a delivery sent now: the current one, and the previous
        one during its overlap."""
        found = [self.secret]
        if self.previous_secret and self.previous_secret_until and now < self.previous_secret_until:
            found.append(self.previous_secret)
        return found


class DeliveryRow(Base):
    """One event to one subscription: pending until delivered, or dead after max attempts."""

    __tablename__ = "webhook_deliveries"
    id: Mapped[int] = mapped_column(_ID, primary_key=True, autoincrement=True)
    webhook_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhooks.id"))
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id"))
    #: The `webhook-id` header: the same on every attempt, so receivers can drop repeats.
    message_id: Mapped[str] = mapped_column(String(40), unique=True)
    #: pending, delivered or dead.
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: When the next attempt is due; while claimed, when the claim's lease ends (a
    #: dispatcher that dies mid-send leaves the delivery due again then). NULL once final.
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: The claim in flight (dispatcher owner and a per-claim nonce), else NULL.
    lease_owner: Mapped[str | None] = mapped_column(String(100), nullable=True)
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(300), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (
        UniqueConstraint("webhook_id", "event_id", name="uq_webhook_deliveries_event"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_webhook", "webhook_id", "id"),
    )
