"""GET of one request reads the request in the same round trip as the caller's token on
PostgreSQL (principals.authenticate_with_request). Every answer must be what the two
separate reads gave: who may see what, and a session ended anywhere ends here at once."""

from __future__ import annotations

import uuid

from mla_tracker.crypto.keys import SigningKey
from tests.integration.conftest import Cast, in_execution
from tests.keys_support import key_event, login_token
from tests.support import Hub


async def test_who_sees_one_request(hub: Hub, cast: Cast) -> None:
    rid = await in_execution(hub, cast)
    url = f"/v1/requests/{rid}"
    for party in (cast.lao, cast.thai, cast.thai_police):
        resp = await hub.client.get(url, headers=party.auth)
        assert resp.status_code == 200, resp.text
        shown = resp.json()
        assert shown["id"] == rid and shown["state"] == "in_execution"
        assert shown["head"]["seq"] == 4 and shown["content"]["requesting_agency"] == "la-mps"
    audited = (await hub.client.get(url, headers=cast.auditor.auth)).json()
    assert audited["state"] == "in_execution"
    assert audited["content"] is None and audited["case_reference"] is None
    # Not a party, no such request: the same 404, so existence does not leak.
    hidden = await hub.client.get(url, headers=cast.outsider.auth)
    missing = await hub.client.get(f"/v1/requests/{uuid.uuid4()}", headers=cast.lao.auth)
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["type"] == missing.json()["type"]
    assert (await hub.client.get(url, headers=hub.operator)).status_code == 403
    assert (await hub.client.get(url)).status_code == 401
    wrong = {"Authorization": "Bearer mla_not-a-token"}
    assert (await hub.client.get(url, headers=wrong)).status_code == 401


async def test_an_ended_session_is_refused_at_once(hub: Hub, cast: Cast) -> None:
    rid = await in_execution(hub, cast)
    url = f"/v1/requests/{rid}"
    other = {"Authorization": f"Bearer {await login_token(hub.client, cast.lao.id, cast.lao.key)}"}
    assert (await hub.client.post("/v1/sessions/logout", headers=cast.lao.auth)).status_code == 204
    assert (await hub.client.get(url, headers=cast.lao.auth)).status_code == 401
    assert (await hub.client.get(url, headers=other)).status_code == 200
    # Revoking the key that opened a session ends it too.
    spare = SigningKey.generate()
    added = await key_event(
        hub.client, cast.lao.id, "add", spare.key_id, cast.lao.key, public_key=spare.public
    )
    assert added.status_code == 201, added.text
    revoked = await key_event(hub.client, cast.lao.id, "revoke", cast.lao.key.key_id, spare)
    assert revoked.status_code == 201, revoked.text
    assert (await hub.client.get(url, headers=other)).status_code == 401
