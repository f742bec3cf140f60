"""Request logs and /metrics on the real app over ASGI, on SQLite and PostgreSQL (issue 11)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from prometheus_client.parser import text_string_to_metric_families

from mla_tracker.api.logs import log_handler
from mla_tracker.crypto.keys import SigningKey
from tests.integration.conftest import Cast, in_execution
from tests.support import OPERATOR_TOKEN, Hub, envelope_json, mla_content

SECRET = "SECRET-7f3a9c-do-not-log"
UPLOAD_MARKER = b"UPLOAD-BODY-MARKER-41c7e2"
_UUID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.I)


class CapturedLog(io.StringIO):
    """What the service logged as JSON lines, from before the app starts."""

    def lines(self) -> list[dict[str, Any]]:
        """Every line, parsed (each must be one JSON object)."""
        return [json.loads(line) for line in self.getvalue().splitlines()]

    def access(self) -> list[dict[str, Any]]:
        """The per-request lines."""
        return [line for line in self.lines() if line["logger"] == "mla_tracker.access"]


@pytest.fixture
def captured() -> Iterator[CapturedLog]:
    """The JSON handler `mla serve` uses, on the root logger at the production level."""
    stream = CapturedLog()
    handler = log_handler("json", stream)
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def _private_forms(key: SigningKey) -> list[str]:
    pem = key.to_pem()
    raw = serialization.load_pem_private_key(pem, password=None).private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    pem_body = "".join(pem.decode().splitlines()[1:-1])
    return [
        pem_body,
        raw.hex(),
        base64.b64encode(raw).decode(),
        base64.b64encode(raw).decode()[:20],
    ]


async def _metrics(hub: Hub) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    resp = await hub.client.get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(resp.text)
        for s in family.samples
    }


def _value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


async def test_one_json_line_per_request_with_id_agency_route_status_latency(
    captured: CapturedLog, hub: Hub, cast: Cast
) -> None:
    rid = str((await hub.submit(cast.lao, mla_content(cast.lao.id, cast.thai.id)))["id"])
    before = len(captured.access())
    resp = await hub.client.get(f"/v1/requests/{rid}", headers=cast.thai.auth)
    assert resp.status_code == 200
    lines = captured.access()[before:]
    assert len(lines) == 1, lines
    line = lines[0]
    assert re.fullmatch(r"[0-9a-f]{32}", line["request_id"])
    assert resp.headers["x-request-id"] == line["request_id"]
    assert line["agency"] == "th-oag" and line["operator"] is False
    assert line["method"] == "GET" and line["route"] == "/v1/requests/{request_id}"
    assert line["status"] == 200 and line["level"] == "info"
    assert isinstance(line["latency_ms"], float | int) and 0 <= line["latency_ms"] < 60_000

    # A tame incoming id is kept and echoed; a wild one is replaced, not logged.
    tame = await hub.client.get("/health", headers={"X-Request-ID": "lb-42.a:b_c"})
    assert tame.headers["x-request-id"] == "lb-42.a:b_c"
    wild = "x" * 65
    replaced = await hub.client.get("/health", headers={"X-Request-ID": wild})
    assert replaced.headers["x-request-id"] != wild
    assert wild not in captured.getvalue()

    # The operator, a failed authentication and an unrouted path each get their line too.
    await hub.client.get("/v1/whoami", headers=hub.operator)
    await hub.client.get("/v1/whoami", headers={"Authorization": "Bearer mla_wrong"})
    await hub.client.get(f"/no/such/{rid}")
    operator, wrong, unrouted = captured.access()[-3:]
    assert operator["operator"] is True and operator["agency"] is None
    assert wrong["status"] == 401 and wrong["agency"] is None and wrong["route"] == "/v1/whoami"
    assert unrouted["status"] == 404 and unrouted["route"] is None


async def test_lifecycle_logs_no_token_key_or_body_and_metrics_have_no_ids(
    captured: CapturedLog, hub: Hub, cast: Cast
) -> None:
    before = await _metrics(hub)
    content = mla_content(cast.lao.id, cast.thai.id, summary_of_facts=f"Facts: {SECRET}.")
    rid = str((await hub.submit(cast.lao, content))["id"])
    # A statement on a stale head: refused, counted under its problem type.
    stale = envelope_json(cast.thai, uuid.UUID(rid), 1, "0" * 64, "acknowledge", {"note": SECRET})
    refused = await hub.client.post(
        f"/v1/requests/{rid}/statements", json=stale, headers=cast.thai.auth
    )
    assert refused.status_code >= 400
    refused_slug = refused.json()["type"].rsplit("/", 1)[-1]
    wrong = await hub.client.post(
        f"/v1/requests/{rid}/statements", json=stale, headers={"Authorization": "Bearer mla_nope"}
    )
    assert wrong.status_code == 401

    # Evidence: delivered, then uploaded once (stored) and again (already had it).
    rid = await in_execution(hub, cast)
    payload = UPLOAD_MARKER + bytes(range(256)) * 40
    delivery = {
        "package_id": "pkg-1",
        "ciphertext_sha256": hashlib.sha256(payload).hexdigest(),
        "ciphertext_size": len(payload),
        "files": [{"path": "data/subscriber.csv", "sha256": "cd" * 32, "size": 300}],
        "recipients": ["age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq"],
    }
    assert (await hub.act(cast.thai_police, rid, "deliver_evidence", delivery)).status_code == 201
    url = f"/v1/requests/{rid}/packages/pkg-1/content"
    assert (
        await hub.client.put(url, content=payload, headers=cast.thai_police.auth)
    ).status_code == 201
    assert (
        await hub.client.put(url, content=payload, headers=cast.thai_police.auth)
    ).status_code == 200
    after = await _metrics(hub)

    # -- the log: every line JSON, none with a secret -------------------------------------
    text = captured.getvalue()
    lines = captured.lines()
    assert any(
        line["route"] == "/v1/requests/{request_id}/packages/{package_id}/content"
        for line in captured.access()
    )
    agencies = [
        cast.lao,
        cast.thai,
        cast.thai_police,
        cast.auditor,
        cast.outsider,
        cast.outsider_police,
    ]
    forbidden = [
        OPERATOR_TOKEN,
        "mla_nope",
        SECRET,
        UPLOAD_MARKER.decode(),
        content["case_reference"],
    ]
    forbidden += [a.token for a in agencies]
    forbidden += [form for a in agencies for form in _private_forms(a.key)]
    for needle in forbidden:
        assert needle not in text, f"logged: {needle[:12]}…"
    assert all("authorization" not in json.dumps(line).lower() for line in lines)

    # -- the metrics: templates, outcomes, bytes; no id or agency as a label value --------
    def delta(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    append = "/v1/requests/{request_id}/statements"
    assert delta("mla_requests_total", path=append, method="POST", status_code="201") >= 4
    assert delta("mla_requests_total", path=append, method="POST", status_code="401") == 1
    assert delta("mla_statements_total", outcome="accepted") == 6  # 2 transmits, 3 acts, 1 delivery
    assert delta("mla_statements_total", outcome="refused", problem=refused_slug) == 1
    assert delta("mla_statements_total", outcome="refused", problem="unauthenticated") == 1
    assert delta("mla_evidence_uploads_total", outcome="stored") == 1
    assert delta("mla_evidence_uploads_total", outcome="duplicate") == 1
    assert delta("mla_evidence_upload_stored_bytes_total") == len(payload)
    assert delta("mla_evidence_upload_received_bytes_total") == 2 * len(payload)
    assert ("mla_db_pool_connections", frozenset({("state", "in_use")})) in after

    ids = {a.id for a in agencies} | {line["request_id"] for line in captured.access()}
    for name, labels in after:
        for key, value in labels:
            assert value not in ids, (name, key, value)
            assert not _UUID.search(value), (name, key, value)
