"""Agencies, their keys and tokens: the operator manages, anyone reads the directory."""

from __future__ import annotations

from typing import ClassVar

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody

from ...workflows import agencies as wf
from ...workflows.commands import NewKey, RegisterAgency, RevokeKey
from ...workflows.context import Context
from ...workflows.principals import Principal
from ..schemas import AgencyCreated, AgencyOut, KeyOut, TokenOut, agency_out, key_out


class AgencyController(Controller):
    """`/v1/agencies`."""

    path = "/v1/agencies"
    tags: ClassVar[list[str]] = ["agencies"]

    @get("/")
    async def directory(self, ctx: NamedDependency[Context]) -> list[AgencyOut]:
        """Public directory of agencies and their public keys."""
        return [agency_out(v) for v in await wf.directory(ctx)]

    @get("/{agency_id:str}")
    async def show(self, ctx: NamedDependency[Context], agency_id: FromPath[str]) -> AgencyOut:
        """One agency with its keys."""
        return agency_out(await wf.show_agency(ctx, agency_id))

    @post("/")
    async def register(
        self,
        ctx: NamedDependency[Context],
        principal: NamedDependency[Principal],
        data: JSONBody[RegisterAgency],
    ) -> AgencyCreated:
        """Register an agency (operator); the response carries its token, shown once."""
        view, token = await wf.register_agency(ctx, principal, data)
        return AgencyCreated(agency_out(view), token)

    @post("/{agency_id:str}/keys")
    async def add_key(
        self,
        ctx: NamedDependency[Context],
        principal: NamedDependency[Principal],
        agency_id: FromPath[str],
        data: JSONBody[NewKey],
    ) -> KeyOut:
        """Register another public key for an agency (operator)."""
        return key_out(await wf.add_key(ctx, principal, agency_id, data))

    @post("/{agency_id:str}/keys/{key_id:str}/revoke", status_code=200)
    async def revoke_key(
        self,
        ctx: NamedDependency[Context],
        principal: NamedDependency[Principal],
        agency_id: FromPath[str],
        key_id: FromPath[str],
        data: JSONBody[RevokeKey],
    ) -> KeyOut:
        """Revoke a key (operator)."""
        return key_out(await wf.revoke_key(ctx, principal, agency_id, key_id, data))

    @post("/{agency_id:str}/tokens")
    async def issue_token(
        self,
        ctx: NamedDependency[Context],
        principal: NamedDependency[Principal],
        agency_id: FromPath[str],
    ) -> TokenOut:
        """Issue another bearer token for an agency (operator), shown once."""
        return TokenOut(agency_id, await wf.issue_token(ctx, principal, agency_id))
