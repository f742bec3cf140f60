"""The whole `mla` and `preservation` lifecycles of design.md §4, driven over HTTP."""

from __future__ import annotations

import uuid

from tests.integration.conftest import Cast
from tests.support import Hub, in_days, mla_content, preservation_content, verify_offline


async def _verify_chain_offline(hub: Hub, cast: Cast, rid: str) -> list[str]:
    """Verify as an auditor (no bodies) and as the requester (every body), offline."""
    audited = await verify_offline(hub, cast.auditor, rid)
    assert audited.bodies_checked == 0
    party = await verify_offline(hub, cast.lao, rid)
    assert party.bodies_checked == len(party.statements)
    assert party.head_digest == audited.head_digest
    return [st.action for st in audited.statements]


async def test_full_mla_lifecycle(hub: Hub, cast: Cast) -> None:
    req = await hub.submit(cast.lao, mla_content(cast.lao.id, cast.thai.id))
    rid = req["id"]
    assert req["state"] == "transmitted"
    steps = [
        (cast.thai, "acknowledge", {}, "acknowledged"),
        (cast.thai, "request_info", {"questions": "Which account holder name?"}, "info_requested"),
        (cast.lao, "provide_info", {"answer": "The name on the transfer slips."}, "acknowledged"),
        (
            cast.thai,
            "accept_conditionally",
            {"conditions": "use only in this case"},
            "conditions_proposed",
        ),
        (cast.lao, "accept_conditions", {}, "accepted"),
        (cast.thai, "assign", {"executing_agency": cast.thai_police.id}, "in_execution"),
    ]
    for actor, action, body, state in steps:
        resp = await hub.act(actor, rid, action, body)
        assert resp.status_code == 201, resp.text
        assert resp.json()["request"]["state"] == state
    delivery = {
        "package_id": "pkg-1",
        "ciphertext_sha256": "ab" * 32,
        "ciphertext_size": 1024,
        "files": [{"path": "data/subscriber.csv", "sha256": "cd" * 32, "size": 300}],
        "recipients": ["age1examplerecipient"],
    }
    resp = await hub.act(cast.thai_police, rid, "deliver_evidence", delivery)
    assert resp.status_code == 201, resp.text
    assert resp.json()["request"]["state"] == "partially_executed"
    assert resp.json()["request"]["executing_agency"] == cast.thai_police.id
    # The accepted conditions bind the request and the package (Budapest 28(3)).
    statements = (
        await hub.client.get(f"/v1/requests/{rid}/statements", headers=cast.lao.auth)
    ).json()
    conditional = next(s for s in statements if s["action"] == "accept_conditionally")
    assert resp.json()["request"]["conditions_digest"] == conditional["digest"]
    packages = (
        await hub.client.get(f"/v1/requests/{rid}/packages", headers=cast.auditor.auth)
    ).json()
    assert [p["conditions_digest"] for p in packages] == [conditional["digest"]]
    receipt = {"package_id": "pkg-1", "ciphertext_sha256": "ab" * 32}
    for actor, action, body, state in [
        (cast.lao, "receive_evidence", receipt, "partially_executed"),
        (cast.thai_police, "complete_execution", {}, "executed"),
        (cast.lao, "close", {"note": "evidence admitted"}, "closed"),
    ]:
        resp = await hub.act(actor, rid, action, body)
        assert resp.status_code == 201, resp.text
        assert resp.json()["request"]["state"] == state
    # Closed is terminal: even the requester cannot withdraw now.
    resp = await hub.act(cast.lao, rid, "withdraw")
    assert resp.status_code == 409
    assert resp.headers["content-type"].startswith("application/problem+json")
    actions = await _verify_chain_offline(hub, cast, rid)
    assert actions == [
        "transmit",
        "acknowledge",
        "request_info",
        "provide_info",
        "accept_conditionally",
        "accept_conditions",
        "assign",
        "deliver_evidence",
        "receive_evidence",
        "complete_execution",
        "close",
    ]


async def test_refusal_and_withdrawal_are_terminal(hub: Hub, cast: Cast) -> None:
    refused = (await hub.submit(cast.lao, mla_content(cast.lao.id, cast.thai.id)))["id"]
    assert (await hub.act(cast.thai, refused, "acknowledge")).status_code == 201
    resp = await hub.act(
        cast.thai,
        refused,
        "refuse",
        {"grounds": ["dual_criminality"], "reasons": "not an offence here"},
    )
    assert resp.json()["request"]["state"] == "refused"
    assert (await hub.act(cast.lao, refused, "withdraw")).status_code == 409

    withdrawn = (await hub.submit(cast.lao, mla_content(cast.lao.id, cast.thai.id)))["id"]
    resp = await hub.act(cast.lao, withdrawn, "withdraw", {"note": "suspect identified"})
    assert resp.json()["request"]["state"] == "withdrawn"
    assert (await hub.act(cast.thai, withdrawn, "acknowledge")).status_code == 409


async def test_postponement_then_acceptance(hub: Hub, cast: Cast) -> None:
    rid = (await hub.submit(cast.lao, mla_content(cast.lao.id, cast.thai.id)))["id"]
    await hub.act(cast.thai, rid, "acknowledge")
    resp = await hub.act(
        cast.thai,
        rid,
        "postpone",
        {"reason": "would prejudice a domestic investigation", "until": in_days(30)},
    )
    assert resp.json()["request"]["state"] == "postponed"
    resp = await hub.act(
        cast.thai, rid, "accept_conditionally", {"partial": True, "conditions": "subscriber only"}
    )
    assert resp.json()["request"]["state"] == "conditions_proposed"
    assert resp.json()["request"]["conditions_digest"] is not None
    # Execution waits for the requester's answer (Budapest 27(6)).
    waiting = await hub.act(cast.thai, rid, "assign", {"executing_agency": cast.thai_police.id})
    assert waiting.status_code == 409
    resp = await hub.act(cast.lao, rid, "decline_conditions")
    assert resp.json()["request"]["state"] == "acknowledged"
    assert resp.json()["request"]["conditions_digest"] is None
    resp = await hub.act(cast.thai, rid, "accept")
    assert resp.json()["request"]["state"] == "accepted"


async def test_preservation_lifecycle_superseded_by_mla(hub: Hub, cast: Cast) -> None:
    pres = (await hub.submit(cast.lao, preservation_content(cast.lao.id, cast.thai.id)))["id"]
    assert (await hub.act(cast.thai, pres, "acknowledge")).status_code == 201
    too_short = await hub.act(cast.thai, pres, "preserve", {"until": in_days(30)})
    assert too_short.status_code == 422
    assert "60 days" in too_short.json()["detail"]
    resp = await hub.act(cast.thai, pres, "preserve", {"until": in_days(60)})
    assert resp.status_code == 201, resp.text
    assert resp.json()["request"]["state"] == "preserved"
    assert resp.json()["request"]["preserved_until"] == in_days(60)
    earlier = await hub.act(cast.thai, pres, "extend", {"until": in_days(59)})
    assert earlier.status_code == 422
    resp = await hub.act(cast.thai, pres, "extend", {"until": in_days(90)})
    assert resp.json()["request"]["state"] == "extended"
    mla = await hub.submit(cast.lao, mla_content(cast.lao.id, cast.thai.id, linked_request_id=pres))
    assert mla["linked_request_id"] == pres
    resp = await hub.act(cast.lao, pres, "supersede", {"mla_request_id": mla["id"]})
    assert resp.status_code == 201, resp.text
    assert resp.json()["request"]["state"] == "superseded"
    assert resp.json()["request"]["linked_request_id"] == mla["id"]


async def test_preservation_released_and_refusal_grounds_limited(hub: Hub, cast: Cast) -> None:
    pres = (await hub.submit(cast.lao, preservation_content(cast.lao.id, cast.thai.id)))["id"]
    bad = await hub.act(
        cast.thai,
        pres,
        "refuse",
        {"grounds": ["dual_criminality"], "reasons": "no dual criminality"},
    )
    assert bad.status_code == 422
    assert "29(3)" in bad.json()["detail"]
    bad = await hub.act(
        cast.thai, pres, "refuse", {"grounds": ["fundamental_rights"], "reasons": "x"}
    )
    assert bad.status_code == 422
    assert "29(5)" in bad.json()["detail"]
    await hub.act(cast.thai, pres, "preserve", {"until": in_days(61)})
    resp = await hub.act(cast.lao, pres, "release", {"note": "no longer needed"})
    assert resp.json()["request"]["state"] == "released"
    # The server alone may expire a preservation; a party may not.
    other = (await hub.submit(cast.lao, preservation_content(cast.lao.id, cast.thai.id)))["id"]
    await hub.act(cast.thai, other, "preserve", {"until": in_days(61)})
    expiry = {"deadline": "preservation_expiry-2", "until": in_days(61)}
    assert (await hub.act(cast.thai, other, "expire", expiry)).status_code == 403
    # Nor may a party sign the hub's deadline notices.
    notice = {
        "deadline": "acknowledge-1",
        "rule": "preservation.acknowledge.normal",
        "source": "policy default",
        "responsible": "requested",
        "responsible_agency": cast.thai.id,
        "due_at": "2026-01-01T00:00:00Z",
    }
    assert (await hub.act(cast.lao, other, "deadline_missed", notice)).status_code == 403


async def test_resend_is_idempotent(hub: Hub, cast: Cast) -> None:
    from tests.support import envelope_json

    rid = (await hub.submit(cast.lao, mla_content(cast.lao.id, cast.thai.id)))["id"]
    seq, head = await hub.head(cast.thai, rid)
    env = envelope_json(cast.thai, uuid.UUID(rid), seq + 1, head, "acknowledge", {})
    url = f"/v1/requests/{rid}/statements"
    first = await hub.client.post(url, json=env, headers=cast.thai.auth)
    again = await hub.client.post(url, json=env, headers=cast.thai.auth)
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["duplicate"] is True
    assert again.json()["statement"]["digest"] == first.json()["statement"]["digest"]
    statements = (await hub.client.get(f"{url}", headers=cast.thai.auth)).json()
    assert len(statements) == 2
