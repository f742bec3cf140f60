"""Evidence transfer through the API: checked upload, resumable download, custody trail."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path
from typing import Any

import msgspec
import pytest

from mla_tracker.config import Settings
from mla_tracker.crypto import dsse
from mla_tracker.crypto.custody import verify_custody_chain
from mla_tracker.crypto.keys import VerifyingKey
from tests.integration.conftest import Cast, in_execution
from tests.support import Hub

PAYLOAD = os.urandom(3 * 1024 * 1024 + 17)
SHA = hashlib.sha256(PAYLOAD).hexdigest()


def _delivery(package_id: str = "pkg-1", data: bytes = PAYLOAD) -> dict[str, Any]:
    return {
        "package_id": package_id,
        "ciphertext_sha256": hashlib.sha256(data).hexdigest(),
        "ciphertext_size": len(data),
        "files": [{"path": "data/subscriber.csv", "sha256": "cd" * 32, "size": 300}],
        "recipients": ["age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq"],
    }


@pytest.fixture
async def delivered(hub: Hub, cast: Cast) -> str:
    rid = await in_execution(hub, cast)
    resp = await hub.act(cast.thai_police, rid, "deliver_evidence", _delivery())
    assert resp.status_code == 201, resp.text
    return str(rid)


def _blob_files(settings: Settings) -> list[Path]:
    root = settings.resolved_blob_dir
    return sorted(p for p in root.rglob("*") if p.is_file())


async def test_upload_download_resume_and_custody(
    hub: Hub, cast: Cast, delivered: str, settings: Settings
) -> None:
    rid = delivered
    url = f"/v1/requests/{rid}/packages/pkg-1/content"
    listed = (await hub.client.get(f"/v1/requests/{rid}/packages", headers=cast.lao.auth)).json()
    assert listed[0]["uploaded_at"] is None and listed[0]["ciphertext_sha256"] == SHA
    # Not uploaded yet: a download is a clear 409.
    assert (await hub.client.get(url, headers=cast.lao.auth)).status_code == 409
    resp = await hub.client.put(url, content=PAYLOAD, headers=cast.thai_police.auth)
    assert resp.status_code == 201, resp.text
    assert resp.json()["uploaded_at"] is not None
    again = await hub.client.put(url, content=PAYLOAD, headers=cast.thai_police.auth)
    assert again.status_code == 200
    stored = _blob_files(settings)
    assert [p.name for p in stored] == [SHA]

    full = await hub.client.get(url, headers=cast.lao.auth)
    assert full.status_code == 200 and full.content == PAYLOAD
    assert full.headers["accept-ranges"] == "bytes"
    assert (
        full.headers["repr-digest"] == f"sha-256=:{base64.b64encode(bytes.fromhex(SHA)).decode()}:"
    )
    # A broken download resumes with Range and is byte-identical.
    cut = 1_000_003
    head = await hub.client.get(url, headers={**cast.lao.auth, "Range": f"bytes=0-{cut - 1}"})
    assert head.status_code == 206 and len(head.content) == cut
    tail = await hub.client.get(url, headers={**cast.lao.auth, "Range": f"bytes={cut}-"})
    assert tail.status_code == 206
    assert tail.headers["content-range"] == f"bytes {cut}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}"
    assert head.content + tail.content == PAYLOAD
    suffix = await hub.client.get(url, headers={**cast.thai.auth, "Range": "bytes=-10"})
    assert suffix.status_code == 206 and suffix.content == PAYLOAD[-10:]
    beyond = await hub.client.get(url, headers={**cast.lao.auth, "Range": f"bytes={len(PAYLOAD)}-"})
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{len(PAYLOAD)}"

    server_key = (await hub.client.get("/v1/server-key")).json()
    key = VerifyingKey.from_base64(server_key["public_key"])
    trail = (
        await hub.client.get(
            f"/v1/requests/{rid}/packages/pkg-1/custody", headers=cast.auditor.auth
        )
    ).json()
    assert [(t["event"], t["agency_id"]) for t in trail] == [
        ("uploaded", cast.thai_police.id),
        ("downloaded", cast.lao.id),
        ("downloaded", cast.lao.id),
        ("downloaded", cast.lao.id),
        ("downloaded", cast.thai.id),
    ]
    envelopes = [msgspec.convert(t["envelope"], dsse.Envelope) for t in trail]
    assertions = verify_custody_chain(envelopes, lambda _kid: key)
    assert assertions[2].range_start == 0 and assertions[2].range_end == cut - 1
    assert assertions[1].range_start is None
    assert all(a.ciphertext_sha256 == SHA for a in assertions)
    # The requester's signed receipt must name the delivered ciphertext.
    wrong = await hub.act(
        cast.lao, rid, "receive_evidence", {"package_id": "pkg-1", "ciphertext_sha256": "00" * 32}
    )
    assert wrong.status_code == 422
    unknown = await hub.act(
        cast.lao, rid, "receive_evidence", {"package_id": "pkg-9", "ciphertext_sha256": SHA}
    )
    assert unknown.status_code == 422
    ok = await hub.act(
        cast.lao, rid, "receive_evidence", {"package_id": "pkg-1", "ciphertext_sha256": SHA}
    )
    assert ok.status_code == 201, ok.text
    dup = await hub.act(cast.thai_police, rid, "deliver_evidence", _delivery())
    assert dup.status_code == 422 and "already delivered" in dup.json()["detail"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (PAYLOAD[:-1] + bytes([PAYLOAD[-1] ^ 1]), 422),  # a flipped byte
        (PAYLOAD[:-100], 422),  # truncated
        (PAYLOAD + b"extra", 413),  # more than announced
        (b"", 422),
    ],
)
async def test_mismatched_upload_keeps_nothing(
    hub: Hub, cast: Cast, delivered: str, settings: Settings, body: bytes, status: int
) -> None:
    url = f"/v1/requests/{delivered}/packages/pkg-1/content"
    resp = await hub.client.put(url, content=body, headers=cast.thai_police.auth)
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert _blob_files(settings) == []
    listed = (
        await hub.client.get(f"/v1/requests/{delivered}/packages", headers=cast.thai_police.auth)
    ).json()
    assert listed[0]["uploaded_at"] is None
    trail = (
        await hub.client.get(
            f"/v1/requests/{delivered}/packages/pkg-1/custody", headers=cast.auditor.auth
        )
    ).json()
    assert trail == []


async def test_transfer_authorization(hub: Hub, cast: Cast, delivered: str) -> None:
    url = f"/v1/requests/{delivered}/packages/pkg-1/content"
    for who, headers, status in [
        ("requester", cast.lao.auth, 403),
        ("requested", cast.thai.auth, 403),
        ("auditor", cast.auditor.auth, 404),
        ("outsider", cast.outsider.auth, 404),
        ("operator", hub.operator, 403),
        ("anonymous", {}, 401),
    ]:
        resp = await hub.client.put(url, content=PAYLOAD, headers=headers)
        # Auditors see the request (metadata) but never deliver: the request is visible,
        # the upload is someone else's.
        expected = 403 if who == "auditor" else status
        assert resp.status_code == expected, (who, resp.text)
    assert (
        await hub.client.put(url, content=PAYLOAD, headers=cast.thai_police.auth)
    ).status_code == 201
    for who, headers, status in [
        ("requester", cast.lao.auth, 200),
        ("requested", cast.thai.auth, 200),
        ("executor", cast.thai_police.auth, 200),
        ("auditor", cast.auditor.auth, 403),
        ("outsider", cast.outsider.auth, 404),
        ("outsider_police", cast.outsider_police.auth, 404),
        ("operator", hub.operator, 403),
        ("anonymous", {}, 401),
    ]:
        resp = await hub.client.get(url, headers=headers)
        assert resp.status_code == status, (who, resp.text)
    for path in (
        f"/v1/requests/{delivered}/packages",
        f"/v1/requests/{delivered}/packages/pkg-1/custody",
    ):
        assert (await hub.client.get(path, headers=cast.auditor.auth)).status_code == 200
        assert (await hub.client.get(path, headers=cast.outsider.auth)).status_code == 404
    missing = f"/v1/requests/{delivered}/packages/nope/content"
    assert (await hub.client.get(missing, headers=cast.lao.auth)).status_code == 404


async def test_package_size_limit(cast: Cast, settings: Settings) -> None:
    """A hub configured for small packages refuses a larger delivery and changes nothing."""
    import dataclasses

    from litestar.testing import AsyncTestClient

    from mla_tracker.api.app import create_app

    small = dataclasses.replace(settings, max_package_bytes=1024 * 1024)
    async with AsyncTestClient(app=create_app(small)) as client:
        hub = Hub(client)
        rid = await in_execution(hub, cast)
        before = await hub.head(cast.lao, rid)
        resp = await hub.act(cast.thai_police, rid, "deliver_evidence", _delivery())
        assert resp.status_code == 422
        assert "larger than this hub accepts" in resp.json()["detail"]
        assert await hub.head(cast.lao, rid) == before
        fits = os.urandom(1000)
        resp = await hub.act(cast.thai_police, rid, "deliver_evidence", _delivery("p2", fits))
        assert resp.status_code == 201
