"""Test helpers for keys and sessions: sign logins and key events as an agency's client would."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar.testing import AsyncTestClient

from mla_tracker.crypto.keyevents import EventKind, encode_key_event, sign_key_event
from mla_tracker.crypto.keys import SigningKey, VerifyingKey
from mla_tracker.crypto.login import sign_login


async def login(
    client: AsyncTestClient[Any],
    agency_id: str,
    key: SigningKey,
    *,
    issued_at: datetime | None = None,
) -> Any:
    """Ask for a challenge, sign it, post the login; return the response (not asserted)."""
    resp = await client.post("/v1/sessions/challenge", json={})
    assert resp.status_code == 201, resp.text
    envelope = sign_login(
        agency=agency_id,
        challenge=resp.json()["challenge"],
        key=key,
        issued_at=issued_at or datetime.now(UTC),
    )
    return await client.post("/v1/sessions", json={"envelope": msgspec.to_builtins(envelope)})


async def login_token(client: AsyncTestClient[Any], agency_id: str, key: SigningKey) -> str:
    """Log in and return the session token (asserting success)."""
    resp = await login(client, agency_id, key)
    assert resp.status_code == 201, resp.text
    return str(resp.json()["token"])


async def key_head(client: AsyncTestClient[Any], agency_id: str) -> tuple[int, str]:
    """(seq, digest) of the agency's last key event, from the public endpoint."""
    resp = await client.get(f"/v1/agencies/{agency_id}/key-events")
    assert resp.status_code == 200, resp.text
    events = resp.json()
    return (events[-1]["seq"], events[-1]["digest"]) if events else (0, "0" * 64)


async def key_event(
    client: AsyncTestClient[Any],
    agency_id: str,
    event: EventKind,
    key_id: str,
    signer: SigningKey,
    *,
    public_key: VerifyingKey | None = None,
    issued_at: datetime | None = None,
    head: tuple[int, str] | None = None,
) -> Any:
    """Sign an add/revoke key event on the current head and post it; return the response."""
    seq, prev = head or await key_head(client, agency_id)
    payload = encode_key_event(
        agency=agency_id,
        seq=seq + 1,
        prev=prev,
        event=event,
        key_id=key_id,
        issued_at=issued_at or datetime.now(UTC),
        public_key=public_key,
    )
    envelope = msgspec.to_builtins(sign_key_event(payload, signer))
    return await client.post(f"/v1/agencies/{agency_id}/key-events", json={"envelope": envelope})


def cli_login(url: str, key_path: str) -> str:
    """Run `mla login` with MLA_KEY in-process; return the token from its export line."""
    import re

    from click.testing import CliRunner

    from mla_tracker.cli.main import cli

    env = {"MLA_URL": url, "MLA_KEY": key_path, "MLA_TOKEN": ""}
    result = CliRunner().invoke(cli, ["login"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    match = re.search(r"^export MLA_TOKEN=(mla_\S+)$", result.output, re.M)
    assert match, result.output
    return match.group(1)
