"""Bad input gets a 4xx problem and changes nothing (DEVELOPERS.md, issue 2)."""

from __future__ import annotations

import base64
import copy
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mla_tracker.crypto.keys import SigningKey
from mla_tracker.crypto.statement import GENESIS
from tests.integration.conftest import Cast
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


def _tamper(env: dict[str, Any], **changes: Any) -> dict[str, Any]:
    out = copy.deepcopy(env)
    out.update(changes)
    return out


async def test_each_bad_statement_is_refused_and_changes_nothing(
    hub: Hub, cast: Cast, scene: tuple[str, int, str]
) -> None:
    rid, seq, head = scene
    url = f"/v1/requests/{rid}/statements"
    before = await _snapshot(hub, cast, rid)
    good = envelope_json(cast.thai, uuid.UUID(rid), seq + 1, head, "accept", {})
    flipped_sig = base64.b64decode(good["signatures"][0]["sig"])
    flipped_sig = bytes([flipped_sig[0] ^ 1]) + flipped_sig[1:]
    stranger = SigningKey.generate()
    old_seq_env = envelope_json(cast.thai, uuid.UUID(rid), seq, head, "accept", {})
    cases: list[tuple[str, Any, int]] = [
        ("malformed JSON", b"{not json", 400),
        ("wrong types", _tamper(good, signatures="nope"), 400),
        ("unknown field", _tamper(good, extra=1), 400),
        ("bad base64 payload", _tamper(good, payload="%%%not-base64%%%"), 422),
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
            envelope_json(cast.thai, uuid.UUID(rid), seq + 1, head, "accept", {}, key=cast.lao.key),
            422,
        ),
        (
            "unregistered key",
            envelope_json(cast.thai, uuid.UUID(rid), seq + 1, head, "accept", {}, key=stranger),
            422,
        ),
        (
            "stale prev",
            envelope_json(cast.thai, uuid.UUID(rid), seq + 1, GENESIS, "accept", {}),
            409,
        ),
        ("replayed old slot", old_seq_env, 409),
        ("gap in seq", envelope_json(cast.thai, uuid.UUID(rid), seq + 2, head, "accept", {}), 409),
        (
            "unknown action",
            envelope_json(cast.thai, uuid.UUID(rid), seq + 1, head, "approve", {}),
            422,
        ),
        (
            "bad body",
            envelope_json(cast.thai, uuid.UUID(rid), seq + 1, head, "refuse", {"grounds": []}),
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
                uuid.UUID(rid),
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
            envelope_json(
                cast.thai, uuid.UUID(rid), seq + 1, head, "accept", {}, actor=cast.lao.id
            ),
            403,
        ),
        ("oversized body", {"payloadType": "x" * 2_000_000, "payload": "", "signatures": []}, 413),
    ]
    for name, body, status in cases:
        if isinstance(body, bytes):
            resp = await hub.client.post(
                url, content=body, headers={**cast.thai.auth, "content-type": "application/json"}
            )
        else:
            resp = await hub.client.post(url, json=body, headers=cast.thai.auth)
        assert resp.status_code == status, f"{name}: {resp.status_code} {resp.text}"
        await _assert_problem(resp, status)
        assert await _snapshot(hub, cast, rid) == before, f"{name} changed something"
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


async def test_revoked_key_is_refused(hub: Hub, cast: Cast, scene: tuple[str, int, str]) -> None:
    rid, seq, head = scene
    resp = await hub.client.post(
        f"/v1/agencies/{cast.thai.id}/keys/{cast.thai.key.key_id}/revoke",
        json={},
        headers=hub.operator,
    )
    assert resp.status_code == 200 and resp.json()["revoked_at"]
    before = await _snapshot(hub, cast, rid)
    resp = await hub.act(cast.thai, rid, "accept")
    body = await _assert_problem(resp, 422)
    assert "revoked" in body["detail"]
    assert await _snapshot(hub, cast, rid) == before
    # A rotated-in key works.
    new_key = SigningKey.generate()
    resp = await hub.client.post(
        f"/v1/agencies/{cast.thai.id}/keys",
        json={"public_key": new_key.public.to_base64()},
        headers=hub.operator,
    )
    assert resp.status_code == 201, resp.text
    env = envelope_json(cast.thai, uuid.UUID(rid), seq + 1, head, "accept", {}, key=new_key)
    resp = await hub.client.post(f"/v1/requests/{rid}/statements", json=env, headers=cast.thai.auth)
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
