"""Tables: agencies, keys, tokens, the request projection and the statement log."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from .types import JSONDocument, UTCDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with a naming convention Alembic can batch-alter on SQLite."""

    metadata = MetaData(naming_convention=NAMING)


class AgencyRow(Base):
    """A registered agency."""

    __tablename__ = "agencies"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(300))
    country: Mapped[str] = mapped_column(String(2))
    role: Mapped[str] = mapped_column(String(32))
    timezone: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class AgencyKeyRow(Base):
    """An agency's Ed25519 public key, valid from a time until revoked."""

    __tablename__ = "agency_keys"
    key_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"), index=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary(32))
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: A recovery key signs nothing before this; for other keys it equals valid_from.
    usable_from: Mapped[datetime] = mapped_column(UTCDateTime())
    #: bootstrap (operator's first key), rotation (added by the agency), recovery (operator).
    origin: Mapped[str] = mapped_column(String(16))


class TokenRow(Base):
    """A bearer token, stored only as its SHA-256; an agency's names the key that minted it."""

    __tablename__ = "tokens"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    agency_id: Mapped[str | None] = mapped_column(ForeignKey("agencies.id"), nullable=True)
    is_operator: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    key_id: Mapped[str | None] = mapped_column(
        ForeignKey("agency_keys.key_id"), nullable=True, index=True
    )
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ChallengeRow(Base):
    """A login challenge: single use (deleted when answered), short-lived."""

    __tablename__ = "session_challenges"
    challenge: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class KeyEventRow(Base):
    """One verified key event of an agency's key chain, as signed (docs/keys.md)."""

    __tablename__ = "key_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agency_id: Mapped[str] = mapped_column(ForeignKey("agencies.id"))
    seq: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    prev: Mapped[str] = mapped_column(String(64))
    event: Mapped[str] = mapped_column(String(16))
    key_id: Mapped[str] = mapped_column(String(64))
    #: The signing key's id, or "server" for the hub's server key.
    signer_key_id: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    envelope: Mapped[bytes] = mapped_column(LargeBinary())

    __table_args__ = (UniqueConstraint("agency_id", "seq", name="uq_key_events_agency_seq"),)


class RequestRow(Base):
    """Current state of a request: a projection of its statements, rebuilt from them."""

    __tablename__ = "requests"
    id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(32))
    urgency: Mapped[str] = mapped_column(String(16))
    requesting_agency: Mapped[str] = mapped_column(ForeignKey("agencies.id"))
    requested_agency: Mapped[str] = mapped_column(ForeignKey("agencies.id"))
    executing_agency: Mapped[str | None] = mapped_column(ForeignKey("agencies.id"), nullable=True)
    case_reference: Mapped[str] = mapped_column(String(500))
    #: The transmitted content (parties only); NULL once deleted after retention.
    content: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument, nullable=True)
    respond_by: Mapped[date | None] = mapped_column(Date(), nullable=True)
    preserved_until: Mapped[date | None] = mapped_column(Date(), nullable=True)
    linked_request_id: Mapped[uuid.UUID | None] = mapped_column(Uuid(), nullable=True)
    #: Digest of the conditional acceptance whose conditions bind the request (BC 28(3)).
    conditions_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    head_seq: Mapped[int] = mapped_column(Integer)
    head_digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: Set by every accepted statement; the deadline worker recomputes the request's due
    #: rows (deadline_tables.py) and clears it, unless another statement came meanwhile.
    deadlines_stale: Mapped[bool] = mapped_column(Boolean, default=True, index=True)

    __table_args__ = (
        Index("ix_requests_created", "created_at", "id"),
        Index("ix_requests_requesting", "requesting_agency"),
        Index("ix_requests_requested", "requested_agency"),
    )


class StatementRow(Base):
    """One accepted statement: the exact verified payload, envelope and body, chained by digest."""

    __tablename__ = "statements"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("requests.id"))
    seq: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    prev: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(64))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime())
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    payload: Mapped[bytes] = mapped_column(LargeBinary())
    envelope: Mapped[bytes] = mapped_column(LargeBinary())
    body_sha256: Mapped[str] = mapped_column(String(64))
    #: The detached body's exact bytes (parties only); NULL once deleted after retention.
    body: Mapped[bytes | None] = mapped_column(LargeBinary(), nullable=True)

    __table_args__ = (UniqueConstraint("request_id", "seq", name="uq_statements_request_seq"),)


class PackageRow(Base):
    """An evidence package announced by a `deliver_evidence` statement, and its upload."""

    __tablename__ = "evidence_packages"
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("requests.id"), primary_key=True)
    package_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    ciphertext_sha256: Mapped[str] = mapped_column(String(64))
    ciphertext_size: Mapped[int] = mapped_column(BigInteger)
    delivered_by: Mapped[str] = mapped_column(ForeignKey("agencies.id"))
    statement_digest: Mapped[str] = mapped_column(String(64))
    delivered_at: Mapped[datetime] = mapped_column(UTCDateTime())
    uploaded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    custody_seq: Mapped[int] = mapped_column(Integer, default=0)
    custody_head: Mapped[str] = mapped_column(String(64))
    #: The conditions the package was delivered under (Budapest 28(3)), if any.
    conditions_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)


class CustodyRow(Base):
    """One server-signed custody assertion (upload or download) of a package."""

    __tablename__ = "custody_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[uuid.UUID] = mapped_column(Uuid())
    package_id: Mapped[str] = mapped_column(String(128))
    seq: Mapped[int] = mapped_column(Integer)
    event: Mapped[str] = mapped_column(String(32))
    agency_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    envelope: Mapped[bytes] = mapped_column(LargeBinary())

    __table_args__ = (
        ForeignKeyConstraint(
            ["request_id", "package_id"],
            ["evidence_packages.request_id", "evidence_packages.package_id"],
            name="fk_custody_events_package",
        ),
        UniqueConstraint("request_id", "package_id", "seq", name="uq_custody_events_seq"),
    )


# The log's tables live in their own module; importing it here puts them in Base.metadata
# (a module import, so importing log_tables first does not trip on this cycle).
from . import deadline_tables, event_tables, log_tables  # noqa: E402, F401
