"""Bad input gets a 4xx problem and changes nothing (DEVELOPERS.md, issue 2)."""

from __future__ import annotations

import base64
import copy
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest

from mla_tracker.crypto import dsse
from mla_tracker.crypto.keys import SigningKey
from mla_tracker.crypto.login import LOGIN_PAYLOAD_TYPE, encode_login
from mla_tracker.crypto.statement import GENESIS, PAYLOAD_TYPE
from tests.integration.conftest import Cast, in_execution
from tests.keys_support import key_event, login_token
from tests.support import Hub, envelope_json, mla_content

PROBLEM = "application/problem+json"


async def _snapshot(hub: Hub, cast: Cast, rid: str) -> tuple[Any, Any]:
    shown = (await hub.client.get(f"/v1/requests/{rid}", headers=cast.auditor.auth)).json()
    stmts = (
        await hub.client.get(f"/v1/requests/{rid}/statements", headers=cast.auditor.auth)
    ).json()
    return shown, stmts


async def _assert_problem(resp: Any, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith(PROBLEM)
    body = resp.json()
    assert body["status"] == status and body["title"] and body["type"].startswith("https://")
    assert "detail" in body
    return dict(body)


@pytest.fixture
async def scene(hub: Hub, cast: Cast) -> tuple[str, int, str]:
    rid = (await hub.submit(cast.lao, mla_content(cast.lao.id, cast.thai.id)))["id"]
    assert (await hub.act(cast.thai, rid, "acknowledge")).status_code == 201
    seq, head = await hub.head(cast.thai, rid)
    return rid, seq, head


def _tamper(signed: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """The signed statement with envelope fields replaced."""
    out = copy.deepcopy(signed)
    out["envelope"].update(changes)
    return out


def _unpad(text: str) -> str:
    return text.rstrip("=")


def _urlsafe(text: str) -> str:
    return text.replace("+", "-").replace("/", "_")


def _awkward(agency: Any, rid: uuid.UUID, seq: int, head: str) -> dict[str, Any]:
    """A good statement whose payload base64 is padded and whose signature and body base64
    hold '+' or '/', so that unpadded and URL-safe spellings of each differ from it.

    JSON allows spaces after '{', which shifts the payload against base64's 3-byte groups
    (and changes the signature) until all hold; the statement stays valid and signed.
    """
    body = {"note": "??>>~~"}  # '?', '>' and '~' put '/' and '+' into base64
    plain = envelope_json(agency, rid, seq, head, "accept", body)
    payload = base64.b64decode(plain["envelope"]["payload"])
    for spaces in range(1, 200):
        variant = b"{" + b" " * spaces + payload[1:]
        envelope = msgspec.to_builtins(dsse.sign(PAYLOAD_TYPE, variant, agency.key))
        sig = envelope["signatures"][0]["sig"]
        if envelope["payload"].endswith("=") and ("+" in sig or "/" in sig):
            assert "/" in plain["body"] or "+" in plain["body"]
            return {"envelope": envelope, "body": plain["body"]}
    raise AssertionError("no payload with '+' or '/' found")


async def test_each_bad_statement_is_refused_and_changes_nothing(
    hub: Hub, cast: Cast, scene: tuple[str, int, str]
) -> None:
    rid, seq, head = scene
    url = f"/v1/requests/{rid}/statements"
    before = await _snapshot(hub, cast, rid)
    rid_uuid = uuid.UUID(rid)
    good = envelope_json(cast.thai, rid_uuid, seq + 1, head, "accept", {})
    good_sig = good["envelope"]["signatures"][0]
    flipped_sig = base64.b64decode(good_sig["sig"])
    flipped_sig = bytes([flipped_sig[0] ^ 1]) + flipped_sig[1:]
    stranger = SigningKey.generate()
    old_seq_env = envelope_json(cast.thai, rid_uuid, seq, head, "accept", {})
    awkward = _awkward(cast.thai, rid_uuid, seq + 1, head)
    awkward_sig = awkward["envelope"]["signatures"][0]
    # The body is signed by digest: a correctly signed body with a duplicate key, and a
    # correct body whose bytes differ from what was signed.
    duplicate_body = envelope_json(
        cast.thai, rid_uuid, seq + 1, head, "accept", b'{"note":"a","note":"b"}'
    )
    nested_duplicate = envelope_json(
        cast.thai,
        rid_uuid,
        seq + 1,
        head,
        "refuse",
        b'{"grounds":["other"],"reasons":"x","x":{"a":1,"a":2}}',
    )
    deep_body = envelope_json(
        cast.thai, rid_uuid, seq + 1, head, "accept", b'{"note":' + b"[" * 40 + b"]" * 40 + b"}"
    )
    other_body = dict(good, body=base64.b64encode(b'{"note":"not what was signed"}').decode())
    meta_lie = envelope_json(
        cast.thai, rid_uuid, seq + 1, head, "accept", {}, meta={"executing_agency": "th-ccib"}
    )
    cases: list[tuple[str, Any, int]] = [
        ("malformed JSON", b"{not json", 422),
        ("wrong types", _tamper(good, signatures="nope"), 400),
        ("unknown field", dict(good, extra=1), 400),
        ("no body beside the envelope", {"envelope": good["envelope"]}, 400),
        ("bad base64 payload", _tamper(good, payload="%%%not-base64%%%"), 422),
        (
            "unpadded base64 payload",
            _tamper(awkward, payload=_unpad(awkward["envelope"]["payload"])),
            422,
        ),
        (
            "URL-safe base64 signature",
            _tamper(awkward, signatures=[{**awkward_sig, "sig": _urlsafe(awkward_sig["sig"])}]),
            422,
        ),
        (
            "unpadded base64 signature",
            _tamper(awkward, signatures=[{**awkward_sig, "sig": _unpad(awkward_sig["sig"])}]),
            422,
        ),
        ("URL-safe base64 body", dict(awkward, body=_urlsafe(awkward["body"])), 422),
        ("unpadded base64 body", dict(awkward, body=_unpad(awkward["body"])), 422),
        ("duplicate key in the body", duplicate_body, 422),
        ("duplicate key nested in the body", nested_duplicate, 422),
        ("body nested too deep", deep_body, 422),
        ("body does not match its digest", other_body, 422),
        ("meta that the body does not carry", meta_lie, 422),
        (
            "bad signature",
            _tamper(
                good,
                signatures=[
                    {"keyid": cast.thai.key.key_id, "sig": base64.b64encode(flipped_sig).decode()}
                ],
            ),
            422,
        ),
        (
            "someone else's key",
            envelope_json(cast.thai, rid_uuid, seq + 1, head, "accept", {}, key=cast.lao.key),
            422,
        ),
        (
            "unregistered key",
            envelope_json(cast.thai, rid_uuid, seq + 1, head, "accept", {}, key=stranger),
            422,
        ),
        (
            "stale prev",
            envelope_json(cast.thai, rid_uuid, seq + 1, GENESIS, "accept", {}),
            409,
        ),
        ("replayed old slot", old_seq_env, 409),
        ("gap in seq", envelope_json(cast.thai, rid_uuid, seq + 2, head, "accept", {}), 409),
        (
            "unknown action",
            envelope_json(cast.thai, rid_uuid, seq + 1, head, "approve", {}),
            422,
        ),
        (
            "bad body",
            envelope_json(cast.thai, rid_uuid, seq + 1, head, "refuse", {"grounds": []}),
            422,
        ),
        (
            "wrong request id",
            envelope_json(cast.thai, uuid.uuid4(), seq + 1, head, "accept", {}),
            422,
        ),
        (
            "future issued_at",
            envelope_json(
                cast.thai,
                rid_uuid,
                seq + 1,
                head,
                "accept",
                {},
                issued_at=datetime.now(UTC) + timedelta(hours=2),
            ),
            422,
        ),
        (
            "actor is not the caller",
            envelope_json(cast.thai, rid_uuid, seq + 1, head, "accept", {}, actor=cast.lao.id),
            403,
        ),
        ("oversized body", {"envelope": {"payloadType": "x" * 2_000_000}}, 413),
    ]
    for name, body, status in cases:
        if isinstance(body, bytes):
            resp = await hub.client.post(
                url, content=body, headers={**cast.thai.auth, "content-type": "application/json"}
            )
        else:
            resp = await hub.client.post(url, json=body, headers=cast.thai.auth)
        assert resp.status_code == status, f"{name}: {resp.status_code} {resp.text}"
        problem = await _assert_problem(resp, status)
        if "base64" in name:
            assert "base64" in problem["detail"], (name, problem)
        assert await _snapshot(hub, cast, rid) == before, f"{name} changed something"
    # A padded, '+'/'/'-bearing payload is fine as it is: only its other spellings fail.
    assert (await hub.client.post(url, json=awkward, headers=cast.thai.auth)).status_code == 201
    before = await _snapshot(hub, cast, rid)
    seq, head = await hub.head(cast.thai, rid)
    good = envelope_json(
        cast.thai, rid_uuid, seq + 1, head, "assign", {"executing_agency": cast.thai_police.id}
    )
    # The good statement itself is accepted: every case above failed for its own reason.
    assert (await hub.client.post(url, json=good, headers=cast.thai.auth)).status_code == 201
    # An unknown request id is a 404 problem.
    other = uuid.uuid4()
    resp = await hub.client.post(
        f"/v1/requests/{other}/statements",
        json=envelope_json(cast.thai, other, 2, head, "accept", {}),
        headers=cast.thai.auth,
    )
    await _assert_problem(resp, 404)
    await _assert_problem(
        await hub.client.get(f"/v1/requests/{other}", headers=cast.thai.auth), 404
    )
    await _assert_problem(
        await hub.client.get("/v1/requests/not-a-uuid", headers=cast.thai.auth), 404
    )


async def test_the_wire_format_is_strict_on_every_json_endpoint(
    hub: Hub, cast: Cast, scene: tuple[str, int, str]
) -> None:
    rid, seq, head = scene
    before = await _snapshot(hub, cast, rid)
    good = envelope_json(cast.thai, uuid.UUID(rid), seq + 1, head, "accept", {})
    deep = b'{"a":' * 1000 + b"1" + b"}" * 1000
    text = msgspec.json.encode(good)
    duplicate_top = text[:-1] + b',"body":' + msgspec.json.encode(good["body"]) + b"}"
    paths = (f"/v1/requests/{rid}/statements", "/v1/requests", "/v1/requests/completeness")
    for path in paths:
        for name, content, media, status in [
            ("nested 1,000 deep", deep, "application/json", 422),
            ("duplicate top-level key", duplicate_top, "application/json", 422),
            ("text/plain", text, "text/plain", 415),
            ("no content type", text, "", 415),
            ("latin-1 charset", text, "application/json; charset=iso-8859-1", 415),
            ("not UTF-8", b'{"a":"\xff"}', "application/json", 422),
        ]:
            headers = {**cast.thai.auth, "content-type": media}
            resp = await hub.client.post(path, content=content, headers=headers)
            problem = await _assert_problem(resp, status)
            assert problem["detail"], (path, name)
            assert await _snapshot(hub, cast, rid) == before, f"{path} {name} changed something"
    # The package upload streams raw bytes and is not held to the JSON rules.
    resp = await hub.client.put(
        f"/v1/requests/{rid}/packages/none/content",
        content=b"raw",
        headers={**cast.thai.auth, "content-type": "application/octet-stream"},
    )
    assert resp.status_code == 404, resp.text


async def test_revoked_key_is_refused(hub: Hub, cast: Cast, scene: tuple[str, int, str]) -> None:
    rid, seq, head = scene
    # Thailand rotates in a new key (signed with its current one) and logs in with it.
    new_key = SigningKey.generate()
    added = await key_event(
        hub.client, cast.thai.id, "add", new_key.key_id, cast.thai.key, public_key=new_key.public
    )
    assert added.status_code == 201, added.text
    token = await login_token(hub.client, cast.thai.id, new_key)
    auth = {"Authorization": f"Bearer {token}"}
    resp = await hub.client.post(
        f"/v1/agencies/{cast.thai.id}/keys/{cast.thai.key.key_id}/revoke",
        json={},
        headers=hub.operator,
    )
    assert resp.status_code == 200 and resp.json()["revoked_at"]
    before = await _snapshot(hub, cast, rid)
    env = envelope_json(cast.thai, uuid.UUID(rid), seq + 1, head, "accept", {})
    resp = await hub.client.post(f"/v1/requests/{rid}/statements", json=env, headers=auth)
    body = await _assert_problem(resp, 422)
    assert "revoked" in body["detail"]
    assert await _snapshot(hub, cast, rid) == before
    env = envelope_json(cast.thai, uuid.UUID(rid), seq + 1, head, "accept", {}, key=new_key)
    resp = await hub.client.post(f"/v1/requests/{rid}/statements", json=env, headers=auth)
    assert resp.status_code == 201, resp.text


async def test_incomplete_request_lists_missing_essentials(hub: Hub, cast: Cast) -> None:
    content = mla_content(cast.lao.id, cast.thai.id)
    for name in ("legal_basis", "offences", "custodian"):
        content.pop(name)
    dry = await hub.client.post("/v1/requests/completeness", json=content, headers=cast.lao.auth)
    assert dry.status_code == 200, dry.text
    assert dry.json()["complete"] is False
    fields = {m["field"] for m in dry.json()["missing"] if m["severity"] == "required"}
    assert {"legal_basis", "offences", "custodian"} <= fields
    env = envelope_json(cast.lao, uuid.uuid4(), 1, GENESIS, "transmit", content)
    resp = await hub.client.post("/v1/requests", json=env, headers=cast.lao.auth)
    body = await _assert_problem(resp, 422)
    assert {"legal_basis", "offences", "custodian"} <= {m["field"] for m in body["missing"]}
    listed = (await hub.client.get("/v1/requests", headers=cast.lao.auth)).json()
    assert listed["items"] == []
    complete = await hub.client.post(
        "/v1/requests/completeness",
        json=mla_content(cast.lao.id, cast.thai.id),
        headers=cast.lao.auth,
    )
    assert complete.json() == {"complete": True, "missing": []}


async def test_bad_requests_and_agencies(hub: Hub, cast: Cast) -> None:
    # Requested agency unknown; requesting agency not the signer; naive time range.
    for content in (
        mla_content(cast.lao.id, "xx-nobody"),
        mla_content(cast.thai.id, cast.outsider.id),
        mla_content(
            cast.lao.id,
            cast.thai.id,
            data_requested=[
                {
                    "category": "traffic",
                    "identifiers": ["x"],
                    "time_range": {"start": "2026-01-01T00:00:00", "end": "2026-01-02T00:00:00"},
                }
            ],
        ),
    ):
        env = envelope_json(cast.lao, uuid.uuid4(), 1, GENESIS, "transmit", content)
        await _assert_problem(
            await hub.client.post("/v1/requests", json=env, headers=cast.lao.auth), 422
        )
    # An executing authority cannot transmit.
    env = envelope_json(
        cast.thai_police,
        uuid.uuid4(),
        1,
        GENESIS,
        "transmit",
        mla_content(cast.thai_police.id, cast.lao.id),
    )
    await _assert_problem(
        await hub.client.post("/v1/requests", json=env, headers=cast.thai_police.auth), 403
    )
    # Agency registration: duplicate id, bad country, unknown zone, bad key.
    for body, status in [
        ({"id": cast.lao.id, "name": "x", "country": "LA", "role": "central_authority"}, 409),
        ({"id": "zz-x", "name": "x", "country": "zz", "role": "central_authority"}, 400),
        ({"id": "fr-x", "name": "x", "country": "FR", "role": "central_authority"}, 422),
        (
            {
                "id": "fr-y",
                "name": "x",
                "country": "FR",
                "role": "central_authority",
                "timezone": "Europe/Atlantis",
            },
            422,
        ),
        (
            {
                "id": "la-z",
                "name": "x",
                "country": "LA",
                "role": "central_authority",
                "public_key": "!" * 44,
            },
            422,
        ),
        ({"id": "la-q", "name": "x", "country": "LA", "role": "king"}, 400),
    ]:
        resp = await hub.client.post("/v1/agencies", json=body, headers=hub.operator)
        await _assert_problem(resp, status)
    directory = (await hub.client.get("/v1/agencies")).json()
    assert len(directory) == 6
    await _assert_problem(
        await hub.client.get("/v1/requests?cursor=garbage", headers=cast.lao.auth), 400
    )
    await _assert_problem(await hub.client.get("/v1/requests?limit=0", headers=cast.lao.auth), 400)
    await _assert_problem(await hub.client.get("/v1/requests"), 401)
    await _assert_problem(
        await hub.client.get("/v1/requests", headers={"Authorization": "Bearer mla_nope"}), 401
    )


async def test_a_final_newline_is_refused_in_every_digest_and_identifier(
    hub: Hub, cast: Cast
) -> None:
    """Python's `$` also matches before a final newline: no pattern on the wire lets one by."""
    rid = await in_execution(hub, cast)
    before = await _snapshot(hub, cast, rid)
    delivery: dict[str, Any] = {
        "package_id": "pkg-1",
        "ciphertext_sha256": "ab" * 32,
        "ciphertext_size": 10,
        "files": [{"path": "data/subscriber.csv", "sha256": "cd" * 32, "size": 300}],
        "recipients": ["age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq"],
    }
    file = delivery["files"][0]
    variants = {
        "package_id": {**delivery, "package_id": "pkg-1\n"},
        "ciphertext_sha256": {**delivery, "ciphertext_sha256": "ab" * 32 + "\n"},
        "files[0].sha256": {**delivery, "files": [{**file, "sha256": "cd" * 32 + "\n"}]},
    }
    for name, bad in variants.items():
        problem = await _assert_problem(
            await hub.act(cast.thai_police, rid, "deliver_evidence", bad), 422
        )
        assert "regex" in problem["detail"], (name, problem)
        assert await _snapshot(hub, cast, rid) == before, name
    # Agency registration by the operator: the id and the country.
    for body in (
        {"id": "la-n\n", "name": "x", "country": "LA", "role": "central_authority"},
        {"id": "la-n", "name": "x", "country": "LA\n", "role": "central_authority"},
    ):
        resp = await hub.client.post("/v1/agencies", json=body, headers=hub.operator)
        await _assert_problem(resp, 400)
    assert "la-n" not in {a["id"] for a in (await hub.client.get("/v1/agencies")).json()}
    # A login naming its key with a final newline is a bad payload, not an unknown key.
    challenge = (await hub.client.post("/v1/sessions/challenge", json={})).json()["challenge"]
    payload = encode_login(
        agency=cast.lao.id,
        key_id=cast.lao.key.key_id + "\n",
        challenge=challenge,
        issued_at=datetime.now(UTC),
    )
    envelope = msgspec.to_builtins(dsse.sign(LOGIN_PAYLOAD_TYPE, payload, cast.lao.key))
    resp = await hub.client.post("/v1/sessions", json={"envelope": envelope})
    problem = await _assert_problem(resp, 422)
    assert "key_id" in problem["detail"]
    # A log entry looked up by digest.
    resp = await hub.client.get(
        "/v1/log/proof/inclusion", params={"digest": "ab" * 32 + "\n"}, headers=cast.lao.auth
    )
    await _assert_problem(resp, 400)
