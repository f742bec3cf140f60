"""Auditors verify everything from metadata; parties read bodies; retention breaks nothing."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import pytest

from mla_tracker.api.schemas import BODY_FIELDS
from mla_tracker.crypto.errors import BodyMismatch
from mla_tracker.protocol import parse_statement_list, verify_request
from mla_tracker.storage.db import create_engine, session_factory
from mla_tracker.workflows.context import Context
from mla_tracker.workflows.retention import erase_bodies
from tests.integration.conftest import Cast, in_execution
from tests.support import (
    Hub,
    in_days,
    key_history,
    mla_content,
    preservation_content,
    verify_offline,
)

#: Strings that only request content and statement bodies hold.
SECRETS = (
    "+66 81 234 5678",
    "LA-MPS-CYB-2026-0142",
    "Victims paid",
    "Example Mobile Co.",
    "Which account holder name?",
    "The name on the transfer slips.",
    "only in this case",
    "the provider must be told",
)


async def _scenario(hub: Hub, cast: Cast) -> list[str]:
    """An MLA request through evidence delivery, a preservation, and an untouched request."""
    rid = await in_execution(hub, cast)
    data = b"sealed evidence"
    delivery = {
        "package_id": "pkg-1",
        "ciphertext_sha256": hashlib.sha256(data).hexdigest(),
        "ciphertext_size": len(data),
        "recipients": ["age1example"],
        "note": "only in this case",
    }
    assert (await hub.act(cast.thai_police, rid, "deliver_evidence", delivery)).status_code == 201
    other = (await hub.submit(cast.lao, mla_content(cast.lao.id, cast.thai.id)))["id"]
    for actor, action, body in [
        (cast.thai, "acknowledge", {}),
        (cast.thai, "request_info", {"questions": "Which account holder name?"}),
        (cast.lao, "provide_info", {"answer": "The name on the transfer slips."}),
    ]:
        assert (await hub.act(actor, other, action, body)).status_code == 201
    held = (await hub.submit(cast.lao, preservation_content(cast.lao.id, cast.thai.id)))["id"]
    resp = await hub.act(cast.thai, held, "preserve", {"until": in_days(90)})
    assert resp.status_code == 201, resp.text
    return [rid, other, held]


def _walk(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _walk(v)]
    if isinstance(value, list):
        return [s for v in value for s in _walk(v)]
    return [value] if isinstance(value, str) else []


async def test_auditor_verifies_every_chain_without_any_body(hub: Hub, cast: Cast) -> None:
    ids = await _scenario(hub, cast)
    seen: list[str] = []

    async def auditor_get(path: str) -> Any:
        resp = await hub.client.get(path, headers=cast.auditor.auth)
        assert resp.status_code == 200, resp.text
        seen.append(resp.text)
        return resp.json()

    listed = await auditor_get("/v1/requests")
    assert sorted(r["id"] for r in listed["items"]) == sorted(ids)
    for item in listed["items"]:
        assert all(item[name] is None for name in BODY_FIELDS), item
    for rid in ids:
        shown = await auditor_get(f"/v1/requests/{rid}")
        assert shown["content"] is None
        assert all(shown[name] is None for name in BODY_FIELDS)
        statements = await auditor_get(f"/v1/requests/{rid}/statements")
        assert statements and all(s["body"] is None for s in statements)
        assert all(len(s["body_sha256"]) == 64 for s in statements)
        await auditor_get(f"/v1/requests/{rid}/packages")
        verified = await verify_offline(hub, cast.auditor, rid)
        assert verified.bodies_checked == 0
        assert [s.value for s in verified.states][-1] == shown["state"]
    for text in seen:
        for secret in SECRETS:
            assert secret not in text, f"an auditor response holds {secret!r}"
    # The same requests, read by their parties, carry every body and they match.
    for rid in ids:
        party = await verify_offline(hub, cast.lao, rid)
        assert party.bodies_checked == len(party.statements)
        shown = (await hub.client.get(f"/v1/requests/{rid}", headers=cast.lao.auth)).json()
        assert shown["content"]["requesting_agency"] == cast.lao.id
        assert shown["case_reference"] == "LA-MPS-CYB-2026-0142"
    executor_view = await verify_offline(hub, cast.thai_police, ids[0])
    assert executor_view.bodies_checked == len(executor_view.statements)


async def test_a_swapped_body_is_caught_offline(hub: Hub, cast: Cast) -> None:
    rid = (await _scenario(hub, cast))[1]
    rows = (await hub.client.get(f"/v1/requests/{rid}/statements", headers=cast.lao.auth)).json()
    envelopes, bodies = parse_statement_list(rows)
    bodies[2], bodies[3] = bodies[3], bodies[2]
    with pytest.raises(BodyMismatch) as caught:
        verify_request(envelopes, await key_history(hub.client), bodies)
    assert "statement seq 3" in caught.value.__notes__


async def test_erased_bodies_leave_every_chain_verifiable(
    hub: Hub, cast: Cast, database_url: str
) -> None:
    ids = await _scenario(hub, cast)
    engine = create_engine(database_url, pool=False)
    try:
        erased = await erase_bodies(Context(sessions=session_factory(engine)), uuid.UUID(ids[1]))
    finally:
        await engine.dispose()
    assert erased.bodies == 4
    rows = (await hub.client.get(f"/v1/requests/{ids[1]}/statements", headers=cast.lao.auth)).json()
    assert [r["body"] for r in rows] == [None] * 4
    shown = (await hub.client.get(f"/v1/requests/{ids[1]}", headers=cast.lao.auth)).json()
    assert shown["content"] is None
    verified = await verify_offline(hub, cast.lao, ids[1])
    assert (verified.bodies_checked, len(verified.statements)) == (0, 4)
    # The other requests keep their bodies, and the erased request still takes statements.
    assert (await verify_offline(hub, cast.lao, ids[0])).bodies_checked > 0
    assert (await hub.act(cast.thai, ids[1], "accept", {})).status_code == 201
