"""`mla audit verify|export` and `mla agency watch` against a real server, with tamper drills.

Each drill changes rows behind the server's back, as a dishonest operator with database
access could, and `mla audit verify` must exit non-zero naming what it found.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from sqlalchemy import text

from mla_tracker import protocol
from mla_tracker.crypto import dsse, wire
from mla_tracker.crypto.keys import SigningKey
from mla_tracker.crypto.note import Checkpoint, NoteSigner
from mla_tracker.crypto.statement import GENESIS, digest
from mla_tracker.storage.db import create_engine
from mla_tracker.workflows.log import origin_of
from tests.e2e.conftest import Server
from tests.e2e.test_cli import mla
from tests.support import OPERATOR_TOKEN, mla_content, preservation_content, register_sync


def run(*args: str, env: dict[str, str]) -> Any:
    """Run `mla ARGS` in-process without judging its exit status."""
    from click.testing import CliRunner

    from mla_tracker.cli.main import cli

    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


class Scene:
    """Lao and Thai central authorities, Thai police, an auditor; two requests."""

    def __init__(self, server: Server, tmp: Path) -> None:
        self.server = server
        self.http = httpx.Client(base_url=server.url, timeout=30)
        self.keys: dict[str, SigningKey] = {}
        self.tokens: dict[str, str] = {}
        for agency_id, country, role in (
            ("la-mps", "LA", "central_authority"),
            ("th-oag", "TH", "central_authority"),
            ("th-ccib", "TH", "executing_authority"),
            ("asean-audit", "SG", "auditor"),
        ):
            self.register(agency_id, country, role)
        self.auditor_key = tmp / "auditor.key"
        self.auditor_key.write_bytes(self.keys["asean-audit"].to_pem())
        self.state = tmp / "audit-state.json"
        self.heads: dict[uuid.UUID, tuple[int, str]] = {}
        self.mla = self.transmit(mla_content("la-mps", "th-oag"))
        for action, body in (
            ("acknowledge", {}),
            ("accept", {}),
            ("assign", {"executing_agency": "th-ccib"}),
        ):
            self.send("th-oag", self.mla, action, body)
        self.pres = self.transmit(preservation_content("la-mps", "th-oag"))
        self.send("th-oag", self.pres, "acknowledge", {})

    def register(self, agency_id: str, country: str, role: str) -> None:
        self.keys[agency_id], self.tokens[agency_id] = register_sync(
            self.http, agency_id, country, role
        )

    def transmit(self, content: dict[str, Any]) -> uuid.UUID:
        rid = uuid.uuid4()
        self.heads[rid] = (0, GENESIS)
        self.send("la-mps", rid, "transmit", content, path="/v1/requests")
        return rid

    def send(
        self, actor: str, rid: uuid.UUID, action: str, body: dict[str, Any], path: str = ""
    ) -> None:
        seq, prev = self.heads[rid]
        signed = protocol.sign(
            self.keys[actor],
            request_id=rid,
            seq=seq + 1,
            prev=prev,
            action=action,
            actor=actor,
            body=body,
        )
        resp = self.http.post(
            path or f"/v1/requests/{rid}/statements",
            json=protocol.to_json(signed),
            headers={"Authorization": f"Bearer {self.tokens[actor]}"},
        )
        assert resp.status_code == 201, resp.text
        self.heads[rid] = (seq + 1, digest(signed.envelope.payload_bytes()))

    def settle(self) -> int:
        """Wait until the checkpoint stops growing (longer than the integrator's idle wait)."""
        seen, stable = -1, 0
        for _ in range(200):
            resp = self.http.get("/v1/log/checkpoint")
            size = int(resp.text.splitlines()[1]) if resp.status_code == 200 else -1
            stable = stable + 1 if size == seen and size > 0 else 0
            if stable >= 3:
                return size
            seen = size
            time.sleep(0.15)
        raise AssertionError("the log did not settle")

    def audit(self, *extra: str, settle: bool = True) -> Any:
        if settle:
            self.settle()
        env = {
            "MLA_URL": self.server.url,
            "MLA_KEY": str(self.auditor_key),
            "MLA_TOKEN": "",
        }
        return run("audit", "verify", "--state", str(self.state), *extra, env=env)

    def sql(self, database_url: str, statement: str, **params: Any) -> Any:
        """Run one SQL statement on the server's database behind its back; rows of a SELECT."""

        async def execute() -> Any:
            engine = create_engine(database_url, pool=False)
            try:
                async with engine.begin() as conn:
                    result = await conn.execute(text(statement), params)
                    return result.all() if result.returns_rows else None
            finally:
                await engine.dispose()

        return asyncio.run(execute())


@pytest.fixture
def scene(server: Server, tmp_path: Path) -> Iterator[Scene]:
    built = Scene(server, tmp_path)
    yield built
    built.http.close()


def _db(server: Server, database_url: str) -> str:
    """The server's own database (the `server` fixture serves the test's database)."""
    return database_url


def _ok(result: Any) -> None:
    assert result.exit_code == 0, result.output
    assert "result: everything holds" in result.output


def _fails(result: Any, *words: str) -> None:
    assert result.exit_code == 1, result.output
    for word in words:
        assert word in result.output, (word, result.output)


def test_a_clean_hub_verifies_and_the_state_is_kept(scene: Scene) -> None:
    first = scene.audit()
    _ok(first)
    assert "requests verified: 2" in first.output
    kept = json.loads(scene.state.read_text())
    scene.send("th-oag", scene.pres, "preserve", {"until": "2099-01-01"})
    second = scene.audit()
    _ok(second)  # a larger tree, consistent with the trusted one
    assert json.loads(scene.state.read_text())["size"] > kept["size"]


def test_drill_flipped_byte_in_a_stored_statement(
    scene: Scene, server: Server, database_url: str
) -> None:
    _ok(scene.audit())
    db = _db(server, database_url)
    rows = scene.sql(
        db,
        "SELECT id, envelope FROM statements WHERE request_id = :r AND seq = 2",
        r=scene.mla.hex if "sqlite" in db else scene.mla,
    )
    row_id, raw = rows[0]
    envelope = msgspec.json.decode(bytes(raw))
    payload = bytearray(wire.b64decode(envelope["payload"], "p"))
    payload[payload.index(b"acknowledge")] ^= 0x01
    envelope["payload"] = wire.b64encode(bytes(payload))
    scene.sql(
        db,
        "UPDATE statements SET envelope = :e WHERE id = :i",
        e=msgspec.json.encode(envelope),
        i=row_id,
    )
    _fails(scene.audit(), f"request {scene.mla} seq 2")


def test_drill_deleted_and_swapped_statements(
    scene: Scene, server: Server, database_url: str
) -> None:
    db = _db(server, database_url)
    rid = scene.mla.hex if "sqlite" in db else scene.mla
    scene.sql(db, "DELETE FROM statements WHERE request_id = :r AND seq = 4", r=rid)
    _fails(scene.audit(), "statement hidden")
    scene.sql(db, "UPDATE statements SET seq = 99 WHERE request_id = :r AND seq = 2", r=rid)
    scene.sql(db, "UPDATE statements SET seq = 2 WHERE request_id = :r AND seq = 3", r=rid)
    scene.sql(db, "UPDATE statements SET seq = 3 WHERE request_id = :r AND seq = 99", r=rid)
    _fails(scene.audit(), f"request {scene.mla} seq 2")


def test_drill_operator_key_and_a_rewritten_chain(
    scene: Scene, server: Server, database_url: str
) -> None:
    """The operator adds a key for Thailand in the database and re-signs Thailand's moves."""
    db = _db(server, database_url)
    forged = SigningKey.generate()
    scene.sql(
        db,
        "INSERT INTO agency_keys (key_id, agency_id, public_key, valid_from, usable_from, "
        "revoked_at, created_at, origin) VALUES (:k, 'th-oag', :p, :t, :t, NULL, :t, 'rotation')",
        k=forged.key_id,
        p=forged.public.raw,
        t="2020-01-01 00:00:00"
        if "sqlite" in db
        else (__import__("datetime").datetime(2020, 1, 1, tzinfo=__import__("datetime").UTC)),
    )
    rid = scene.mla.hex if "sqlite" in db else scene.mla
    rows = scene.sql(
        db, "SELECT seq, payload FROM statements WHERE request_id = :r ORDER BY seq", r=rid
    )
    prev = GENESIS
    for seq, payload in rows:
        st = msgspec.json.decode(bytes(payload))
        if st["actor"] == "th-oag":
            st["key_id"] = forged.key_id
        st["prev"] = prev
        new_payload = msgspec.json.encode(st)
        key = forged if st["actor"] == "th-oag" else scene.keys[st["actor"]]
        envelope = dsse.sign("application/vnd.mla-tracker.statement.v2+json", new_payload, key)
        scene.sql(
            db,
            "UPDATE statements SET payload = :p, envelope = :e, digest = :d, prev = :v "
            "WHERE request_id = :r AND seq = :s",
            p=new_payload,
            e=envelope.to_json(),
            d=digest(new_payload),
            v=prev,
            r=rid,
            s=seq,
        )
        prev = digest(new_payload)
    result = scene.audit()
    _fails(result, "key without key event", forged.key_id, f"request {scene.mla} seq 2")


def test_drill_rollback_and_fork(scene: Scene, server: Server, database_url: str) -> None:
    db = _db(server, database_url)
    _ok(scene.audit())
    scene.send("th-oag", scene.pres, "preserve", {"until": "2099-01-01"})
    _ok(scene.audit())
    trusted = json.loads(scene.state.read_text())["size"]
    # Serve an older checkpoint: delete the newest ones behind the server's back.
    scene.sql(db, "DELETE FROM log_checkpoints WHERE size >= :s", s=trusted)
    _fails(scene.audit(settle=False), "rollback")
    # Serve another tree of the trusted size, signed with the hub's own key.
    server_key = SigningKey.from_pem((server.data_dir / "server.key").read_bytes())
    body = Checkpoint(origin_of(server_key), trusted, b"\x42" * 32).to_text()
    note = NoteSigner(origin_of(server_key), server_key).sign(body)
    scene.sql(
        db,
        "INSERT INTO log_checkpoints (size, root_hash, note, created_at) VALUES (:s, :r, :n, :t)",
        s=trusted,
        r=b"\x42" * 32,
        n=note,
        t="2099-01-01 00:00:00"
        if "sqlite" in db
        else (__import__("datetime").datetime(2099, 1, 1, tzinfo=__import__("datetime").UTC)),
    )
    _fails(scene.audit(settle=False), "forked view")


def test_watch_and_offline_bundle(scene: Scene, tmp_path: Path) -> None:
    url = {"MLA_URL": scene.server.url}
    watched = mla("agency", "watch", "la-mps", env=url)
    assert "0 not signed by la-mps" in watched.output
    recovery = SigningKey.generate()
    mla(
        "agency",
        "recover-key",
        "la-mps",
        "--public-key",
        recovery.public.to_base64(),
        env={**url, "MLA_TOKEN": OPERATOR_TOKEN},
    )
    watched = run("agency", "watch", "la-mps", env=url)
    assert watched.exit_code == 1 and "NOT SIGNED BY THIS AGENCY" in watched.output
    scene.settle()
    lao_key = tmp_path / "lao.key"
    lao_key.write_bytes(scene.keys["la-mps"].to_pem())
    bundle = tmp_path / "case.bundle"
    mla(
        "audit",
        "export",
        "--request",
        str(scene.mla),
        "-o",
        str(bundle),
        "--with-bodies",
        env={**url, "MLA_KEY": str(lao_key), "MLA_TOKEN": ""},
    )
    vkey = httpx.get(scene.server.url + "/.well-known/mla-tracker-log-key").text.strip()
    offline = run("audit", "verify", str(bundle), "--log-key", vkey, env={})
    _ok(offline)
    assert "recovery key" in offline.output and "la-mps" in offline.output
    data = json.loads(bundle.read_bytes())
    data["statements"][1]["body"] = wire.b64encode(b'{"note":"edited"}')
    bundle.write_text(json.dumps(data))
    _fails(run("audit", "verify", str(bundle), env={}), "seq 2")
    other = run("audit", "verify", str(bundle), "--log-key", "x+1+AA==", env={})
    _fails(other, "log key")
