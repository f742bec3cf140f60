"""Deadlines over the API on SQLite and PostgreSQL, with a frozen clock across Songkran."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from mla_tracker.api.app import create_app
from mla_tracker.config import Settings
from mla_tracker.crypto.keys import SigningKey
from mla_tracker.crypto.statement import GENESIS
from mla_tracker.domain.deadline_file import DeadlineRulesInvalid
from tests.keys_support import login
from tests.support import Agency, Hub, envelope_json, mla_content, preservation_content

# Fri 10 Apr 2026, 15:00 in Bangkok and Vientiane: Songkran is Mon 13 - Wed 15 April.
START = datetime(2026, 4, 10, 8, 0, tzinfo=UTC)
OVERRIDE = """\
[[deadline]]
between = ["LA", "TH"]
kind = "mla"
deadline = "decide"
length = 10
unit = "business_days"
source = "LA-TH MoU (test) Art 4"
"""


class Clock:
    """A clock the test moves by hand, shared with the app."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


class Frozen:
    """The app on a frozen clock, and agencies that sign at that clock."""

    def __init__(self, hub: Hub, clock: Clock) -> None:
        self.hub, self.clock = hub, clock

    async def register(self, agency_id: str, country: str, role: str) -> Agency:
        key = SigningKey.generate()
        resp = await self.hub.client.post(
            "/v1/agencies",
            json={
                "id": agency_id,
                "name": agency_id,
                "country": country,
                "role": role,
                "public_key": key.public.to_base64(),
            },
            headers=self.hub.operator,
        )
        assert resp.status_code == 201, resp.text
        agency = Agency(agency_id, role, country, key, "")
        await self.relogin(agency)
        return agency

    async def relogin(self, *agencies: Agency) -> None:
        """Sessions last an hour of the frozen clock: log in again after moving it."""
        for agency in agencies:
            resp = await login(self.hub.client, agency.id, agency.key, issued_at=self.clock.now)
            assert resp.status_code == 201, resp.text
            agency.token = resp.json()["token"]

    async def submit(self, agency: Agency, content: dict[str, Any]) -> str:
        rid = uuid.uuid4()
        env = envelope_json(agency, rid, 1, GENESIS, "transmit", content, issued_at=self.clock.now)
        resp = await self.hub.client.post("/v1/requests", json=env, headers=agency.auth)
        assert resp.status_code == 201, resp.text
        return str(rid)

    async def act(self, agency: Agency, rid: str, action: str, body: dict[str, Any]) -> None:
        seq, digest = await self.hub.head(agency, rid)
        env = envelope_json(
            agency, uuid.UUID(rid), seq + 1, digest, action, body, issued_at=self.clock.now
        )
        resp = await self.hub.client.post(
            f"/v1/requests/{rid}/statements", json=env, headers=agency.auth
        )
        assert resp.status_code == 201, resp.text

    async def get(self, reader: Agency, path: str, **params: Any) -> Any:
        resp = await self.hub.client.get(path, headers=reader.auth, params=params)
        assert resp.status_code == 200, resp.text
        return resp.json()


@pytest.fixture
async def frozen(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Frozen]:
    """The service with a hand-moved clock and a LA-TH override file."""
    path = tmp_path / "deadlines.toml"
    path.write_text(OVERRIDE)
    monkeypatch.setenv("MLA_DEADLINES_FILE", str(path))
    clock = Clock()
    async with AsyncTestClient(app=create_app(settings, clock=clock)) as client:
        yield Frozen(Hub(client), clock)


def _by_kind(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["deadline"]: d for d in items}


async def test_request_deadlines_across_songkran_stop_and_list(frozen: Frozen) -> None:
    lao = await frozen.register("la-mps", "LA", "central_authority")
    thai = await frozen.register("th-oag", "TH", "central_authority")
    auditor = await frozen.register("asean-audit", "SG", "auditor")
    outsider = await frozen.register("vn-spp", "VN", "central_authority")
    rid = await frozen.submit(lao, mla_content(lao.id, thai.id, respond_by="2026-06-30"))

    # Acknowledge: 5 business days in Bangkok from Fri 10 Apr: Songkran Mon-Wed, so
    # Thu 16 (1), Fri 17 (2), Mon 20 (3), Tue 21 (4), Wed 22 (5).
    out = await frozen.get(lao, f"/v1/requests/{rid}/deadlines")
    (ack,) = out["deadlines"]
    assert ack["deadline"] == "acknowledge" and ack["status"] == "pending"
    assert ack["due_at"] == "2026-04-22T16:59:59.999999Z"
    assert ack["due_local"] == "2026-04-22T23:59:59.999999+07:00"
    assert ack["timezone"] == "Asia/Bangkok" and ack["responsible_agency"] == "th-oag"
    assert "policy default" in ack["source"] and out["request"]["respond_by"] == "2026-06-30"

    # Thursday 23 April: missed, overdue; the list shows it to both parties and the auditor.
    frozen.clock.now = datetime(2026, 4, 23, 2, 0, tzinfo=UTC)
    await frozen.relogin(lao, thai, auditor, outsider)
    missed = await frozen.get(thai, "/v1/deadlines", state="missed")
    assert [(d["request_id"], d["overdue"]) for d in missed["items"]] == [(rid, True)]
    seen = await frozen.get(auditor, f"/v1/requests/{rid}/deadlines")
    assert seen["request"]["respond_by"] is None and seen["deadlines"][0]["status"] == "missed"
    assert (await frozen.get(outsider, "/v1/deadlines"))["items"] == []
    hidden = await frozen.hub.client.get(f"/v1/requests/{rid}/deadlines", headers=outsider.auth)
    assert hidden.status_code == 404

    # Acknowledged late (missed, closed); the decision clock (LA-TH override: 10 days) runs.
    await frozen.act(thai, rid, "acknowledge", {})
    found = _by_kind((await frozen.get(lao, f"/v1/requests/{rid}/deadlines"))["deadlines"])
    assert found["acknowledge"]["status"] == "missed" and not found["acknowledge"]["overdue"]
    decide = found["decide"]
    # Thu 23 Apr + 10: Fri 24 (1), Mon 27-Thu 30 (5), Fri 1 May Labour Day and Mon 4 May
    # Coronation Day off, Tue 5-Fri 8 (9), Mon 11 (10).
    assert decide["rule"] == "mla.decide.normal@LA-TH"
    assert decide["source"] == "LA-TH MoU (test) Art 4"
    assert decide["due_local"] == "2026-05-11T23:59:59.999999+07:00"

    # Information requested on Mon 27 Apr: the decision clock stops; the requester owes.
    frozen.clock.now = datetime(2026, 4, 27, 3, 0, tzinfo=UTC)
    await frozen.relogin(lao, thai, auditor)
    await frozen.act(thai, rid, "request_info", {"questions": "Which account exactly?"})
    found = _by_kind((await frozen.get(lao, f"/v1/requests/{rid}/deadlines"))["deadlines"])
    assert found["decide"]["due_at"] is None and found["decide"]["remaining"] == "8 business_days"
    assert found["answer_info"]["responsible_agency"] == "la-mps"
    assert found["answer_info"]["timezone"] == "Asia/Vientiane"

    # Filters and pages: by responsible agency, by due time, one item a page.
    owed = await frozen.get(lao, "/v1/deadlines", agency="la-mps")
    assert [d["deadline"] for d in owed["items"]] == ["answer_info"]
    soon = await frozen.get(lao, "/v1/deadlines", due_before="2026-04-24T00:00:00Z")
    assert [d["deadline"] for d in soon["items"]] == ["acknowledge"]
    first = await frozen.get(lao, "/v1/deadlines", limit=1)
    assert first["items"][0]["deadline"] == "acknowledge" and first["next_cursor"]
    second = await frozen.get(lao, "/v1/deadlines", limit=1, cursor=first["next_cursor"])
    third = await frozen.get(lao, "/v1/deadlines", limit=1, cursor=second["next_cursor"])
    # answer_info (due) before decide (stopped: no due time, so last).
    assert [second["items"][0]["deadline"], third["items"][0]["deadline"]] == [
        "answer_info",
        "decide",
    ]
    assert third["next_cursor"] is None
    bad = await frozen.hub.client.get("/v1/deadlines?cursor=nope", headers=lao.auth)
    assert bad.status_code == 400

    # Left on Mon 27 Apr: Tue 28-Thu 30, Tue 5-Mon 11 May = 8. Answered Wed 29 Apr: Thu 30
    # (1), 1 and 4 May off, Tue 5-Fri 8 (5), Mon 11, Tue 12, Wed 13 (8).
    frozen.clock.now = datetime(2026, 4, 29, 3, 0, tzinfo=UTC)
    await frozen.relogin(lao)
    await frozen.act(lao, rid, "provide_info", {"answer": "+66 81 234 5678"})
    found = _by_kind((await frozen.get(lao, f"/v1/requests/{rid}/deadlines"))["deadlines"])
    assert found["answer_info"]["status"] == "met"
    assert found["decide"]["due_local"] == "2026-05-13T23:59:59.999999+07:00"


async def test_preservation_expiry_hidden_from_auditors(frozen: Frozen) -> None:
    lao = await frozen.register("la-mps", "LA", "central_authority")
    thai = await frozen.register("th-oag", "TH", "central_authority")
    auditor = await frozen.register("asean-audit", "SG", "auditor")
    rid = await frozen.submit(lao, preservation_content(lao.id, thai.id))
    until = (START + timedelta(days=61)).date().isoformat()  # 10 June 2026
    await frozen.act(thai, rid, "preserve", {"until": until})
    found = _by_kind((await frozen.get(lao, f"/v1/requests/{rid}/deadlines"))["deadlines"])
    expiry = found["preservation_expiry"]
    assert expiry["due_local"] == "2026-06-10T23:59:59.999999+07:00"
    assert expiry["responsible_agency"] == "la-mps" and expiry["status"] == "pending"
    assert expiry["warnings"] == ["2026-05-27T16:59:59.999999Z", "2026-06-07T16:59:59.999999Z"]
    assert found["preserve"]["status"] == "met" and found["acknowledge"]["status"] == "met"
    seen = _by_kind((await frozen.get(auditor, f"/v1/requests/{rid}/deadlines"))["deadlines"])
    assert "preservation_expiry" not in seen and seen["preserve"]["status"] == "met"


async def test_invalid_override_file_stops_the_app(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "deadlines.toml"
    path.write_text(OVERRIDE.replace('unit = "business_days"', 'unit = "weeks"'))
    monkeypatch.setenv("MLA_DEADLINES_FILE", str(path))
    with pytest.raises(DeadlineRulesInvalid) as caught:
        create_app(settings)
    assert caught.value.line == 6 and "unknown unit 'weeks'" in str(caught.value)
    assert str(caught.value).startswith(f"{path}, line 6: [[deadline]] #1:")
