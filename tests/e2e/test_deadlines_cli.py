"""`mla deadlines`: the table, overdue first, against a real server and on fixed data."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from click.testing import CliRunner

from mla_tracker.cli.deadlines import render_table
from mla_tracker.cli.main import cli
from mla_tracker.crypto.keys import SigningKey
from mla_tracker.crypto.statement import GENESIS
from tests.e2e.conftest import Server
from tests.support import OPERATOR_TOKEN, Agency, envelope_json, login_sync, mla_content


def _row(deadline: str, status: str, due: str | None, *, overdue: bool = False) -> dict[str, Any]:
    return {
        "id": f"{deadline}-1",
        "request_id": "7c0e0000-0000-4000-8000-000000000000",
        "deadline": deadline,
        "rule": f"mla.{deadline}.normal",
        "source": "policy default",
        "responsible_party": "requested",
        "responsible_agency": "th-oag",
        "status": status,
        "overdue": overdue,
        "due_at": due,
        "due_local": None if due is None else due.replace("16:59:59.999999Z", "23:59:59+07:00"),
        "stopped_at": None if due else "2026-04-27T03:00:00Z",
        "remaining": None if due else "8 business_days",
        "closed_at": None,
    }


def test_table_puts_overdue_first_then_soonest_then_stopped() -> None:
    lines = render_table(
        [
            _row("decide", "pending", None),
            _row("execute", "pending", "2026-05-20T16:59:59.999999Z"),
            _row("acknowledge", "missed", "2026-04-22T16:59:59.999999Z", overdue=True),
            _row("answer_info", "pending", "2026-05-11T16:59:59.999999Z"),
        ],
        sources=True,
    )
    assert lines[0].split()[:2] == ["STATUS", "DUE"] and lines[0].endswith("SOURCE")
    assert [line.split()[0] for line in lines[1:]] == ["OVERDUE", "pending", "pending", "stopped"]
    assert "2026-04-22 16:59:59" in lines[1] and "2026-04-22 23:59:59+07:00" in lines[1]
    assert "(8 business_days left)" in lines[4]
    order = [
        next(k for k in ("acknowledge", "answer_info", "execute", "decide") if k in line)
        for line in lines[1:]
    ]
    assert order == ["acknowledge", "answer_info", "execute", "decide"]


def test_mla_deadlines_against_a_server(server: Server) -> None:
    agencies = {}
    with httpx.Client(base_url=server.url) as http:
        for agency_id, country in (("la-mps", "LA"), ("th-oag", "TH")):
            key = SigningKey.generate()
            resp = http.post(
                "/v1/agencies",
                json={
                    "id": agency_id,
                    "name": agency_id,
                    "country": country,
                    "role": "central_authority",
                    "public_key": key.public.to_base64(),
                },
                headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"},
            )
            assert resp.status_code == 201, resp.text
            token = login_sync(http, agency_id, key)
            agencies[agency_id] = Agency(agency_id, "central_authority", country, key, token)
        lao, thai = agencies["la-mps"], agencies["th-oag"]
        rid = uuid.uuid4()
        env = envelope_json(lao, rid, 1, GENESIS, "transmit", mla_content(lao.id, thai.id))
        assert http.post("/v1/requests", json=env, headers=lao.auth).status_code == 201

    env = {"MLA_URL": server.url, "MLA_TOKEN": thai.token}
    result = CliRunner().invoke(cli, ["deadlines", "--sources"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    header, row = result.output.splitlines()
    assert header.startswith("STATUS") and "SOURCE" in header
    assert row.split()[0] == "pending" and "acknowledge" in row and "th-oag (requested)" in row
    assert str(rid)[:8] in row and "+07:00" in row and "policy default" in row

    result = CliRunner().invoke(
        cli, ["deadlines", "--agency", "la-mps"], env=env, catch_exceptions=False
    )
    assert result.output.strip() == "no deadlines"
    result = CliRunner().invoke(
        cli, ["deadlines", "--request", str(rid), "--state", "met"], env=env
    )
    assert result.exit_code == 0 and result.output.strip() == "no deadlines"
    bad = CliRunner().invoke(cli, ["deadlines", "--due-before", "tomorrow"], env=env)
    assert bad.exit_code != 0 and "--due-before" in bad.output
