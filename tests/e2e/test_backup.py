"""`mla backup` of a running hub and `mla restore` into a fresh one, on SQLite and PostgreSQL.

The restored hub must serve the same requests, statements and package bytes, and pass
`mla audit verify`; a damaged or altered backup is refused before anything changes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from mla_tracker.storage.backup import find_pg_tool
from tests.conftest import _admin_url, _drop_database, run_sync
from tests.e2e.conftest import Server, start_server
from tests.e2e.test_audit import Scene, run
from tests.support import OPERATOR_TOKEN, preservation_content

PACKAGE = os.urandom(3 * 1024 * 1024 + 7)


async def _create_empty(admin: str, name: str) -> str:
    from sqlalchemy import text

    from mla_tracker.storage.db import create_engine

    engine = create_engine(admin, pool=False)
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await engine.dispose()
    return admin.rsplit("/", 1)[0] + "/" + name


@pytest.fixture
def target_url(database_url: str) -> Iterator[str]:
    """Where to restore: '' (SQLite in the data folder) or a second, empty PostgreSQL database."""
    if database_url.startswith("sqlite"):
        yield ""
        return
    admin = _admin_url()
    name = f"mla_restore_{uuid.uuid4().hex[:12]}"
    url = run_sync(lambda: _create_empty(admin, name))
    yield url
    run_sync(lambda: _drop_database(admin, name))


def _upload(scene: Scene) -> str:
    """Deliver and upload one package on the MLA request; its content path."""
    scene.send(
        "th-ccib",
        scene.mla,
        "deliver_evidence",
        {
            "package_id": "pkg-1",
            "ciphertext_sha256": hashlib.sha256(PACKAGE).hexdigest(),
            "ciphertext_size": len(PACKAGE),
            "recipients": ["age1example"],
        },
    )
    path = f"/v1/requests/{scene.mla}/packages/pkg-1/content"
    resp = scene.http.put(
        path, content=PACKAGE, headers={"Authorization": f"Bearer {scene.tokens['th-ccib']}"}
    )
    assert resp.status_code == 201, resp.text
    return path


def _statements(http: httpx.Client, token: str, rid: uuid.UUID) -> list[Any]:
    resp = http.get(f"/v1/requests/{rid}/statements", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 200, resp.text
    return list(resp.json())


def _tables(url: str) -> int:
    from mla_tracker.storage.backup import _pg_state

    return run_sync(lambda: _pg_state(url))[1]


def test_backup_while_serving_then_restore_and_verify(
    server: Server, database_url: str, target_url: str, tmp_path: Path
) -> None:
    scene = Scene(server, tmp_path)
    content_path = _upload(scene)
    la = scene.tokens["la-mps"]
    assert scene.audit().exit_code == 0
    mla_before = _statements(scene.http, la, scene.mla)
    request_before = scene.http.get(
        f"/v1/requests/{scene.mla}", headers={"Authorization": f"Bearer {la}"}
    ).json()

    pres_before = _statements(scene.http, la, scene.pres)
    # Writes keep coming while the backup runs: new requests, each its own chain.
    stop = threading.Event()
    written: list[uuid.UUID] = []

    def writer() -> None:
        while not stop.is_set() and len(written) < 50:
            written.append(scene.transmit(preservation_content("la-mps", "th-oag")))

    thread = threading.Thread(target=writer)
    thread.start()
    source_env = {
        "MLA_DATA_DIR": str(server.data_dir),
        "MLA_DATABASE_URL": database_url,
        "MLA_BLOB_DIR": "",
    }
    out = tmp_path / "backup"
    try:
        made = run("backup", "-o", str(out), env=source_env)
    finally:
        stop.set()
        thread.join()
    assert made.exit_code == 0, made.output
    assert "1 blobs" in made.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["database"] == ("sqlite" if database_url.startswith("sqlite") else "postgresql")
    assert manifest["alembic_revision"]
    assert manifest["blob_count"] == 1 and manifest["blob_bytes"] == len(PACKAGE)
    assert stat.S_IMODE((out / "server.key").stat().st_mode) == 0o600
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    for name, entry in manifest["files"].items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == entry["sha256"], name

    target_dir = tmp_path / "restored"
    target_env = {
        "MLA_DATA_DIR": str(target_dir),
        "MLA_DATABASE_URL": target_url,
        "MLA_BLOB_DIR": "",
    }

    def unchanged() -> None:
        assert not target_dir.exists() or not any(target_dir.rglob("*"))
        if target_url:
            assert _tables(target_url) == 0

    # A flipped byte in a blob, an edited hash in the manifest: refused, nothing touched.
    blob_name = next(n for n in manifest["files"] if n.startswith("blobs/"))
    flipped = tmp_path / "flipped"
    shutil.copytree(out, flipped)
    data = bytearray((flipped / blob_name).read_bytes())
    data[100] ^= 0x01
    (flipped / blob_name).write_bytes(bytes(data))
    refused = run("restore", str(flipped), env=target_env)
    assert refused.exit_code == 1, refused.output
    assert f"{blob_name} does not match the manifest" in refused.output
    unchanged()

    edited = tmp_path / "edited"
    shutil.copytree(out, edited)
    altered = json.loads((edited / "manifest.json").read_text())
    database_file = next(n for n in altered["files"] if n.startswith("database."))
    altered["files"][database_file]["sha256"] = "0" * 64
    (edited / "manifest.json").write_text(json.dumps(altered))
    refused = run("restore", str(edited), env=target_env)
    assert refused.exit_code == 1, refused.output
    assert f"{database_file} does not match the manifest" in refused.output
    unchanged()

    restored = run("restore", str(out), env=target_env)
    assert restored.exit_code == 0, restored.output
    assert "database at revision" in restored.output
    again = run("restore", str(out), env=target_env)
    assert again.exit_code == 1 and "already holds a hub" in again.output, again.output

    serve = contextmanager(start_server)
    with serve(target_url or None, target_dir, {"MLA_OPERATOR_TOKEN": OPERATOR_TOKEN}) as new:
        http = httpx.Client(base_url=new.url, timeout=30)
        assert _statements(http, la, scene.mla) == mla_before
        got = http.get(f"/v1/requests/{scene.mla}", headers={"Authorization": f"Bearer {la}"})
        assert got.json() == request_before
        assert _statements(http, la, scene.pres) == pres_before
        # Requests made during the backup: each one restored is whole, or absent.
        listed = http.get(
            "/v1/requests/", params={"limit": 200}, headers={"Authorization": f"Bearer {la}"}
        )
        assert listed.status_code == 200, listed.text
        ids = {uuid.UUID(r["id"]) for r in listed.json()["items"]}
        assert {scene.mla, scene.pres} <= ids <= {scene.mla, scene.pres, *written}
        for rid in ids & set(written):
            assert _statements(http, la, rid) == _statements(scene.http, la, rid)
        download = http.get(content_path, headers={"Authorization": f"Bearer {la}"})
        assert download.status_code == 200, download.text
        assert download.content == PACKAGE
        assert http.get("/v1/server-key").json() == scene.http.get("/v1/server-key").json()
        scene.http.close()
        scene.server, scene.http = new, http
        scene.state = tmp_path / "restored-audit-state.json"
        verified = scene.audit()
        assert verified.exit_code == 0, verified.output
        assert "result: everything holds" in verified.output
        http.close()
    # With the server stopped, --force overwrites the hub already there.
    forced = run("restore", "--force", str(out), env=target_env)
    assert forced.exit_code == 0, forced.output


def test_missing_pg_tools_are_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from mla_tracker.storage import backup

    monkeypatch.setattr("shutil.which", lambda _name: None)
    monkeypatch.setattr("glob.glob", lambda _pattern: [])
    with pytest.raises(backup.BackupError, match="pg_dump not found on PATH"):
        find_pg_tool("pg_dump")
