"""GET of one request reads the request in the same round trip as the caller's token, and
an append also the statement's signing key (principals.authenticate_with_request and
authenticate_with_move). Every answer must be what the separate reads gave: who may see
or move what, and a session or key ended anywhere ends here at once."""

from __future__ import annotations

import uuid

from mla_tracker.crypto.keys import SigningKey
from tests.integration.conftest import Cast, in_execution
from tests.keys_support import key_event, login_token
from tests.support import Agency, Hub, envelope_json, mla_content


async def _revoke_with_a_spare(hub: Hub, agency: Agency) -> SigningKey:
    """Add a spare key, then revoke the agency's key with it; the spare key."""
    spare = SigningKey.generate()
    added = await key_event(
        hub.client, agency.id, "add", spare.key_id, agency.key, public_key=spare.public
    )
    assert added.status_code == 201, added.text
    revoked = await key_event(hub.client, agency.id, "revoke", agency.key.key_id, spare)
    assert revoked.status_code == 201, revoked.text
    return spare


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
    await _revoke_with_a_spare(hub, cast.lao)
    assert (await hub.client.get(url, headers=other)).status_code == 401


# An append reads the caller's session, the request and the statement's signing key in
# one query (principals.authenticate_with_move): the same answers as three reads gave.


async def test_who_may_append(hub: Hub, cast: Cast) -> None:
    rid = str((await hub.submit(cast.lao, mla_content(cast.lao.id, cast.thai.id)))["id"])
    seq, digest = await hub.head(cast.thai, rid)
    env = envelope_json(cast.thai, uuid.UUID(rid), seq + 1, digest, "acknowledge", {})
    url = f"/v1/requests/{rid}/statements"
    # Not a party, no such request: the same 404.
    outsider = envelope_json(cast.outsider, uuid.UUID(rid), seq + 1, digest, "acknowledge", {})
    hidden = await hub.client.post(url, json=outsider, headers=cast.outsider.auth)
    missing = await hub.client.post(
        f"/v1/requests/{uuid.uuid4()}/statements", json=env, headers=cast.thai.auth
    )
    assert hidden.status_code == missing.status_code == 404, (hidden.text, missing.text)
    assert hidden.json()["type"] == missing.json()["type"]
    assert (await hub.client.post(url, json=env, headers=hub.operator)).status_code == 403
    assert (await hub.client.post(url, json=env)).status_code == 401
    wrong = {"Authorization": "Bearer mla_not-a-token"}
    assert (await hub.client.post(url, json=env, headers=wrong)).status_code == 401
    # Signed with a key that is not the caller's: refused, whoever's key it is.
    foreign = envelope_json(
        cast.thai, uuid.UUID(rid), seq + 1, digest, "acknowledge", {}, key=cast.lao.key
    )
    refused = await hub.client.post(url, json=foreign, headers=cast.thai.auth)
    assert refused.status_code == 422 and refused.json()["type"].endswith("/key-rejected")
    unknown = envelope_json(
        cast.thai, uuid.UUID(rid), seq + 1, digest, "acknowledge", {}, key=SigningKey.generate()
    )
    refused = await hub.client.post(url, json=unknown, headers=cast.thai.auth)
    assert refused.status_code == 422 and refused.json()["type"].endswith("/key-rejected")
    # None of these moved the head; the party's own statement does.
    assert await hub.head(cast.thai, rid) == (seq, digest)
    accepted = await hub.client.post(url, json=env, headers=cast.thai.auth)
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["request"]["state"] == "acknowledged"


async def test_an_append_sees_a_logout_and_a_key_revocation_at_once(hub: Hub, cast: Cast) -> None:
    rid = str((await hub.submit(cast.lao, mla_content(cast.lao.id, cast.thai.id)))["id"])
    url = f"/v1/requests/{rid}/statements"
    seq, digest = await hub.head(cast.thai, rid)
    env = envelope_json(cast.thai, uuid.UUID(rid), seq + 1, digest, "acknowledge", {})
    other = {
        "Authorization": f"Bearer {await login_token(hub.client, cast.thai.id, cast.thai.key)}"
    }
    assert (await hub.client.post("/v1/sessions/logout", headers=cast.thai.auth)).status_code == 204
    assert (await hub.client.post(url, json=env, headers=cast.thai.auth)).status_code == 401
    # Revoke the signing key through a session opened by a spare key: a statement signed
    # with the revoked key is refused on the spare key's session, which is still valid.
    spare = await _revoke_with_a_spare(hub, cast.thai)
    assert (await hub.client.post(url, json=env, headers=other)).status_code == 401
    fresh = {"Authorization": f"Bearer {await login_token(hub.client, cast.thai.id, spare)}"}
    refused = await hub.client.post(url, json=env, headers=fresh)
    assert refused.status_code == 422 and refused.json()["type"].endswith("/key-rejected")
    signed_by_spare = envelope_json(
        cast.thai, uuid.UUID(rid), seq + 1, digest, "acknowledge", {}, key=spare
    )
    assert (await hub.client.post(url, json=signed_by_spare, headers=fresh)).status_code == 201


# A party's first page of requests is read with its token (authenticate_with_page); an
# auditor's is not its own agency's, so it is read as before. Contents and filters are in
# test_listing.py; here, who gets a page at all.


async def test_a_list_sees_a_logout_and_a_key_revocation_at_once(hub: Hub, cast: Cast) -> None:
    rid = str((await hub.submit(cast.lao, mla_content(cast.lao.id, cast.thai.id)))["id"])
    url = "/v1/requests"
    other = {"Authorization": f"Bearer {await login_token(hub.client, cast.lao.id, cast.lao.key)}"}
    listed = await hub.client.get(url, headers=cast.lao.auth)
    assert listed.status_code == 200, listed.text
    assert [r["id"] for r in listed.json()["items"]] == [rid]
    audited = (await hub.client.get(url, headers=cast.auditor.auth)).json()
    assert [r["id"] for r in audited["items"]] == [rid]
    assert (await hub.client.get(url, headers=cast.outsider.auth)).json()["items"] == []
    assert (await hub.client.get(url, headers=hub.operator)).status_code == 403
    assert (await hub.client.get(url)).status_code == 401
    wrong = {"Authorization": "Bearer mla_not-a-token"}
    assert (await hub.client.get(url, headers=wrong)).status_code == 401
    assert (await hub.client.post("/v1/sessions/logout", headers=cast.lao.auth)).status_code == 204
    assert (await hub.client.get(url, headers=cast.lao.auth)).status_code == 401
    assert (await hub.client.get(url, headers=other)).status_code == 200
    await _revoke_with_a_spare(hub, cast.lao)
    assert (await hub.client.get(url, headers=other)).status_code == 401
