"""Test helpers: agencies with real keys and tokens, driving the real API over ASGI."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import msgspec
from litestar.testing import AsyncTestClient

from mla_tracker.crypto.keys import SigningKey
from mla_tracker.crypto.statement import GENESIS, encode_payload, sign_statement

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
    body: dict[str, Any],
    *,
    key: SigningKey | None = None,
    issued_at: datetime | None = None,
    actor: str | None = None,
) -> dict[str, Any]:
    """A signed statement envelope as JSON-ready dict."""
    key = key or agency.key
    payload = encode_payload(
        request_id=request_id,
        seq=seq,
        prev=prev,
        action=action,
        actor=actor or agency.id,
        key_id=key.key_id,
        body=body,
        issued_at=issued_at,
    )
    return msgspec.to_builtins(sign_statement(payload, key))


def mla_content(requester: str, requested: str, **over: Any) -> dict[str, Any]:
    """A complete MLA request: Lao police asking Thailand for subscriber data of a scam account."""
    content: dict[str, Any] = {
        "kind": "mla",
        "requesting_agency": requester,
        "requested_agency": requested,
        "legal_basis": {"instrument": "asean_mlat_2004", "citation": "Art 1(2)(a), Art 6"},
        "case_reference": "LA-MPS-CYB-2026-0142",
        "offences": [
            {"name": "online fraud", "statute": "Penal Code Art 166", "maximum_penalty": "5 years"}
        ],
        "summary_of_facts": "Victims paid into an account advertised on a messaging app.",
        "assistance_sought": "Subscriber information for the account, to identify its holder.",
        "data_requested": [
            {
                "category": "subscriber",
                "identifiers": ["+66 81 234 5678"],
                "time_range": {
                    "start": "2026-08-01T00:00:00+07:00",
                    "end": "2026-10-31T23:59:59+07:00",
                },
            }
        ],
        "custodian": {"name": "Example Mobile Co.", "country": "TH"},
        "delivery_form": "certified electronic copy",
        "procedure_requested": "certificate of authenticity by the custodian",
    }
    content.update(over)
    return content


def preservation_content(requester: str, requested: str, **over: Any) -> dict[str, Any]:
    """A complete expedited preservation request (Budapest Art 29(2))."""
    content = mla_content(requester, requested, kind="preservation")
    for name in ("assistance_sought", "delivery_form", "procedure_requested"):
        content.pop(name)
    content.update(
        necessity="The provider deletes logs after 90 days.",
        mla_to_follow=True,
        legal_basis={"instrument": "budapest_convention", "citation": "Art 29"},
    )
    content.update(over)
    return content


@dataclass
class Hub:
    """The running service as agencies see it."""

    client: AsyncTestClient[Any]
    operator: dict[str, str] = field(
        default_factory=lambda: {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
    )

    async def register(self, agency_id: str, country: str, role: str) -> Agency:
        """Register an agency with a fresh key; return it with its token."""
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
        return Agency(agency_id, role, country, key, resp.json()["token"])

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
