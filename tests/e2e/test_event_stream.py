"""The SSE stream from a real server process: read, disconnect, miss some, resume exactly."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from mla_tracker.crypto.keys import SigningKey
from mla_tracker.crypto.statement import GENESIS
from tests.e2e.conftest import Server
from tests.support import OPERATOR_TOKEN, Agency, envelope_json, login_sync, mla_content


def register(http: httpx.Client, agency_id: str, country: str, role: str) -> Agency:
    """Register an agency with a fresh key and log it in."""
    key = SigningKey.generate()
    resp = http.post(
        "/v1/agencies",
        json={
            "id": agency_id,
            "name": agency_id,
            "country": country,
            "role": role,
            "public_key": key.public.to_base64(),
        },
        headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"},
    )
    assert resp.status_code == 201, resp.text
    return Agency(agency_id, role, country, key, login_sync(http, agency_id, key))


def submit(http: httpx.Client, lao: Agency, thai: Agency) -> uuid.UUID:
    """A new request from Laos to Thailand."""
    rid = uuid.uuid4()
    env = envelope_json(lao, rid, 1, GENESIS, "transmit", mla_content(lao.id, thai.id))
    assert http.post("/v1/requests", json=env, headers=lao.auth).status_code == 201
    return rid


def act(http: httpx.Client, agency: Agency, rid: uuid.UUID, action: str) -> None:
    """Sign and post the next statement on the request's head."""
    head = http.get(f"/v1/requests/{rid}", headers=agency.auth).json()["head"]
    env = envelope_json(agency, rid, head["seq"] + 1, head["digest"], action, {})
    resp = http.post(f"/v1/requests/{rid}/statements", json=env, headers=agency.auth)
    assert resp.status_code == 201, resp.text


def sse(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """Parse server-sent events (comments and retry skipped) from a line iterator."""
    fields: dict[str, str] = {}
    for line in lines:
        if line == "":
            if "data" in fields:
                yield {
                    "id": int(fields["id"]),
                    "event": fields["event"],
                    **json.loads(fields["data"]),
                }
            fields = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")


def test_resume_with_last_event_id_gets_exactly_the_missed_events(server: Server) -> None:
    with httpx.Client(base_url=server.url) as http:
        lao = register(http, "la-mps", "LA", "central_authority")
        thai = register(http, "th-oag", "TH", "central_authority")
        first = submit(http, lao, thai)
        act(http, thai, first, "acknowledge")
        timeout = httpx.Timeout(10.0, read=2.5)
        with http.stream("GET", "/v1/events/stream", headers=lao.auth, timeout=timeout) as resp:
            assert resp.status_code == 200
            assert resp.headers["content-type"].startswith("text/event-stream")
            stream = sse(resp.iter_lines())
            seen = [next(stream), next(stream)]
        # Disconnected: what happens now is missed, then caught up on reconnect.
        assert [(e["action"], e["seq"]) for e in seen] == [("transmit", 1), ("acknowledge", 2)]
        assert {e["event"] for e in seen} == {"statement.accepted"}
        second = submit(http, lao, thai)
        act(http, thai, first, "accept")
        act(http, thai, second, "acknowledge")
        resume = {**lao.auth, "Last-Event-ID": str(seen[-1]["id"])}
        with http.stream("GET", "/v1/events/stream", headers=resume, timeout=timeout) as resp:
            stream = sse(resp.iter_lines())
            missed = [next(stream), next(stream), next(stream)]
            with pytest.raises(httpx.ReadTimeout):
                next(stream)  # nothing more: no repeats, no gaps
        assert [(e["request_id"], e["action"]) for e in missed] == [
            (str(second), "transmit"),
            (str(first), "accept"),
            (str(second), "acknowledge"),
        ]
        ids = [e["id"] for e in seen + missed]
        assert ids == sorted(ids) and len(set(ids)) == 5
        # The same with ?after=, and the page for polling clients agrees.
        page = http.get("/v1/events", params={"after": seen[-1]["id"]}, headers=lao.auth).json()
        assert [e["id"] for e in page["items"]] == ids[2:]
        after = {"after": ids[3]}
        with http.stream(
            "GET", "/v1/events/stream", params=after, headers=lao.auth, timeout=timeout
        ) as resp:
            assert next(sse(resp.iter_lines()))["id"] == ids[4]
        bad = http.get("/v1/events/stream", headers={**lao.auth, "Last-Event-ID": "soon"})
        assert bad.status_code == 400
        assert bad.headers["content-type"].startswith("application/problem+json")
