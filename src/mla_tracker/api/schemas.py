"""Response bodies, mapped explicitly from rows (no ORM objects leave the API)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import msgspec

from ..crypto import wire
from ..domain.deadline_clock import Deadline, Status
from ..domain.deadlines import DeadlineKind, Unit
from ..domain.model import Action, AgencyRole, Kind, Party, State, Urgency
from ..storage.request_reads import RequestView
from ..storage.tables import (
    CustodyRow,
    PackageRow,
    RequestRow,
    StatementRow,
)


class RequestSummary(msgspec.Struct, frozen=True, kw_only=True):
    """A request's current state: the projection of its statements.

    Fields taken from statement bodies (case_reference, respond_by, preserved_until,
    linked_request_id) are null for auditors, who read signed metadata only.
    """

    id: uuid.UUID
    # Enums, not str, so the OpenAPI document lists their values; the rows hold valid ones.
    kind: Kind
    state: State
    urgency: Urgency
    requesting_agency: str
    requested_agency: str
    executing_agency: str | None
    case_reference: str | None
    respond_by: date | None
    preserved_until: date | None
    linked_request_id: uuid.UUID | None
    #: Digest of the conditional acceptance that binds the request (Budapest 28(3)), if any.
    conditions_digest: str | None
    head: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class RequestOut(RequestSummary, frozen=True, kw_only=True):
    """A request's state with the content it was transmitted with (null for auditors, or
    once deleted after retention)."""

    content: dict[str, Any] | None


class RequestList(msgspec.Struct, frozen=True):
    """A page of requests."""

    items: list[RequestSummary]
    next_cursor: str | None


class StatementOut(msgspec.Struct, frozen=True, kw_only=True):
    """An accepted statement: the envelope exactly as verified and, for parties, its body.

    `body` is standard base64 of the detached body's exact bytes, whose SHA-256 is
    `body_sha256`; it is null for auditors and once the body was deleted after retention.
    """

    seq: int
    digest: str
    prev: str
    action: Action
    actor: str
    key_id: str
    issued_at: datetime
    received_at: datetime
    body_sha256: str
    envelope: dict[str, Any]
    body: str | None


class LogPosition(msgspec.Struct, frozen=True, kw_only=True):
    """Where an accepted statement stands in the transparency log.

    `index` once integrated (usually within the hub's wait, about a second); otherwise
    `pending` is true and `poll` names the inclusion proof to ask for shortly. The
    statement is durable either way.
    """

    index: int | None
    pending: bool
    poll: str


class AcceptedOut(msgspec.Struct, frozen=True):
    """The answer to an accepted statement."""

    request: RequestSummary
    statement: StatementOut
    duplicate: bool
    log: LogPosition


class MissingOut(msgspec.Struct, frozen=True):
    """One gap the completeness check found.

    `severity` is `required` (blocks transmit), `recommended` (a drafting tip) or `warning`
    (the legal basis may not bind both states; never blocks).
    """

    field: str
    message: str
    severity: str


class CompletenessOut(msgspec.Struct, frozen=True):
    """The completeness dry run's verdict."""

    complete: bool
    missing: list[MissingOut]


def _summary_fields(row: RequestRow | RequestView, bodies: bool) -> dict[str, Any]:
    fields = {
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
        "conditions_digest": row.conditions_digest,
        "head": {"seq": row.head_seq, "digest": row.head_digest},
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }
    if not bodies:
        fields.update(dict.fromkeys(BODY_FIELDS))
    return fields


#: Summary fields that come from statement bodies, never shown to auditors.
BODY_FIELDS = ("case_reference", "respond_by", "preserved_until", "linked_request_id")


def request_summary(row: RequestRow | RequestView, *, bodies: bool) -> RequestSummary:
    """Map a request projection, without its content."""
    return RequestSummary(**_summary_fields(row, bodies))


def request_out(row: RequestRow | RequestView, *, bodies: bool) -> RequestOut:
    """Map a request projection with its content (parties only)."""
    return RequestOut(**_summary_fields(row, bodies), content=row.content if bodies else None)


def statement_out(row: StatementRow, *, bodies: bool) -> StatementOut:
    """Map a statement row; its body only when the caller may read bodies."""
    body = row.body if bodies else None
    return StatementOut(
        seq=row.seq,
        digest=row.digest,
        prev=row.prev,
        action=Action(row.action),
        actor=row.actor,
        key_id=row.key_id,
        issued_at=row.issued_at,
        received_at=row.received_at,
        body_sha256=row.body_sha256,
        envelope=msgspec.json.decode(row.envelope),
        body=None if body is None else wire.b64encode(body),
    )


class WhoAmI(msgspec.Struct, frozen=True):
    """Who a token belongs to."""

    operator: bool
    agency_id: str | None
    role: AgencyRole | None


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
    #: Digest of the statement whose conditions the package was delivered under, if any.
    conditions_digest: str | None


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
        conditions_digest=row.conditions_digest,
    )


def custody_out(row: CustodyRow) -> CustodyOut:
    """Map a custody row."""
    return CustodyOut(
        row.seq, row.event, row.agency_id, row.at, row.digest, msgspec.json.decode(row.envelope)
    )


# ---- deadlines (computed on read; docs/deadlines.md) ----------------------------------


class DeadlineOut(msgspec.Struct, frozen=True, kw_only=True):
    """One deadline of a request: its rule and source, who owes it, when, and where it stands.

    `due_at` is UTC and `due_local` the same instant in the calendar's zone; both are null
    while the clock is stopped (information requested), when `remaining` says what is left.
    `status` is pending, met or missed at the server's clock; `overdue` is missed and not done.
    """

    id: str
    request_id: uuid.UUID
    request_kind: Kind
    request_state: State
    deadline: DeadlineKind
    rule: str
    source: str
    responsible_party: Party
    responsible_agency: str
    length: int
    unit: Unit
    timezone: str
    started_at: datetime
    due_at: datetime | None
    due_local: datetime | None
    status: Status
    overdue: bool
    closed_at: datetime | None
    stopped_at: datetime | None
    remaining: str | None
    respond_by_applied: bool
    warnings: list[datetime]


class RequestDeadlinesOut(msgspec.Struct, frozen=True):
    """A request (as RequestSummary shows it to the caller) and its deadlines."""

    request: RequestSummary
    deadlines: list[DeadlineOut]


class DeadlineList(msgspec.Struct, frozen=True):
    """A page of deadlines, soonest due first."""

    items: list[DeadlineOut]
    next_cursor: str | None


def deadline_out(row: RequestRow, deadline: Deadline) -> DeadlineOut:
    """Map a computed deadline of a request."""
    rule = deadline.rule
    due = deadline.due_at
    return DeadlineOut(
        id=deadline.id,
        request_id=row.id,
        request_kind=Kind(row.kind),
        request_state=State(row.state),
        deadline=rule.deadline,
        rule=rule.id,
        source=rule.source,
        responsible_party=deadline.responsible,
        responsible_agency=deadline.responsible_agency,
        length=rule.length,
        unit=rule.unit,
        timezone=deadline.calendar.timezone,
        started_at=deadline.started_at,
        due_at=due,
        due_local=None if due is None else due.astimezone(deadline.calendar.zone),
        status=deadline.status,
        overdue=deadline.overdue,
        closed_at=deadline.closed_at,
        stopped_at=deadline.stopped_at,
        remaining=deadline.remaining,
        respond_by_applied=deadline.respond_by_applied,
        warnings=list(deadline.warnings),
    )
