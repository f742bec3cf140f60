"""The transparency log over HTTP on both databases: checkpoints, proofs, visibility, races."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from mla_tracker.api.app import create_app
from mla_tracker.config import Settings
from mla_tracker.crypto import merkle
from mla_tracker.crypto.note import Checkpoint, NoteVerifier, open_note
from mla_tracker.storage.db import create_engine
from tests.integration.conftest import Cast, in_execution
from tests.support import Hub, mla_content


def _b64(text: str) -> bytes:
    return base64.b64decode(text)


async def _checkpoint(client: AsyncTestClient[Any], size: int | None = None) -> Checkpoint:
    key = (await client.get("/v1/log/key")).json()
    params = {} if size is None else {"size": size}
    resp = await client.get("/v1/log/checkpoint", params=params)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/plain")
    well_known = (await client.get("/.well-known/mla-tracker-log-key")).text.strip()
    assert well_known == key["verifier_key"]
    return Checkpoint.parse(open_note(resp.text, NoteVerifier.from_vkey(key["verifier_key"])))


async def _queued(engine: AsyncEngine) -> int:
    """Entries queued but not yet integrated (the API shows only integrated ones)."""
    async with engine.connect() as conn:
        found = await conn.scalar(text("SELECT count(*) FROM log_entries WHERE leaf_index IS NULL"))
    return int(found or 0)


async def _settled(hub: Hub, cast: Cast) -> Checkpoint:
    """The checkpoint once every queued entry (registrations included) is integrated."""
    # The app runs on the test client's own event loop: ask its database through an
    # engine of this loop's.
    url = hub.client.app.state.ctx.sessions.kw["bind"].url
    engine = create_engine(url.render_as_string(hide_password=False), pool=False)
    try:
        return await _settled_on(hub, cast, engine)
    finally:
        await engine.dispose()


async def _settled_on(hub: Hub, cast: Cast, engine: AsyncEngine) -> Checkpoint:
    for _ in range(100):
        # Without this look, a batch integrated while the last registration was still
        # queued passes for settled, and the next batch's checkpoint lands after it.
        if await _queued(engine):
            await asyncio.sleep(0.05)
            continue
        if (await hub.client.get("/v1/log/checkpoint")).status_code == 404:
            await asyncio.sleep(0.05)  # registrations are queued; the integrator runs shortly
            continue
        cp = await _checkpoint(hub.client)
        entries = (
            await hub.client.get(
                "/v1/log/entries", params={"start": 0, "end": 1000}, headers=cast.auditor.auth
            )
        ).json()
        if len(entries) == cp.size and cp.size > 0:
            pending = await hub.client.get(
                "/v1/log/entries",
                params={"start": cp.size, "end": cp.size + 1},
                headers=cast.auditor.auth,
            )
            if pending.json() == []:
                return cp
        await asyncio.sleep(0.05)
    raise AssertionError("the log did not settle")


async def test_every_statement_is_in_a_signed_checkpoint(hub: Hub, cast: Cast) -> None:
    rid = await in_execution(hub, cast)
    resp = await hub.act(cast.lao, rid, "withdraw")
    assert resp.status_code == 201
    position = resp.json()["log"]
    assert position["pending"] is False and isinstance(position["index"], int)
    cp = await _settled(hub, cast)
    statements = (
        await hub.client.get(f"/v1/requests/{rid}/statements", headers=cast.lao.auth)
    ).json()
    indices = []
    for st in statements:
        proof = await hub.client.get(
            "/v1/log/proof/inclusion",
            params={"digest": st["digest"], "size": cp.size},
            headers=cast.lao.auth,
        )
        assert proof.status_code == 200, proof.text
        body = proof.json()
        entry = _b64(body["entry"]["entry"])
        merkle.verify_inclusion(
            merkle.leaf_hash(entry),
            body["entry"]["index"],
            cp.size,
            [_b64(h) for h in body["proof"]],
            cp.root_hash,
        )
        assert body["entry"]["kind"] == "statement"
        assert b'"body"' not in entry  # envelopes only: bodies are never in the log
        indices.append(body["entry"]["index"])
    assert position["index"] == indices[-1]
    # Every entry the auditor reads hashes to the root: nothing missing, nothing extra.
    entries = (
        await hub.client.get(
            "/v1/log/entries", params={"start": 0, "end": cp.size}, headers=cast.auditor.auth
        )
    ).json()
    assert [e["index"] for e in entries] == list(range(cp.size))
    leaves = [merkle.leaf_hash(_b64(e["entry"])) for e in entries]
    nodes = {(0, i): leaf for i, leaf in enumerate(leaves)}
    grown = merkle.batch_new_nodes(0, leaves, {})
    nodes.update(((lv, ix), h) for lv, ix, h in grown)
    assert merkle.root(cp.size, nodes) == cp.root_hash
    kinds = {e["kind"] for e in entries}
    assert {"statement", "key_event"} <= kinds


async def test_consistency_between_checkpoints(hub: Hub, cast: Cast) -> None:
    first = await _settled(hub, cast)
    await hub.submit(cast.lao, mla_content(cast.lao.id, cast.thai.id))
    second = await _settled(hub, cast)
    assert second.size > first.size
    resp = await hub.client.get(
        "/v1/log/proof/consistency", params={"first": first.size, "second": second.size}
    )
    assert resp.status_code == 200, resp.text
    proof = [_b64(h) for h in resp.json()["proof"]]
    merkle.verify_consistency(first.size, second.size, first.root_hash, second.root_hash, proof)
    old = await _checkpoint(hub.client, first.size)
    assert old == first
    for bad in ({"first": second.size + 5, "second": second.size + 6}, {"first": 0, "second": 1}):
        assert (await hub.client.get("/v1/log/proof/consistency", params=bad)).status_code in (
            400,
            404,
        )


async def test_who_reads_which_entries(hub: Hub, cast: Cast) -> None:
    rid = await in_execution(hub, cast)
    cp = await _settled(hub, cast)
    statements = (
        await hub.client.get(f"/v1/requests/{rid}/statements", headers=cast.thai.auth)
    ).json()
    digest = statements[0]["digest"]
    params = {"digest": digest, "size": cp.size}
    url = "/v1/log/proof/inclusion"
    for reader, status in [
        (cast.lao, 200),
        (cast.thai_police, 200),
        (cast.auditor, 200),
        (cast.outsider, 404),
    ]:
        assert (await hub.client.get(url, params=params, headers=reader.auth)).status_code == (
            status
        ), reader.id
    assert (await hub.client.get(url, params=params, headers=hub.operator)).status_code == 404
    assert (await hub.client.get(url, params=params)).status_code == 401
    everything = {"start": 0, "end": cp.size}
    outsider = (
        await hub.client.get("/v1/log/entries", params=everything, headers=cast.outsider.auth)
    ).json()
    assert outsider and {e["kind"] for e in outsider} == {"key_event"}
    party = (
        await hub.client.get("/v1/log/entries", params=everything, headers=cast.lao.auth)
    ).json()
    assert {e["request_id"] for e in party if e["kind"] == "statement"} == {rid}


async def test_a_statement_not_yet_integrated_answers_pending(
    settings: Settings, cast: Cast, hub: Hub
) -> None:
    rid = (await hub.submit(cast.lao, mla_content(cast.lao.id, cast.thai.id)))["id"]
    impatient = dataclasses.replace(settings, log_wait_seconds=0.0)
    async with AsyncTestClient(app=create_app(impatient)) as client:
        other = Hub(client)
        seq, head = await other.head(cast.lao, rid)
        resp = await other.act(cast.thai, rid, "acknowledge")
        assert resp.status_code == 201, resp.text
        position = resp.json()["log"]
        if position["pending"]:  # the integrator may already have run: both are correct
            assert position["index"] is None
            assert position["poll"].endswith(resp.json()["statement"]["digest"])
        for _ in range(100):
            polled = await client.get(position["poll"], headers=cast.thai.auth)
            if polled.status_code == 200:
                break
            await asyncio.sleep(0.05)
        assert polled.status_code == 200, polled.text
        assert seq == 1 and head


async def test_two_servers_appending_never_fork_or_skip(
    settings: Settings, hub: Hub, cast: Cast
) -> None:
    ids = [
        (await hub.submit(cast.lao, mla_content(cast.lao.id, cast.thai.id)))["id"] for _ in range(6)
    ]
    async with AsyncTestClient(app=create_app(settings)) as second_client:
        second = Hub(second_client)

        async def acks(server: Hub, rid: str) -> None:
            for action in ("acknowledge", "accept"):
                assert (await server.act(cast.thai, rid, action)).status_code == 201

        await asyncio.gather(*(acks(hub if i % 2 else second, rid) for i, rid in enumerate(ids)))
        cp = await _settled(hub, cast)
    entries = (
        await hub.client.get(
            "/v1/log/entries", params={"start": 0, "end": cp.size}, headers=cast.auditor.auth
        )
    ).json()
    assert [e["index"] for e in entries] == list(range(cp.size))
    assert len({e["digest"] for e in entries}) == cp.size
    for e in entries[:: max(1, cp.size // 10)]:
        proof = (
            await hub.client.get(
                "/v1/log/proof/inclusion",
                params={"index": e["index"], "size": cp.size},
                headers=cast.auditor.auth,
            )
        ).json()
        merkle.verify_inclusion(
            _b64(e["leaf_hash"]),
            e["index"],
            cp.size,
            [_b64(h) for h in proof["proof"]],
            cp.root_hash,
        )
