"""Test helpers: agencies with real keys and tokens, driving the real API over ASGI."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import msgspec
from litestar.testing import AsyncTestClient

from mla_tracker import protocol
from mla_tracker.crypto import dsse, wire
from mla_tracker.crypto.keyhistory import KeyHistory
from mla_tracker.crypto.keys import SigningKey, VerifyingKey
from mla_tracker.crypto.statement import GENESIS

# Re-exported: the tests build their requests from the same example the demo uses.
from mla_tracker.examples import mla_content as mla_content
from mla_tracker.examples import preservation_content as preservation_content

OPERATOR_TOKEN = "mla_test-operator-token-0123456789"


@dataclass
class Agency:
    """A registered agency as a test drives it: id, signing key, token."""

    id: str
    role: str
    country: str
    key: SigningKey
    token: str

    @property
    def auth(self) -> dict[str, str]:
        """Authorization header."""
        return {"Authorization": f"Bearer {self.token}"}


def envelope_json(
    agency: Agency,
    request_id: uuid.UUID,
    seq: int,
    prev: str,
    action: str,
    body: dict[str, Any] | bytes,
    *,
    key: SigningKey | None = None,
    issued_at: datetime | None = None,
    actor: str | None = None,
    meta: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A signed statement with its detached body, as the JSON `POST …/statements` takes."""
    return protocol.to_json(
        protocol.sign(
            key or agency.key,
            request_id=request_id,
            seq=seq,
            prev=prev,
            action=action,
            actor=actor or agency.id,
            body=body,
            issued_at=issued_at,
            meta=meta,
        )
    )


@dataclass
class Hub:
    """The running service as agencies see it."""

    client: AsyncTestClient[Any]
    operator: dict[str, str] = field(
        default_factory=lambda: {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    )

    async def register(self, agency_id: str, country: str, role: str) -> Agency:
        """Register an agency with a fresh key (operator), log in by challenge; return it."""
        key = SigningKey.generate()
        resp = await self.client.post(
            "/v1/agencies",
            json={
                "id": agency_id,
                "name": agency_id.upper(),
                "country": country,
                "role": role,
                "public_key": key.public.to_base64(),
            },
            headers=self.operator,
        )
        assert resp.status_code == 201, resp.text
        # The operator cannot mint an agency's session: the agency logs in with its key.
        from tests.keys_support import login_token

        return Agency(agency_id, role, country, key, await login_token(self.client, agency_id, key))

    async def submit(self, agency: Agency, content: dict[str, Any]) -> dict[str, Any]:
        """Sign and submit a new request; assert it was accepted; return the request."""
        rid = uuid.uuid4()
        env = envelope_json(agency, rid, 1, GENESIS, "transmit", content)
        resp = await self.client.post("/v1/requests", json=env, headers=agency.auth)
        assert resp.status_code == 201, resp.text
        return dict(resp.json()["request"])

    async def head(self, agency: Agency, request_id: str) -> tuple[int, str]:
        """The request's head as the agency reads it."""
        resp = await self.client.get(f"/v1/requests/{request_id}", headers=agency.auth)
        assert resp.status_code == 200, resp.text
        head = resp.json()["head"]
        return head["seq"], head["digest"]

    async def act(
        self,
        agency: Agency,
        request_id: str,
        action: str,
        body: dict[str, Any] | None = None,
        *,
        reader: Agency | None = None,
    ) -> Any:
        """Sign the next statement for the current head and post it; return the response."""
        seq, digest = await self.head(reader or agency, request_id)
        env = envelope_json(agency, uuid.UUID(request_id), seq + 1, digest, action, body or {})
        return await self.client.post(
            f"/v1/requests/{request_id}/statements", json=env, headers=agency.auth
        )


def in_days(n: int) -> str:
    """An ISO date n days from today (UTC)."""
    return (datetime.now(UTC).date() + timedelta(days=n)).isoformat()


def today() -> date:
    """Today in UTC."""
    return datetime.now(UTC).date()


async def key_history(client: AsyncTestClient[Any]) -> KeyHistory:
    """Every agency's key history, verified from the public key events and server key."""
    server = (await client.get("/v1/server-key")).json()
    events = (await client.get("/v1/key-events")).json()
    envelopes = [
        wire.decode(msgspec.json.encode(e["envelope"]), dsse.Envelope, "key event") for e in events
    ]
    return KeyHistory.from_events(envelopes, VerifyingKey.from_base64(server["public_key"]))


async def verify_offline(hub: Hub, reader: Agency, request_id: str) -> protocol.VerifiedRequest:
    """Fetch what `reader` may see of a request and verify it offline, as an auditor would.

    Asserts that an auditor never receives a body, and that the chain ends at the head the
    hub reports.
    """
    resp = await hub.client.get(f"/v1/requests/{request_id}/statements", headers=reader.auth)
    assert resp.status_code == 200, resp.text
    rows = resp.json()
    if reader.role == "auditor":
        assert all(r["body"] is None for r in rows)
    envelopes, bodies = protocol.parse_statement_list(rows)
    verified = protocol.verify_request(envelopes, await key_history(hub.client), bodies)
    assert verified.head_digest == rows[-1]["digest"]
    assert [s.value for s in verified.states][-1] == (
        await hub.client.get(f"/v1/requests/{request_id}", headers=reader.auth)
    ).json()["state"]
    return verified


def login_sync(http: httpx.Client, agency_id: str, key: SigningKey) -> str:
    """Log an agency in by signing a challenge over a plain httpx client; return the token."""
    from mla_tracker.crypto.login import sign_login

    challenge = http.post("/v1/sessions/challenge", json={})
    assert challenge.status_code == 201, challenge.text
    envelope = sign_login(
        agency=agency_id,
        challenge=challenge.json()["challenge"],
        key=key,
        issued_at=datetime.now(UTC),
    )
    resp = http.post("/v1/sessions", json={"envelope": msgspec.to_builtins(envelope)})
    assert resp.status_code == 201, resp.text
    return str(resp.json()["token"])


def register_sync(
    http: httpx.Client,
    agency_id: str,
    country: str,
    role: str,
    operator_token: str = OPERATOR_TOKEN,
) -> tuple[SigningKey, str]:
    """Register an agency with a fresh key over plain httpx and log it in; (key, token)."""
    key = SigningKey.generate()
    resp = http.post(
        "/v1/agencies",
        headers={"Authorization": f"Bearer {operator_token}"},
        json={
            "id": agency_id,
            "name": agency_id,
            "country": country,
            "role": role,
            "public_key": key.public.to_base64(),
        },
    )
    assert resp.status_code == 201, resp.text
    return key, login_sync(http, agency_id, key)
