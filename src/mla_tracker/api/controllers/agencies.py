"""Agencies and their keys: the operator bootstraps, agencies sign key events, anyone reads."""

from __future__ import annotations

import base64
from datetime import datetime

import msgspec
from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from ...crypto.dsse import Envelope
from ...domain.model import AgencyRole
from ...storage.tables import AgencyKeyRow, KeyEventRow
from ...workflows import agencies as wf
from ...workflows.commands import NewKey, RegisterAgency, RevokeKey, SignedKeyEvent
from ...workflows.context import Context
from ...workflows.errors import AlreadyExists, Forbidden, StaleHead
from ...workflows.principals import Principal
from ..openapi import raises


class KeyEntry(msgspec.Struct, frozen=True, kw_only=True):
    """A public signing key in the directory, with where it came from and when it counts."""

    key_id: str
    public_key: str
    #: bootstrap (operator's first key), rotation (the agency's), recovery (operator, delayed).
    origin: str
    valid_from: datetime
    #: A recovery key signs nothing before this; for other keys it equals valid_from.
    usable_from: datetime
    revoked_at: datetime | None


class AgencyEntry(msgspec.Struct, frozen=True, kw_only=True):
    """An agency in the public directory."""

    id: str
    name: str
    country: str
    role: AgencyRole
    timezone: str
    keys: list[KeyEntry]


class KeyEventEntry(msgspec.Struct, frozen=True, kw_only=True):
    """A recorded key event: the signed envelope and what the hub read from it."""

    agency_id: str
    seq: int
    digest: str
    prev: str
    event: str
    key_id: str
    #: The signing key id, or "server" for the hub's server key.
    signer: str
    issued_at: datetime
    recorded_at: datetime
    envelope: Envelope


def key_entry(row: AgencyKeyRow) -> KeyEntry:
    """Map a key row."""
    return KeyEntry(
        key_id=row.key_id,
        public_key=base64.b64encode(row.public_key).decode(),
        origin=row.origin,
        valid_from=row.valid_from,
        usable_from=row.usable_from,
        revoked_at=row.revoked_at,
    )


def agency_entry(view: wf.AgencyView) -> AgencyEntry:
    """Map an agency with its keys."""
    a = view.agency
    return AgencyEntry(
        id=a.id,
        name=a.name,
        country=a.country,
        role=AgencyRole(a.role),
        timezone=a.timezone,
        keys=[key_entry(k) for k in view.keys],
    )


def key_event_entry(row: KeyEventRow) -> KeyEventEntry:
    """Map a key event row (its envelope was verified before it was stored)."""
    return KeyEventEntry(
        agency_id=row.agency_id,
        seq=row.seq,
        digest=row.digest,
        prev=row.prev,
        event=row.event,
        key_id=row.key_id,
        signer=row.signer_key_id,
        issued_at=row.issued_at,
        recorded_at=row.recorded_at,
        envelope=msgspec.json.decode(row.envelope, type=Envelope),
    )


class AgencyController(Controller):
    """`/v1/agencies`."""

    path = "/v1/agencies"
    tags = ("agencies",)

    @get("/")
    async def directory(self, ctx: NamedDependency[Context]) -> list[AgencyEntry]:
        """Public directory of agencies and their public keys."""
        return [agency_entry(v) for v in await wf.directory(ctx)]

    @get("/{agency_id:str}")
    async def show(self, ctx: NamedDependency[Context], agency_id: FromPath[str]) -> AgencyEntry:
        """One agency with its keys."""
        return agency_entry(await wf.show_agency(ctx, agency_id))

    @post("/", opt=raises(Forbidden, AlreadyExists))
    async def register(
        self,
        ctx: NamedDependency[Context],
        principal: NamedDependency[Principal],
        data: JSONBody[RegisterAgency],
    ) -> AgencyEntry:
        """Register an agency and its first key (operator). No token: agencies log in."""
        return agency_entry(await wf.register_agency(ctx, principal, data))

    @post("/{agency_id:str}/keys", opt=raises(Forbidden, AlreadyExists))
    async def add_first_key(
        self,
        ctx: NamedDependency[Context],
        principal: NamedDependency[Principal],
        agency_id: FromPath[str],
        data: JSONBody[NewKey],
    ) -> KeyEntry:
        """Register the first key of an agency that never had one (operator); 403 after."""
        return key_entry(await wf.add_first_key(ctx, principal, agency_id, data))

    @post("/{agency_id:str}/recovery-keys", opt=raises(Forbidden, AlreadyExists))
    async def add_recovery_key(
        self,
        ctx: NamedDependency[Context],
        principal: NamedDependency[Principal],
        agency_id: FromPath[str],
        data: JSONBody[NewKey],
    ) -> KeyEntry:
        """Add a recovery key (operator): logged, announced, usable only after the delay."""
        return key_entry(await wf.add_recovery_key(ctx, principal, agency_id, data))

    @post("/{agency_id:str}/keys/{key_id:str}/revoke", status_code=200, opt=raises(Forbidden))
    async def revoke_key(
        self,
        ctx: NamedDependency[Context],
        principal: NamedDependency[Principal],
        agency_id: FromPath[str],
        key_id: FromPath[str],
        data: JSONBody[RevokeKey],
    ) -> KeyEntry:
        """Revoke a key from now on (operator); its sessions end at once."""
        return key_entry(await wf.operator_revoke_key(ctx, principal, agency_id, key_id))

    @post("/{agency_id:str}/key-events", opt=raises(Forbidden, StaleHead, AlreadyExists))
    async def submit_key_event(
        self,
        ctx: NamedDependency[Context],
        agency_id: FromPath[str],
        data: JSONBody[SignedKeyEvent],
    ) -> Response[KeyEventEntry]:
        """Record an add or revoke signed by a current key of the agency (no token needed)."""
        view = await wf.submit_key_event(ctx, agency_id, data.envelope)
        return Response(key_event_entry(view.row), status_code=200 if view.duplicate else 201)

    @get("/{agency_id:str}/key-events")
    async def agency_key_events(
        self, ctx: NamedDependency[Context], agency_id: FromPath[str]
    ) -> list[KeyEventEntry]:
        """One agency's key events in chain order (public)."""
        return [key_event_entry(r) for r in await wf.key_events(ctx, agency_id)]


@get("/v1/key-events", tags=["agencies"])
async def all_key_events(ctx: NamedDependency[Context]) -> list[KeyEventEntry]:
    """Every agency's key events in the order the hub recorded them (public)."""
    return [key_event_entry(r) for r in await wf.key_events(ctx)]
