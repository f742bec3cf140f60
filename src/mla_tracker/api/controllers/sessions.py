"""`/v1/sessions`: an agency logs in by signing a challenge, and logs out."""

from __future__ import annotations

from datetime import datetime

import msgspec
from litestar import Controller, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from ...workflows import sessions as wf
from ...workflows.commands import NewChallenge, SignedLogin
from ...workflows.context import Context
from ...workflows.errors import AuthenticationFailed, Forbidden
from ...workflows.principals import Principal
from ..openapi import raises
from .agencies import KeyEntry, key_entry


class ChallengeOut(msgspec.Struct, frozen=True, kw_only=True):
    """A one-time login challenge."""

    challenge: str
    expires_at: datetime


class SessionOut(msgspec.Struct, frozen=True, kw_only=True):
    """A session token (shown once) and the agency's announced recovery keys."""

    token: str
    expires_at: datetime
    agency_id: str
    key_id: str
    #: Every unrevoked recovery key the operator added to this agency: check each one.
    recovery_keys: list[KeyEntry]


class SessionController(Controller):
    """`/v1/sessions`."""

    path = "/v1/sessions"
    tags = ("sessions",)

    @post("/challenge")
    async def challenge(
        self, ctx: NamedDependency[Context], data: JSONBody[NewChallenge]
    ) -> ChallengeOut:
        """A fresh challenge to sign (no token needed); single use, valid 5 minutes."""
        c = await wf.new_challenge(ctx)
        return ChallengeOut(challenge=c.challenge, expires_at=c.expires_at)

    @post("/", opt=raises(AuthenticationFailed))
    async def login(self, ctx: NamedDependency[Context], data: JSONBody[SignedLogin]) -> SessionOut:
        """Trade a signed login for a short-lived session token."""
        s = await wf.login(ctx, data.envelope)
        return SessionOut(
            token=s.token,
            expires_at=s.expires_at,
            agency_id=s.agency_id,
            key_id=s.key_id,
            recovery_keys=[key_entry(k) for k in s.recovery_keys],
        )

    @post("/logout", status_code=204, opt=raises(Forbidden))
    async def logout(
        self, ctx: NamedDependency[Context], principal: NamedDependency[Principal]
    ) -> None:
        """Revoke the presented session token."""
        await wf.logout(ctx, principal)
