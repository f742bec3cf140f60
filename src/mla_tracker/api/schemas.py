"""Response bodies, mapped explicitly from rows (no ORM objects leave the API)."""

from __future__ import annotations

import base64
import uuid
from datetime import date, datetime
from typing import Any

import msgspec

from ..storage.tables import (
    AgencyKeyRow,
    AgencyRow,
    CustodyRow,
    PackageRow,
    RequestRow,
    StatementRow,
)
from ..workflows.agencies import AgencyView


class KeyOut(msgspec.Struct, frozen=True):
    """A public signing key in the directory."""

    key_id: str
    public_key: str
    valid_from: datetime
    revoked_at: datetime | None


class AgencyOut(msgspec.Struct, frozen=True):
    """An agency in the public directory."""

    id: str
    name: str
    country: str
    role: str
    timezone: str
    keys: list[KeyOut]


class AgencyCreated(msgspec.Struct, frozen=True):
    """A newly registered agency and its bearer token (shown once, stored hashed)."""

    agency: AgencyOut
    token: str


class TokenOut(msgspec.Struct, frozen=True):
    """A newly issued bearer token, shown once."""

    agency_id: str
    token: str


class RequestSummary(msgspec.Struct, frozen=True, kw_only=True):
    """A request's current state: the projection of its statements."""

    id: uuid.UUID
    kind: str
    state: str
    urgency: str
    requesting_agency: str
    requested_agency: str
    executing_agency: str | None
    case_reference: str
    respond_by: date | None
    preserved_until: date | None
    linked_request_id: uuid.UUID | None
    head: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class RequestOut(RequestSummary, frozen=True, kw_only=True):
    """A request's state with the content it was transmitted with."""

    content: dict[str, Any]


class RequestList(msgspec.Struct, frozen=True):
    """A page of requests."""

    items: list[RequestSummary]
    next_cursor: str | None


class StatementOut(msgspec.Struct, frozen=True):
    """An accepted statement with the envelope exactly as verified."""

    seq: int
    digest: str
    prev: str
    action: str
    actor: str
    key_id: str
    issued_at: datetime
    received_at: datetime
    envelope: dict[str, Any]


class AcceptedOut(msgspec.Struct, frozen=True):
    """The answer to an accepted statement."""

    request: RequestSummary
    statement: StatementOut
    duplicate: bool


class MissingOut(msgspec.Struct, frozen=True):
    """One gap the completeness check found."""

    field: str
    message: str
    severity: str


class CompletenessOut(msgspec.Struct, frozen=True):
    """The completeness dry run's verdict."""

    complete: bool
    missing: list[MissingOut]


def key_out(row: AgencyKeyRow) -> KeyOut:
    """Map a key row."""
    return KeyOut(
        row.key_id, base64.b64encode(row.public_key).decode(), row.valid_from, row.revoked_at
    )


def agency_out(view: AgencyView) -> AgencyOut:
    """Map an agency with its keys."""
    a: AgencyRow = view.agency
    return AgencyOut(a.id, a.name, a.country, a.role, a.timezone, [key_out(k) for k in view.keys])


def _summary_fields(row: RequestRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "state": row.state,
        "urgency": row.urgency,
        "requesting_agency": row.requesting_agency,
        "requested_agency": row.requested_agency,
        "executing_agency": row.executing_agency,
        "case_reference": row.case_reference,
        "respond_by": row.respond_by,
        "preserved_until": row.preserved_until,
        "linked_request_id": row.linked_request_id,
        "head": {"seq": row.head_seq, "digest": row.head_digest},
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def request_summary(row: RequestRow) -> RequestSummary:
    """Map a request projection, without its content."""
    return RequestSummary(**_summary_fields(row))


def request_out(row: RequestRow) -> RequestOut:
    """Map a request projection with its content."""
    return RequestOut(**_summary_fields(row), content=row.content)


def statement_out(row: StatementRow) -> StatementOut:
    """Map a statement row."""
    return StatementOut(
        seq=row.seq,
        digest=row.digest,
        prev=row.prev,
        action=row.action,
        actor=row.actor,
        key_id=row.key_id,
        issued_at=row.issued_at,
        received_at=row.received_at,
        envelope=msgspec.json.decode(row.envelope),
    )


class WhoAmI(msgspec.Struct, frozen=True):
    """Who a token belongs to."""

    operator: bool
    agency_id: str | None
    role: str | None


class PackageOut(msgspec.Struct, frozen=True, kw_only=True):
    """An evidence package as the hub knows it (never its content)."""

    package_id: str
    ciphertext_sha256: str
    ciphertext_size: int
    delivered_by: str
    statement_digest: str
    delivered_at: datetime
    uploaded_at: datetime | None
    custody_head: dict[str, Any]


class CustodyOut(msgspec.Struct, frozen=True):
    """One server-signed custody assertion."""

    seq: int
    event: str
    agency_id: str
    at: datetime
    digest: str
    envelope: dict[str, Any]


class ServerKeyOut(msgspec.Struct, frozen=True):
    """The hub's public log key, which signs custody assertions."""

    key_id: str
    public_key: str


def package_out(row: PackageRow) -> PackageOut:
    """Map a package row."""
    return PackageOut(
        package_id=row.package_id,
        ciphertext_sha256=row.ciphertext_sha256,
        ciphertext_size=row.ciphertext_size,
        delivered_by=row.delivered_by,
        statement_digest=row.statement_digest,
        delivered_at=row.delivered_at,
        uploaded_at=row.uploaded_at,
        custody_head={"seq": row.custody_seq, "digest": row.custody_head},
    )


def custody_out(row: CustodyRow) -> CustodyOut:
    """Map a custody row."""
    return CustodyOut(
        row.seq, row.event, row.agency_id, row.at, row.digest, msgspec.json.decode(row.envelope)
    )
