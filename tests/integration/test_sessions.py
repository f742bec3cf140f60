"""Sessions the agency mints (issue 7): challenge login, expiry, logout, revocation with the
key, immediately and on a second server process sharing the database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from mla_tracker.api.app import create_app
from mla_tracker.config import Settings
from mla_tracker.crypto.keys import SigningKey
from mla_tracker.crypto.login import sign_login
from mla_tracker.storage.db import create_engine
from mla_tracker.storage.tables import TokenRow
from tests.integration.conftest import Cast
from tests.integration.test_keys import Clock
from tests.keys_support import key_event, login, login_token
from tests.support import Hub


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _whoami(client: AsyncTestClient[object], token: str) -> int:
    return (await client.get("/v1/whoami", headers=_bearer(token))).status_code


async def test_login_mints_a_short_session_stored_hashed(
    hub: Hub, cast: Cast, database_url: str
) -> None:
    t0 = datetime.now(UTC)
    resp = await login(hub.client, cast.lao.id, cast.lao.key)
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["token"].startswith("mla_")
    assert (body["agency_id"], body["key_id"]) == (cast.lao.id, cast.lao.key.key_id)
    expires = datetime.fromisoformat(body["expires_at"])
    assert t0 + timedelta(minutes=59) < expires <= datetime.now(UTC) + timedelta(hours=1)
    me = await hub.client.get("/v1/whoami", headers=_bearer(body["token"]))
    assert me.json() == {"operator": False, "agency_id": cast.lao.id, "role": "central_authority"}
    engine = create_engine(database_url, pool=False)
    async with engine.connect() as conn:
        rows = (await conn.execute(select(TokenRow.token_hash, TokenRow.key_id))).all()
    await engine.dispose()
    hashes = {h for h, _k in rows}
    assert body["token"] not in hashes and cast.lao.token not in hashes
    assert all(len(h) == 64 for h in hashes)
    assert all(k is not None for _h, k in rows)


async def test_challenge_is_single_use_and_must_be_signed_by_the_agencys_key(
    hub: Hub, cast: Cast
) -> None:
    challenge = (await hub.client.post("/v1/sessions/challenge", json={})).json()["challenge"]
    now = datetime.now(UTC)

    async def post(agency: str, key: SigningKey) -> int:
        env = sign_login(agency=agency, challenge=challenge, key=key, issued_at=now)
        resp = await hub.client.post("/v1/sessions", json={"envelope": msgspec.to_builtins(env)})
        return resp.status_code

    assert await post(cast.lao.id, cast.thai.key) == 401  # another agency's key
    assert await post(cast.lao.id, SigningKey.generate()) == 401  # nobody's key
    assert await post(cast.lao.id, cast.lao.key) == 201
    assert await post(cast.lao.id, cast.lao.key) == 401  # used
    made_up = sign_login(agency=cast.lao.id, challenge="A" * 44, key=cast.lao.key, issued_at=now)
    resp = await hub.client.post("/v1/sessions", json={"envelope": msgspec.to_builtins(made_up)})
    assert resp.status_code == 401
    # A forged signature (payload of one login, signature of another) is refused.
    c2 = (await hub.client.post("/v1/sessions/challenge", json={})).json()["challenge"]
    good = msgspec.to_builtins(
        sign_login(agency=cast.lao.id, challenge=c2, key=cast.lao.key, issued_at=now)
    )
    other = msgspec.to_builtins(
        sign_login(agency=cast.lao.id, challenge=challenge, key=cast.lao.key, issued_at=now)
    )
    good["signatures"] = other["signatures"]
    assert (await hub.client.post("/v1/sessions", json={"envelope": good})).status_code == 401
    assert (await hub.client.post("/v1/sessions/challenge", json={"x": 1})).status_code == 400


async def test_the_operator_token_is_no_agency_session(hub: Hub) -> None:
    me = await hub.client.get("/v1/whoami", headers=hub.operator)
    assert me.json() == {"operator": True, "agency_id": None, "role": None}
    assert (await hub.client.post("/v1/sessions/logout", headers=hub.operator)).status_code == 403


async def test_logout_revokes_the_presented_token_only(hub: Hub, cast: Cast) -> None:
    other = await login_token(hub.client, cast.lao.id, cast.lao.key)
    resp = await hub.client.post("/v1/sessions/logout", headers=cast.lao.auth)
    assert resp.status_code == 204, resp.text
    assert await _whoami(hub.client, cast.lao.token) == 401
    assert (await hub.client.post("/v1/sessions/logout", headers=cast.lao.auth)).status_code == 401
    assert await _whoami(hub.client, other) == 200


@pytest.fixture
def clock() -> Clock:
    """A frozen clock shared by the app and the test."""
    return Clock()


async def test_sessions_expire(settings: Settings, clock: Clock) -> None:
    async with AsyncTestClient(app=create_app(settings, clock=clock)) as client:
        hub = Hub(client)
        key = SigningKey.generate()
        resp = await client.post(
            "/v1/agencies",
            json={
                "id": "la-mps",
                "name": "LA",
                "country": "LA",
                "role": "central_authority",
                "public_key": key.public.to_base64(),
            },
            headers=hub.operator,
        )
        assert resp.status_code == 201
        # A challenge older than 5 minutes is refused too.
        stale = (await client.post("/v1/sessions/challenge", json={})).json()["challenge"]
        clock.advance(minutes=6)
        env = sign_login(agency="la-mps", challenge=stale, key=key, issued_at=clock.now)
        late = await client.post("/v1/sessions", json={"envelope": msgspec.to_builtins(env)})
        assert late.status_code == 401
        session = await login(client, "la-mps", key, issued_at=clock.now)
        token = session.json()["token"]
        assert datetime.fromisoformat(session.json()["expires_at"]) == clock.now + timedelta(
            hours=1
        )
        clock.advance(minutes=59, seconds=59)
        assert await _whoami(client, token) == 200
        clock.advance(seconds=1)
        assert await _whoami(client, token) == 401


@pytest.fixture
async def two_hubs(settings: Settings) -> AsyncIterator[tuple[Hub, Hub]]:
    """Two server instances (separate apps, engines and pools) on one database."""
    async with (
        AsyncTestClient(app=create_app(settings)) as one,
        AsyncTestClient(app=create_app(settings)) as two,
    ):
        yield Hub(one), Hub(two)


async def test_revoking_a_key_ends_its_sessions_on_every_instance(
    two_hubs: tuple[Hub, Hub],
) -> None:
    one, two = two_hubs
    lao = await one.register("la-mps", "LA", "central_authority")
    spare = SigningKey.generate()
    added = await key_event(
        one.client, lao.id, "add", spare.key_id, lao.key, public_key=spare.public
    )
    assert added.status_code == 201
    spare_token = await login_token(two.client, lao.id, spare)
    assert await _whoami(two.client, lao.token) == 200  # warm instance two up
    # The agency revokes its old key through instance one: instance two refuses at once.
    resp = await key_event(one.client, lao.id, "revoke", lao.key.key_id, spare)
    assert resp.status_code == 201, resp.text
    assert await _whoami(two.client, lao.token) == 401
    assert await _whoami(two.client, spare_token) == 200
    # The operator revokes the other key through instance two: instance one refuses at once.
    revoke = await two.client.post(
        f"/v1/agencies/{lao.id}/keys/{spare.key_id}/revoke", json={}, headers=two.operator
    )
    assert revoke.status_code == 200
    assert await _whoami(one.client, spare_token) == 401
    # Logout on one instance is seen by the other.
    thai = await one.register("th-oag", "TH", "central_authority")
    assert await _whoami(two.client, thai.token) == 200
    assert (await one.client.post("/v1/sessions/logout", headers=thai.auth)).status_code == 204
    assert await _whoami(two.client, thai.token) == 401
