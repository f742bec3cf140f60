"""Authorization matrix: every endpoint × role × party / non-party (design.md §2.5)."""

from __future__ import annotations

import uuid

from mla_tracker.crypto.keys import SigningKey
from mla_tracker.crypto.statement import GENESIS
from tests.integration.conftest import Cast, in_execution
from tests.support import Agency, Hub, envelope_json, mla_content

ANON: dict[str, str] = {}
DELIVERY = {
    "package_id": "pkg-1",
    "ciphertext_sha256": "ab" * 32,
    "ciphertext_size": 10,
    "recipients": ["age1x"],
}


def _who(hub: Hub, cast: Cast) -> dict[str, tuple[dict[str, str], Agency | None]]:
    return {
        "anonymous": (ANON, None),
        "operator": (hub.operator, None),
        "requester": (cast.lao.auth, cast.lao),
        "requested": (cast.thai.auth, cast.thai),
        "executor": (cast.thai_police.auth, cast.thai_police),
        "auditor": (cast.auditor.auth, cast.auditor),
        "outsider": (cast.outsider.auth, cast.outsider),
        "outsider_police": (cast.outsider_police.auth, cast.outsider_police),
    }


async def test_request_reads(hub: Hub, cast: Cast) -> None:
    rid = await in_execution(hub, cast)
    expected = {
        "anonymous": 401,
        "operator": 403,
        "requester": 200,
        "requested": 200,
        "executor": 200,
        "auditor": 200,
        "outsider": 404,
        "outsider_police": 404,
    }
    for who, (headers, _agency) in _who(hub, cast).items():
        for path in (f"/v1/requests/{rid}", f"/v1/requests/{rid}/statements"):
            resp = await hub.client.get(path, headers=headers)
            assert resp.status_code == expected[who], (who, path, resp.text)
        listed = await hub.client.get("/v1/requests", headers=headers)
        if expected[who] in (401, 403):
            assert listed.status_code == expected[who], who
        else:
            ids = [r["id"] for r in listed.json()["items"]]
            assert ids == ([rid] if expected[who] == 200 else []), who


async def test_statement_appends(hub: Hub, cast: Cast) -> None:
    rid = await in_execution(hub, cast)
    expected = {
        "anonymous": 401,
        "operator": 403,
        "requester": 403,
        "requested": 403,
        "auditor": 403,
        "outsider": 404,
        "outsider_police": 404,
        "executor": 201,
    }
    seq, head = await hub.head(cast.lao, rid)
    for who, (headers, agency) in _who(hub, cast).items():
        signer = agency or Agency("nobody", "x", "LA", SigningKey.generate(), "")
        env = envelope_json(signer, uuid.UUID(rid), seq + 1, head, "deliver_evidence", DELIVERY)
        resp = await hub.client.post(f"/v1/requests/{rid}/statements", json=env, headers=headers)
        assert resp.status_code == expected[who], (who, resp.text)
    assert (await hub.head(cast.lao, rid))[0] == seq + 1


async def test_request_submission_by_role(hub: Hub, cast: Cast) -> None:
    expected = {
        "anonymous": 401,
        "operator": 403,
        "requester": 201,
        "requested": 201,
        "executor": 403,
        "auditor": 403,
        "outsider": 201,
        "outsider_police": 403,
    }
    for who, (headers, agency) in _who(hub, cast).items():
        signer = agency or cast.lao
        target = cast.thai.id if signer.id != cast.thai.id else cast.lao.id
        env = envelope_json(
            signer, uuid.uuid4(), 1, GENESIS, "transmit", mla_content(signer.id, target)
        )
        resp = await hub.client.post("/v1/requests", json=env, headers=headers)
        assert resp.status_code == expected[who], (who, resp.text)
        dry = await hub.client.post(
            "/v1/requests/completeness", json=mla_content(signer.id, target), headers=headers
        )
        assert dry.status_code == (401 if who == "anonymous" else 200), who


async def test_health_and_ready_need_no_token(hub: Hub) -> None:
    assert (await hub.client.get("/health")).json() == {"status": "ok"}
    assert (await hub.client.get("/ready")).json() == {"status": "ready"}
    schema = await hub.client.get("/schema/openapi.json")
    assert schema.status_code == 200 and schema.json()["openapi"].startswith("3.1")
    ui = await hub.client.get("/schema")
    assert ui.status_code == 200 and "/static/swagger/swagger-ui-bundle.js" in ui.text
    assert "cdn" not in ui.text.lower()
    asset = await hub.client.get("/static/swagger/swagger-ui-bundle.js")
    assert asset.status_code == 200 and len(asset.content) > 100_000
