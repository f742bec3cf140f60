"""Issue 11 findings 1, 3 and 4 over ASGI, on SQLite and PostgreSQL: hostile Range headers,
a second upload of a stored package, and a database that is not there."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import socket
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from mla_tracker.api.app import create_app
from mla_tracker.config import Settings
from tests.integration.conftest import Cast, in_execution
from tests.support import OPERATOR_TOKEN, Hub

PAYLOAD = os.urandom(256 * 1024 + 5)
SHA = hashlib.sha256(PAYLOAD).hexdigest()


def _delivery(data: bytes = PAYLOAD) -> dict[str, Any]:
    return {
        "package_id": "pkg-1",
        "ciphertext_sha256": hashlib.sha256(data).hexdigest(),
        "ciphertext_size": len(data),
        "recipients": ["age1example"],
    }


@pytest.fixture
async def uploaded(hub: Hub, cast: Cast) -> str:
    """A request with one package delivered and uploaded; the package's content URL."""
    rid = await in_execution(hub, cast)
    assert (
        await hub.act(cast.thai_police, rid, "deliver_evidence", _delivery())
    ).status_code == 201
    url = f"/v1/requests/{rid}/packages/pkg-1/content"
    resp = await hub.client.put(url, content=PAYLOAD, headers=cast.thai_police.auth)
    assert resp.status_code == 201, resp.text
    return url


async def _trail(hub: Hub, cast: Cast, url: str) -> list[str]:
    custody = url.removesuffix("/content") + "/custody"
    resp = await hub.client.get(custody, headers=cast.auditor.auth)
    return [t["event"] for t in resp.json()]


@pytest.mark.parametrize(
    ("header", "status"),
    [
        ("bytes=" + "9" * 5000 + "-", 416),  # starts beyond the package
        ("bytes=" + "1" * 30 + "-", 416),  # fits int(), far beyond any package
        ("bytes=0-" + "9" * 5000, 206),  # RFC 9110 14.1.2: a last position past the end is cut
        ("bytes=-" + "9" * 5000, 206),  # a suffix longer than the package is all of it
    ],
)
async def test_huge_range_numbers_are_never_a_crash(
    hub: Hub, cast: Cast, uploaded: str, header: str, status: int
) -> None:
    resp = await hub.client.get(uploaded, headers={**cast.lao.auth, "Range": header})
    assert resp.status_code == status, resp.text
    if status == 416:
        assert resp.headers["content-type"].startswith("application/problem+json")
        assert resp.headers["content-range"] == f"bytes */{len(PAYLOAD)}"
    else:
        assert resp.content == PAYLOAD
        assert resp.headers["content-range"] == f"bytes 0-{len(PAYLOAD) - 1}/{len(PAYLOAD)}"


async def test_second_upload_is_refused_unless_identical(
    hub: Hub, cast: Cast, uploaded: str, settings: Settings
) -> None:
    before = await _trail(hub, cast, uploaded)
    assert before == ["uploaded"]
    blob = next(p for p in settings.resolved_blob_dir.rglob(SHA))
    mtime = blob.stat().st_mtime_ns

    other = PAYLOAD[:-1] + bytes([PAYLOAD[-1] ^ 1])
    resp = await hub.client.put(uploaded, content=other, headers=cast.thai_police.auth)
    assert resp.status_code == 409, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert "already stored" in resp.json()["detail"]
    shorter = await hub.client.put(uploaded, content=PAYLOAD[:10], headers=cast.thai_police.auth)
    assert shorter.status_code == 409, shorter.text

    same = await hub.client.put(uploaded, content=PAYLOAD, headers=cast.thai_police.auth)
    assert same.status_code == 200, same.text
    assert same.json()["ciphertext_sha256"] == SHA

    assert await _trail(hub, cast, uploaded) == before  # no custody record either way
    assert blob.stat().st_mtime_ns == mtime
    assert blob.read_bytes() == PAYLOAD
    assert list((settings.resolved_blob_dir / "tmp").iterdir()) == []


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_unreachable_database_is_503_with_retry_after(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=f"postgresql+asyncpg://postgres@127.0.0.1:{_closed_port()}/nowhere",
        operator_token=OPERATOR_TOKEN,
    )
    async with AsyncTestClient(app=create_app(settings)) as client:
        ready = await client.get("/ready")
        assert ready.status_code == 503 and "retry-after" in ready.headers
        # An agency token must be looked up in the database, which is not there.
        who = await client.get("/v1/whoami", headers={"Authorization": "Bearer mla_someone"})
        assert who.status_code == 503, who.text
        assert who.headers["content-type"].startswith("application/problem+json")
        assert int(who.headers["retry-after"]) > 0
        assert who.json()["type"].endswith("/database-unavailable")


async def test_failed_auth_is_rate_limited_per_address(settings: Settings, cast: Cast) -> None:
    limited = dataclasses.replace(settings, auth_failure_limit=5, auth_failure_window_seconds=60)
    async with AsyncTestClient(app=create_app(limited)) as client:
        hub = Hub(client)
        good = await hub.register("sg-agc", "SG", "central_authority")
        bad = {"Authorization": "Bearer mla_wrong-token"}
        statuses = [(await client.get("/v1/whoami", headers=bad)).status_code for _ in range(8)]
        assert statuses[:5] == [401] * 5 and set(statuses[5:]) == {429}
        refused = await client.get("/v1/whoami", headers=bad)
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert 0 < int(refused.headers["retry-after"]) <= 60
        # A valid token from the same address still works (see docs/operations.md).
        assert (await client.get("/v1/whoami", headers=good.auth)).status_code == 200
        # Public endpoints are not affected.
        assert (await client.get("/health")).status_code == 200
