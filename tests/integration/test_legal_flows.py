"""The notices and channels the instruments require, over HTTP on both databases.

Each test names the article it follows; every chain is then verified offline by an auditor.
"""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from pathlib import Path
from typing import Any

from litestar.testing import AsyncTestClient

from mla_tracker.api.app import create_app
from mla_tracker.config import Settings
from mla_tracker.crypto.statement import GENESIS
from tests.integration.conftest import Cast, in_execution
from tests.support import (
    Hub,
    envelope_json,
    in_days,
    mla_content,
    preservation_content,
    verify_offline,
)


async def _moves(hub: Hub, rid: str, steps: list[tuple[Any, str, dict[str, Any], str]]) -> None:
    for actor, action, body, state in steps:
        resp = await hub.act(actor, rid, action, body)
        assert resp.status_code == 201, (action, resp.text)
        assert resp.json()["request"]["state"] == state, action


async def test_bc_27_7_obstacles_are_reported_and_answered(hub: Hub, cast: Cast) -> None:
    rid = (await hub.submit(cast.lao, mla_content(cast.lao.id, cast.thai.id)))["id"]
    refused = await hub.act(
        cast.thai, rid, "refuse", {"grounds": ["data_not_available"], "reasons": "x"}
    )
    assert refused.status_code == 422  # not a ground: the body is refused first
    await _moves(
        hub,
        rid,
        [
            (cast.thai, "acknowledge", {}, "acknowledged"),
            (
                cast.thai,
                "report_obstacle",
                {"reason": "insufficient_information", "reasons": "which account?"},
                "obstacle_reported",
            ),
            (cast.lao, "amend", {"changes": "the account is +66 81 234 5678"}, "acknowledged"),
            (cast.thai, "accept", {}, "accepted"),
            (cast.thai, "assign", {"executing_agency": cast.thai_police.id}, "in_execution"),
            (
                cast.thai_police,
                "report_obstacle",
                {"reason": "data_not_available", "reasons": "logs kept for 30 days only"},
                "obstacle_reported",
            ),
            (cast.lao, "withdraw", {"note": "nothing left to obtain"}, "withdrawn"),
        ],
    )
    # The requester cannot report an obstacle, and data_not_available is no refusal ground.
    other = (await hub.submit(cast.lao, mla_content(cast.lao.id, cast.thai.id)))["id"]
    await hub.act(cast.thai, other, "acknowledge")
    body = {"reason": "other", "reasons": "x"}
    assert (await hub.act(cast.lao, other, "report_obstacle", body)).status_code == 403
    refused = await hub.act(
        cast.thai, other, "refuse", {"grounds": ["data_not_available"], "reasons": "x"}
    )
    assert refused.status_code == 422
    audited = await verify_offline(hub, cast.auditor, rid)
    assert audited.states[-1].value == "withdrawn"


async def test_bc_27_8_confidentiality_notice_then_the_requester_decides(
    hub: Hub, cast: Cast
) -> None:
    confidential = mla_content(
        cast.lao.id,
        cast.thai.id,
        confidentiality={"required": True, "reasons": "the suspect must not learn of it"},
    )
    go_on = (await hub.submit(cast.lao, confidential))["id"]
    stop = (await hub.submit(cast.lao, confidential))["id"]
    notice = {"reasons": "the provider must be told who asks"}
    await _moves(
        hub,
        go_on,
        [
            (cast.thai, "notify_confidentiality", notice, "confidentiality_notified"),
            (cast.lao, "proceed", {}, "acknowledged"),
            (cast.thai, "accept", {}, "accepted"),
        ],
    )
    await _moves(
        hub,
        stop,
        [
            (cast.thai, "acknowledge", {}, "acknowledged"),
            (cast.thai, "notify_confidentiality", notice, "confidentiality_notified"),
            (cast.lao, "withdraw", {}, "withdrawn"),
        ],
    )
    # Nothing moves on until the requester answers.
    assert (await hub.act(cast.thai, go_on, "assign", {})).status_code in (409, 422)
    await verify_offline(hub, cast.auditor, go_on)


async def test_bc_29_6_preservation_risk_notice(hub: Hub, cast: Cast) -> None:
    kept = (await hub.submit(cast.lao, preservation_content(cast.lao.id, cast.thai.id)))["id"]
    dropped = (await hub.submit(cast.lao, preservation_content(cast.lao.id, cast.thai.id)))["id"]
    risk = {"risk": "availability_not_ensured", "reasons": "the provider purges on notice"}
    await _moves(
        hub,
        kept,
        [
            (cast.thai, "notify_preservation_risk", risk, "preservation_at_risk"),
            (cast.lao, "continue_preservation", {}, "acknowledged"),
            (cast.thai, "preserve", {"until": in_days(61)}, "preserved"),
        ],
    )
    await _moves(
        hub,
        dropped,
        [
            (cast.thai, "notify_preservation_risk", risk, "preservation_at_risk"),
            (cast.lao, "release", {}, "released"),
        ],
    )
    assert (await hub.act(cast.thai, dropped, "preserve", {"until": in_days(61)})).status_code == (
        409
    )
    await verify_offline(hub, cast.auditor, kept)


async def test_bc_30_1_expedited_disclosure_of_traffic_data(hub: Hub, cast: Cast) -> None:
    rid = (await hub.submit(cast.lao, preservation_content(cast.lao.id, cast.thai.id)))["id"]
    await _moves(hub, rid, [(cast.thai, "preserve", {"until": in_days(61)}, "preserved")])
    data = b"traffic data naming a Vietnamese provider"
    disclosure = {
        "package_id": "traffic-1",
        "ciphertext_sha256": hashlib.sha256(data).hexdigest(),
        "ciphertext_size": len(data),
        "recipients": ["age1example"],
        "provider_country": "VN",
        "provider": "Example Telecom VN",
    }
    same_state = await hub.act(
        cast.thai, rid, "disclose_traffic_data", {**disclosure, "provider_country": "TH"}
    )
    assert same_state.status_code == 422 and "30(1)" in same_state.json()["detail"]
    await _moves(hub, rid, [(cast.thai, "disclose_traffic_data", disclosure, "preserved")])
    packages = (await hub.client.get(f"/v1/requests/{rid}/packages", headers=cast.lao.auth)).json()
    assert [(p["package_id"], p["delivered_by"]) for p in packages] == [("traffic-1", "th-oag")]
    upload = await hub.client.put(
        f"/v1/requests/{rid}/packages/traffic-1/content",
        content=data,
        headers={**cast.thai.auth, "content-type": "application/octet-stream"},
    )
    assert upload.status_code == 201, upload.text
    receipt = {"package_id": "traffic-1", "ciphertext_sha256": disclosure["ciphertext_sha256"]}
    await _moves(hub, rid, [(cast.lao, "receive_evidence", receipt, "preserved")])
    audited = await verify_offline(hub, cast.auditor, rid)
    assert [s.action for s in audited.statements][-2:] == [
        "disclose_traffic_data",
        "receive_evidence",
    ]


async def test_bc_35_contact_points_carry_preservation_to_the_central_authorities(
    hub: Hub, cast: Cast
) -> None:
    la_247 = await hub.register("la-247", "LA", "contact_point_24_7")
    th_247 = await hub.register("th-247", "TH", "contact_point_24_7")
    pres = (await hub.submit(la_247, preservation_content(la_247.id, th_247.id)))["id"]
    await _moves(hub, pres, [(th_247, "preserve", {"until": in_days(61)}, "preserved")])
    # The formal request that follows goes between the central authorities of both states.
    mla = (await hub.submit(cast.lao, mla_content(cast.lao.id, cast.thai.id)))["id"]
    await _moves(hub, pres, [(la_247, "supersede", {"mla_request_id": mla}, "superseded")])
    # A contact point sends no formal MLA request, and one is not sent to it.
    for sender, content, status in [
        (la_247, mla_content(la_247.id, cast.thai.id), 403),
        (cast.lao, mla_content(cast.lao.id, th_247.id), 422),
    ]:
        env = envelope_json(sender, uuid.uuid4(), 1, GENESIS, "transmit", content)
        resp = await hub.client.post("/v1/requests", json=env, headers=sender.auth)
        assert resp.status_code == status, resp.text
    await verify_offline(hub, cast.auditor, pres)


async def test_bc_29_7_supersede_needs_a_pending_mla_request_between_the_same_parties(
    hub: Hub, cast: Cast
) -> None:
    pres = (await hub.submit(cast.lao, preservation_content(cast.lao.id, cast.thai.id)))["id"]
    await _moves(hub, pres, [(cast.thai, "preserve", {"until": in_days(61)}, "preserved")])
    elsewhere = (await hub.submit(cast.lao, mla_content(cast.lao.id, cast.outsider.id)))["id"]
    withdrawn = (await hub.submit(cast.lao, mla_content(cast.lao.id, cast.thai.id)))["id"]
    await hub.act(cast.lao, withdrawn, "withdraw")
    executing = await in_execution(hub, cast)
    for linked, why in [(elsewhere, "same requested"), (withdrawn, "withdrawn"), (pres, "MLA")]:
        resp = await hub.act(cast.lao, pres, "supersede", {"mla_request_id": linked})
        assert resp.status_code == 422 and why in resp.json()["detail"], resp.text
    await _moves(hub, pres, [(cast.lao, "supersede", {"mla_request_id": executing}, "superseded")])


async def test_bc_29_4_dual_criminality_only_under_the_operators_reservation(
    settings: Settings, tmp_path: Path
) -> None:
    legal = tmp_path / "legal.toml"
    legal.write_text(
        '[[dual_criminality_reservation]]\nstate = "TH"\nsource = "test: TH reserved 29(4)"\n'
    )
    reserved = dataclasses.replace(settings, legal_file=legal)
    async with AsyncTestClient(app=create_app(reserved)) as client:
        hub = Hub(client)
        lao = await hub.register("la-mps", "LA", "central_authority")
        thai = await hub.register("th-oag", "TH", "central_authority")
        dual = {"grounds": ["dual_criminality"], "reasons": "not an offence in Thailand"}
        # An offence established under Budapest Art 8 (computer-related fraud): never.
        art8 = preservation_content(
            lao.id, thai.id, offences=[{"name": "online fraud", "budapest_article": 8}]
        )
        covered = (await hub.submit(lao, art8))["id"]
        resp = await hub.act(thai, covered, "refuse", dual)
        assert resp.status_code == 422 and "Arts 2-11" in resp.json()["detail"]
        # An offence outside Arts 2-11, in a state that reserved: allowed.
        other = preservation_content(lao.id, thai.id, offences=[{"name": "defamation"}])
        outside = (await hub.submit(lao, other))["id"]
        resp = await hub.act(thai, outside, "refuse", dual)
        assert resp.status_code == 201, resp.text
        assert resp.json()["request"]["state"] == "refused"
    # Without the reservation the same refusal is refused (Budapest 29(3)).
    async with AsyncTestClient(app=create_app(settings)) as client:
        hub = Hub(client)
        lao = await hub.register("la-mps2", "LA", "central_authority")
        thai = await hub.register("th-oag2", "TH", "central_authority")
        other = preservation_content(lao.id, thai.id, offences=[{"name": "defamation"}])
        outside = (await hub.submit(lao, other))["id"]
        resp = await hub.act(thai, outside, "refuse", dual)
        assert resp.status_code == 422 and "29(3)" in resp.json()["detail"]
