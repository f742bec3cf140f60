"""The hub pushes checkpoints to a real witness on a loopback port, on both databases.

The witness (mla_tracker.witness, served by uvicorn) runs in this process; the hub is the
app over ASGI plus a worker Context on the same database and data folder (same log key).
A hub whose tree was changed behind its back gets no cosignature.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from mla_tracker.config import Settings
from mla_tracker.crypto.cosignature import Cosigner, WitnessVerifier
from mla_tracker.crypto.errors import CosignatureError
from mla_tracker.crypto.keys import SigningKey
from mla_tracker.crypto.note import Checkpoint, NoteSigner, NoteVerifier, open_note
from mla_tracker.domain.deadlines import DEFAULTS
from mla_tracker.domain.legal_profile import DEFAULT_PROFILE
from mla_tracker.storage.db import create_engine
from mla_tracker.witness.core import Witness
from mla_tracker.witness.server import server_for
from mla_tracker.workflows import witnessing, worker
from mla_tracker.workflows.context import Context
from mla_tracker.workflows.log import origin_of
from mla_tracker.workflows.runtime import context_for
from tests.integration.conftest import Cast, in_execution
from tests.integration.test_log import _settled
from tests.support import Hub


@dataclasses.dataclass
class Running:
    """A witness serving on a loopback port, and the hub's worker Context pointed at it."""

    witness: Witness
    verifier: WitnessVerifier
    ctx: Context
    log_vkey: str


@pytest.fixture
async def running(
    hub: Hub, cast: Cast, settings: Settings, tmp_path: Path
) -> AsyncIterator[Running]:
    log_vkey = (await hub.client.get("/v1/log/key")).json()["verifier_key"]
    cosigner = Cosigner.generate("witness.test/w1")
    witness = Witness(cosigner, [NoteVerifier.from_vkey(log_vkey)], tmp_path / "witness.json")
    server = server_for(witness)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    task = asyncio.create_task(server.serve(sockets=[sock]))
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.05)
    assert server.started
    engine = create_engine(settings.resolved_database_url, pool=False)
    ctx = context_for(
        dataclasses.replace(settings, witnesses=((cosigner.verifier_key(), url),)),
        engine,
        legal=DEFAULT_PROFILE,
        deadline_rules=DEFAULTS,
    )
    try:
        yield Running(witness, cosigner.verifier, ctx, log_vkey)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)
        sock.close()
        await engine.dispose()


async def _note(hub: Hub, **params: object) -> str:
    resp = await hub.client.get("/v1/log/checkpoint", params=params)
    assert resp.status_code == 200, resp.text
    return resp.text


async def test_push_stores_a_verified_cosignature_served_with_the_checkpoint(
    hub: Hub, cast: Cast, running: Running
) -> None:
    assert (
        await hub.client.get("/v1/log/checkpoint", params={"witnessed": True})
    ).status_code == 404
    first = await _settled(hub, cast)
    # Through the worker's tick, as `mla worker` and `mla serve` run it.
    await worker.tick(running.ctx, "test-worker", lease=timedelta(seconds=60))
    note = await _note(hub)
    cosigned = running.verifier.verify(note)
    assert Checkpoint.parse(open_note(note, NoteVerifier.from_vkey(running.log_vkey))) == first
    assert running.witness.latest(first.origin) == (first.size, first.root_hash)
    assert await _note(hub, witnessed=True) == note
    assert await _note(hub, size=first.size) == note
    # Nothing new: the witness is not asked again.
    assert [p.outcome for p in await witnessing.push_once(running.ctx)] == ["up to date"]

    # The log grows: the next push carries a consistency proof from the cosigned size.
    await in_execution(hub, cast)
    second = await _settled(hub, cast)
    assert second.size > first.size
    pushed = await witnessing.push_once(running.ctx)
    assert [(p.size, p.outcome) for p in pushed] == [(second.size, "cosigned")]
    assert running.verifier.verify(await _note(hub)).timestamp >= cosigned.timestamp
    assert running.witness.latest(second.origin) == (second.size, second.root_hash)
    # The older checkpoint keeps its own cosignature.
    assert running.verifier.verify(await _note(hub, size=first.size)) == cosigned


async def test_a_witness_that_lost_track_tells_its_size_and_the_hub_follows(
    hub: Hub, cast: Cast, running: Running
) -> None:
    await _settled(hub, cast)
    assert [p.outcome for p in await witnessing.push_once(running.ctx)] == ["cosigned"]
    async with running.ctx.sessions() as session, session.begin():
        await session.execute(text("DELETE FROM log_cosignatures"))
    await in_execution(hub, cast)
    grown = await _settled(hub, cast)
    # The hub thinks the witness saw nothing (old 0); the 409 names its size; retried.
    assert [p.outcome for p in await witnessing.push_once(running.ctx)] == ["cosigned"]
    assert running.witness.latest(grown.origin) == (grown.size, grown.root_hash)


async def test_a_forked_checkpoint_gets_no_cosignature(
    hub: Hub, cast: Cast, running: Running, settings: Settings
) -> None:
    honest = await _settled(hub, cast)
    assert [p.outcome for p in await witnessing.push_once(running.ctx)] == ["cosigned"]
    # Behind the hub's back: another tree of the same size, signed with the hub's own key,
    # and the hub's record of the cosignature gone.
    key = SigningKey.from_pem((settings.data_dir / "server.key").read_bytes())
    forged_root = b"\x42" * 32
    forged = NoteSigner(origin_of(key), key).sign(
        Checkpoint(origin_of(key), honest.size, forged_root).to_text()
    )
    async with running.ctx.sessions() as session, session.begin():
        await session.execute(text("DELETE FROM log_cosignatures"))
        await session.execute(
            text("UPDATE log_checkpoints SET note = :n, root_hash = :r WHERE size = :s"),
            {"n": forged, "r": forged_root, "s": honest.size},
        )
    pushed = await witnessing.push_once(running.ctx)
    assert len(pushed) == 1 and pushed[0].outcome.startswith("failed:")
    assert "forked" in pushed[0].outcome
    with pytest.raises(CosignatureError, match="no cosignature"):
        running.verifier.verify(await _note(hub))
    assert running.witness.latest(honest.origin) == (honest.size, honest.root_hash)


async def test_a_tree_rewritten_behind_the_hub_gets_no_cosignature(
    hub: Hub, cast: Cast, running: Running
) -> None:
    honest = await _settled(hub, cast)
    assert [p.outcome for p in await witnessing.push_once(running.ctx)] == ["cosigned"]
    # Every stored subtree hash replaced: the next checkpoints are signed over another tree.
    async with running.ctx.sessions() as session, session.begin():
        await session.execute(text("UPDATE log_nodes SET hash = :h"), {"h": b"\x17" * 32})
    await in_execution(hub, cast)
    grown = await _settled(hub, cast)
    assert grown.size > honest.size
    pushed = await witnessing.push_once(running.ctx)
    assert pushed[0].outcome.startswith("failed: HTTP 422"), pushed
    with pytest.raises(CosignatureError, match="no cosignature"):
        running.verifier.verify(await _note(hub))
    assert running.witness.latest(honest.origin) == (honest.size, honest.root_hash)
