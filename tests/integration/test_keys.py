"""Keys the agency controls (issue 7, findings 1–2): what the operator can no longer do,
rotation by signed key event, delayed recovery keys, and offline key history."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from mla_tracker.api.app import create_app
from mla_tracker.config import Settings
from mla_tracker.crypto.dsse import Envelope
from mla_tracker.crypto.errors import KeyNotValid
from mla_tracker.crypto.keyhistory import KeyHistory
from mla_tracker.crypto.keys import SigningKey, VerifyingKey
from mla_tracker.storage.db import create_engine
from mla_tracker.storage.tables import AgencyKeyRow, KeyEventRow, TokenRow
from tests.integration.conftest import Cast
from tests.keys_support import key_event, key_head, login, login_token
from tests.support import Agency, Hub, mla_content


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


async def _counts(database_url: str) -> tuple[int, int, int]:
    """(keys, key events, tokens) in the database."""
    engine = create_engine(database_url, pool=False)
    try:
        async with engine.connect() as conn:
            out = []
            for table in (AgencyKeyRow, KeyEventRow, TokenRow):
                out.append((await conn.execute(select(func.count()).select_from(table))).scalar())
    finally:
        await engine.dispose()
    return out[0] or 0, out[1] or 0, out[2] or 0


def _problem(resp: Any, status: int, slug: str | None = None) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = resp.json()
    if slug is not None:
        assert body["type"].endswith("/" + slug), body
    return body


async def _history(client: AsyncTestClient[Any]) -> KeyHistory:
    """Fetch every key event and the server key, and verify them offline."""
    server = (await client.get("/v1/server-key")).json()
    events = (await client.get("/v1/key-events")).json()
    envelopes = [msgspec.convert(e["envelope"], Envelope) for e in events]
    return KeyHistory.from_events(envelopes, VerifyingKey.from_base64(server["public_key"]))


async def test_operator_cannot_add_a_second_key(hub: Hub, cast: Cast, database_url: str) -> None:
    before = await _counts(database_url)
    new = SigningKey.generate()
    resp = await hub.client.post(
        f"/v1/agencies/{cast.lao.id}/keys",
        json={"public_key": new.public.to_base64()},
        headers=hub.operator,
    )
    body = _problem(resp, 403, "operator-cannot-add-key")
    assert "rotate-key" in body["detail"]
    assert await _counts(database_url) == before
    # ... and so cannot log in, nor sign, as la-mps with a key of its own making.
    _problem(await login(hub.client, cast.lao.id, new), 401)


async def test_operator_cannot_mint_agency_tokens(hub: Hub, cast: Cast, database_url: str) -> None:
    before = await _counts(database_url)
    resp = await hub.client.post(f"/v1/agencies/{cast.lao.id}/tokens", headers=hub.operator)
    assert resp.status_code in (404, 405), resp.text
    assert await _counts(database_url) == before
    created = await hub.client.post(
        "/v1/agencies",
        json={"id": "sg-agc", "name": "SG", "country": "SG", "role": "central_authority"},
        headers=hub.operator,
    )
    assert created.status_code == 201 and "token" not in created.json()


async def test_no_back_dated_revocation_nor_past_valid_from(
    hub: Hub, cast: Cast, database_url: str
) -> None:
    before = await _counts(database_url)
    past = (datetime.now(UTC) - timedelta(days=3)).isoformat()
    revoke = await hub.client.post(
        f"/v1/agencies/{cast.lao.id}/keys/{cast.lao.key.key_id}/revoke",
        json={"revoked_at": past},
        headers=hub.operator,
    )
    assert revoke.status_code == 400, revoke.text
    bare = await hub.client.post(
        "/v1/agencies",
        json={"id": "sg-agc", "name": "SG", "country": "SG", "role": "central_authority"},
        headers=hub.operator,
    )
    assert bare.status_code == 201
    before = await _counts(database_url)
    for path in ("/v1/agencies/sg-agc/keys", "/v1/agencies/sg-agc/recovery-keys"):
        resp = await hub.client.post(
            path,
            json={
                "public_key": SigningKey.generate().public.to_base64(),
                "valid_from": "2000-01-01",
            },
            headers=hub.operator,
        )
        assert resp.status_code == 400, resp.text
    assert await _counts(database_url) == before
    # An agency's own key event cannot be back-dated either.
    new = SigningKey.generate()
    old = datetime.now(UTC) - timedelta(hours=1)
    resp = await key_event(
        hub.client,
        cast.lao.id,
        "add",
        new.key_id,
        cast.lao.key,
        public_key=new.public,
        issued_at=old,
    )
    assert "clock" in _problem(resp, 422)["detail"]
    assert await _counts(database_url) == before
    listed = (await hub.client.get(f"/v1/agencies/{cast.lao.id}")).json()
    assert [k["revoked_at"] for k in listed["keys"]] == [None]


async def test_operator_revokes_from_now_and_first_key_only_once(hub: Hub) -> None:
    created = await hub.client.post(
        "/v1/agencies",
        json={"id": "sg-agc", "name": "SG", "country": "SG", "role": "central_authority"},
        headers=hub.operator,
    )
    assert created.json()["keys"] == []
    first = SigningKey.generate()
    resp = await hub.client.post(
        "/v1/agencies/sg-agc/keys",
        json={"public_key": first.public.to_base64()},
        headers=hub.operator,
    )
    assert resp.status_code == 201 and resp.json()["origin"] == "bootstrap"
    # Even after the only key is revoked, the operator does not get to add another directly.
    t0 = datetime.now(UTC)
    revoked = await hub.client.post(
        f"/v1/agencies/sg-agc/keys/{first.key_id}/revoke", json={}, headers=hub.operator
    )
    assert revoked.status_code == 200
    assert datetime.fromisoformat(revoked.json()["revoked_at"]) >= t0
    again = await hub.client.post(
        "/v1/agencies/sg-agc/keys",
        json={"public_key": SigningKey.generate().public.to_base64()},
        headers=hub.operator,
    )
    _problem(again, 403, "operator-cannot-add-key")
    events = (await hub.client.get("/v1/agencies/sg-agc/key-events")).json()
    assert [(e["event"], e["signer"]) for e in events] == [
        ("register", "server"),
        ("revoke", "server"),
    ]


async def test_agency_management_is_operator_only(hub: Hub, cast: Cast) -> None:
    key = SigningKey.generate().public.to_base64()
    calls: list[tuple[str, dict[str, Any]]] = [
        ("/v1/agencies", {"id": "sg-x", "name": "SG", "country": "SG", "role": "auditor"}),
        ("/v1/agencies/sg-x/keys", {"public_key": key}),
        (f"/v1/agencies/{cast.outsider.id}/recovery-keys", {"public_key": key}),
        (f"/v1/agencies/{cast.outsider.id}/keys/{cast.outsider.key.key_id}/revoke", {}),
    ]
    for who, headers, status in [
        ("anonymous", {}, 401),
        ("agency itself", cast.outsider.auth, 403),
        ("auditor", cast.auditor.auth, 403),
    ]:
        for path, body in calls:
            resp = await hub.client.post(path, json=body, headers=headers)
            assert resp.status_code == status, (who, path, resp.text)
    for path in ("/v1/agencies", "/v1/key-events", f"/v1/agencies/{cast.lao.id}/key-events"):
        assert (await hub.client.get(path)).status_code == 200, path


async def test_rotation_then_revocation(hub: Hub, cast: Cast) -> None:
    lao = cast.lao
    rid = str((await hub.submit(lao, mla_content(lao.id, cast.thai.id)))["id"])
    assert (await hub.act(cast.thai, rid, "acknowledge")).status_code == 201
    new = SigningKey.generate()
    added = await key_event(hub.client, lao.id, "add", new.key_id, lao.key, public_key=new.public)
    assert added.status_code == 201, added.text
    assert added.json()["signer"] == lao.key.key_id
    # A re-send is idempotent; a stale head is a conflict naming the current head.
    again = await hub.client.post(
        f"/v1/agencies/{lao.id}/key-events", json={"envelope": added.json()["envelope"]}
    )
    assert again.status_code == 200 and again.json()["digest"] == added.json()["digest"]
    other = SigningKey.generate()
    stale = await key_event(
        hub.client,
        lao.id,
        "add",
        other.key_id,
        lao.key,
        public_key=other.public,
        head=(1, "0" * 64),
    )
    assert _problem(stale, 409, "stale-head")["head"] == {
        "seq": 2,
        "digest": added.json()["digest"],
    }
    revoked = await key_event(hub.client, lao.id, "revoke", lao.key.key_id, new)
    assert revoked.status_code == 201, revoked.text
    # The old key's session ended with it; the old key neither logs in nor signs.
    assert (await hub.client.get("/v1/whoami", headers=lao.auth)).status_code == 401
    _problem(await login(hub.client, lao.id, lao.key), 401)
    rotated = Agency(lao.id, lao.role, lao.country, new, await login_token(hub.client, lao.id, new))
    old_signer = Agency(lao.id, lao.role, lao.country, lao.key, rotated.token)
    refused = await hub.act(old_signer, rid, "withdraw")
    assert refused.status_code == 422, refused.text
    accepted = await hub.act(rotated, rid, "withdraw")
    assert accepted.status_code == 201, accepted.text

    # Offline: the key history says which key was the agency's when.
    history = await _history(hub.client)
    statements = (
        await hub.client.get(f"/v1/requests/{rid}/statements", headers=rotated.auth)
    ).json()
    assert [s["action"] for s in statements][-1] == "withdraw"
    for s in statements:
        at = datetime.fromisoformat(s["issued_at"])
        assert history.key_for(s["actor"], s["key_id"], at).key_id == s["key_id"]
    with pytest.raises(KeyNotValid, match="revoked"):
        history.key_for(lao.id, lao.key.key_id, datetime.now(UTC))
    with pytest.raises(KeyNotValid, match="another agency"):
        history.key_for(cast.thai.id, new.key_id, datetime.now(UTC))
    assert history.recoveries() == []


async def test_agency_event_rules(hub: Hub, cast: Cast) -> None:
    lao, thai = cast.lao, cast.thai
    new = SigningKey.generate()
    # Signed by another agency's key, or by a key that is not the agency's at all.
    for signer in (thai.key, SigningKey.generate()):
        resp = await key_event(hub.client, lao.id, "add", new.key_id, signer, public_key=new.public)
        _problem(resp, 422, "key-not-valid")
    # Agencies do not sign register/recover; the URL and the payload must agree.
    resp = await key_event(
        hub.client, lao.id, "recover", new.key_id, lao.key, public_key=new.public
    )
    assert resp.status_code in (403, 422), resp.text
    head = await key_head(hub.client, lao.id)
    resp = await key_event(hub.client, thai.id, "add", new.key_id, lao.key, public_key=new.public)
    assert resp.status_code in (409, 422), resp.text
    # An agency cannot revoke another agency's key.
    resp = await key_event(hub.client, lao.id, "revoke", thai.key.key_id, lao.key)
    _problem(resp, 422, "key-not-valid")
    assert await key_head(hub.client, lao.id) == head
    assert (await hub.client.get("/v1/whoami", headers=thai.auth)).status_code == 200


@pytest.fixture
def clock() -> Clock:
    """A frozen clock shared by the app and the test."""
    return Clock()


@pytest.fixture
async def frozen_hub(settings: Settings, clock: Clock) -> AsyncIterator[Hub]:
    """The service with a hand-moved clock."""
    async with AsyncTestClient(app=create_app(settings, clock=clock)) as client:
        yield Hub(client)


async def _register(hub: Hub, agency_id: str, clock: Clock) -> tuple[SigningKey, str]:
    key = SigningKey.generate()
    resp = await hub.client.post(
        "/v1/agencies",
        json={
            "id": agency_id,
            "name": agency_id,
            "country": "LA",
            "role": "central_authority",
            "public_key": key.public.to_base64(),
        },
        headers=hub.operator,
    )
    assert resp.status_code == 201, resp.text
    token = await login(hub.client, agency_id, key, issued_at=clock.now)
    assert token.status_code == 201, token.text
    return key, str(token.json()["token"])


async def test_recovery_key_waits_for_its_delay(frozen_hub: Hub, clock: Clock) -> None:
    hub = frozen_hub
    lost, _token = await _register(hub, "la-mps", clock)
    recovery = SigningKey.generate()
    resp = await hub.client.post(
        "/v1/agencies/la-mps/recovery-keys",
        json={"public_key": recovery.public.to_base64()},
        headers=hub.operator,
    )
    assert resp.status_code == 201, resp.text
    usable = datetime.fromisoformat(resp.json()["usable_from"])
    assert usable == clock.now + timedelta(hours=72) and resp.json()["origin"] == "recovery"
    # Announced: the agency's own login lists it.
    announced = await login(hub.client, "la-mps", lost, issued_at=clock.now)
    assert [k["key_id"] for k in announced.json()["recovery_keys"]] == [recovery.key_id]

    clock.advance(hours=71, minutes=59)
    _problem(await login(hub.client, "la-mps", recovery, issued_at=clock.now), 401)
    other = SigningKey.generate()
    early = await key_event(
        hub.client,
        "la-mps",
        "add",
        other.key_id,
        recovery,
        public_key=other.public,
        issued_at=clock.now,
    )
    _problem(early, 422, "key-not-valid")

    clock.advance(minutes=2)
    ok = await login(hub.client, "la-mps", recovery, issued_at=clock.now)
    assert ok.status_code == 201, ok.text
    later = await key_event(
        hub.client,
        "la-mps",
        "add",
        other.key_id,
        recovery,
        public_key=other.public,
        issued_at=clock.now,
    )
    assert later.status_code == 201, later.text

    history = await _history(hub.client)
    assert [r.event.key_id for r in history.recoveries()] == [recovery.key_id]
    with pytest.raises(KeyNotValid, match="not usable before"):
        history.key_for("la-mps", recovery.key_id, usable - timedelta(seconds=1))
    assert history.key_for("la-mps", recovery.key_id, usable).key_id == recovery.key_id


async def test_agency_revokes_a_recovery_key_during_the_delay(
    frozen_hub: Hub, clock: Clock
) -> None:
    hub = frozen_hub
    key, _token = await _register(hub, "la-mps", clock)
    recovery = SigningKey.generate()
    resp = await hub.client.post(
        "/v1/agencies/la-mps/recovery-keys",
        json={"public_key": recovery.public.to_base64()},
        headers=hub.operator,
    )
    assert resp.status_code == 201
    clock.advance(hours=1)
    revoked = await key_event(
        hub.client, "la-mps", "revoke", recovery.key_id, key, issued_at=clock.now
    )
    assert revoked.status_code == 201, revoked.text
    clock.advance(hours=100)
    _problem(await login(hub.client, "la-mps", recovery, issued_at=clock.now), 401)
    fresh = await login(hub.client, "la-mps", key, issued_at=clock.now)
    assert fresh.status_code == 201 and fresh.json()["recovery_keys"] == []


async def test_recovery_needs_an_agency_that_had_keys(hub: Hub) -> None:
    resp = await hub.client.post(
        "/v1/agencies",
        json={"id": "sg-agc", "name": "SG", "country": "SG", "role": "central_authority"},
        headers=hub.operator,
    )
    assert resp.status_code == 201
    key = SigningKey.generate().public.to_base64()
    resp = await hub.client.post(
        "/v1/agencies/sg-agc/recovery-keys", json={"public_key": key}, headers=hub.operator
    )
    _problem(resp, 403)
    missing = await hub.client.post(
        f"/v1/agencies/nobody-{uuid.uuid4().hex[:6]}/recovery-keys",
        json={"public_key": key},
        headers=hub.operator,
    )
    _problem(missing, 404)
