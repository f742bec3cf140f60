"""The completeness dry run warns when the legal basis may not bind both agencies' states.

The app runs with an operator legal file (MLA_LEGAL_FILE) over the built-in defaults:
Thailand recorded as not bound by the Budapest Convention; Lao PDR left unknown.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from mla_tracker.config import Settings
from tests.integration.conftest import Cast
from tests.support import Hub, mla_content

TH_SOURCE = "operator test data: CoE chart of signatures, checked 2026-11-30"
LEGAL_FILE = f"""\
[[binding]]
instrument = "budapest_convention"
state = "TH"
bound = false
source = "{TH_SOURCE}"
"""
BUDAPEST = {"instrument": "budapest_convention", "citation": "Art 29"}


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    """The shared settings, plus the operator's legal file."""
    path = tmp_path / "legal.toml"
    path.write_text(LEGAL_FILE, encoding="utf-8")
    return dataclasses.replace(settings, legal_file=path)


async def _dry_run(hub: Hub, cast: Cast, content: dict[str, Any]) -> dict[str, Any]:
    resp = await hub.client.post("/v1/requests/completeness", json=content, headers=cast.lao.auth)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


async def test_budapest_between_la_and_th_warns_for_both(hub: Hub, cast: Cast) -> None:
    body = await _dry_run(hub, cast, mla_content(cast.lao.id, cast.thai.id, legal_basis=BUDAPEST))
    # A warning is not a gap: the request is complete and may be transmitted.
    assert body["complete"] is True
    assert [(m["field"], m["severity"]) for m in body["missing"]] == [
        ("legal_basis.instrument", "warning"),
        ("legal_basis.instrument", "warning"),
    ]
    lao, thai = (m["message"] for m in body["missing"])
    assert "binds the requesting state, Lao PDR (LA), is unknown" in lao
    assert "does not bind the requested state, Thailand (TH), per" in thai
    assert TH_SOURCE in thai  # the lifespan loaded the operator's file into the context
    for message in (lao, thai):
        assert message.endswith("the legal data may be out of date: check")


async def test_asean_mlat_between_la_and_th_is_bound(hub: Hub, cast: Cast) -> None:
    body = await _dry_run(hub, cast, mla_content(cast.lao.id, cast.thai.id))
    assert body == {"complete": True, "missing": []}


async def test_warnings_come_after_the_gaps_and_leave_them_unchanged(hub: Hub, cast: Cast) -> None:
    content = mla_content(cast.lao.id, cast.thai.id, legal_basis=BUDAPEST)
    content.pop("offences")
    body = await _dry_run(hub, cast, content)
    assert body["complete"] is False
    assert [(m["field"], m["severity"]) for m in body["missing"]] == [
        ("offences", "required"),
        ("legal_basis.instrument", "warning"),
        ("legal_basis.instrument", "warning"),
    ]


async def test_an_unknown_agency_gets_no_instrument_warning(hub: Hub, cast: Cast) -> None:
    body = await _dry_run(hub, cast, mla_content(cast.lao.id, "xx-nobody", legal_basis=BUDAPEST))
    assert body == {"complete": True, "missing": []}
    content = mla_content("xx-nobody", cast.thai.id, legal_basis=BUDAPEST)
    content.pop("case_reference")
    body = await _dry_run(hub, cast, content)
    assert [(m["field"], m["severity"]) for m in body["missing"]] == [
        ("case_reference", "required")
    ]


async def test_bilateral_treaty_is_not_checked(hub: Hub, cast: Cast) -> None:
    basis = {"instrument": "bilateral_treaty", "citation": "LA-TH treaty Art 3"}
    body = await _dry_run(hub, cast, mla_content(cast.lao.id, cast.thai.id, legal_basis=basis))
    assert body == {"complete": True, "missing": []}


async def test_a_request_with_a_warning_is_transmitted(hub: Hub, cast: Cast) -> None:
    request = await hub.submit(
        cast.lao, mla_content(cast.lao.id, cast.thai.id, legal_basis=BUDAPEST)
    )
    assert request["state"] == "transmitted"
    assert request["requested_agency"] == cast.thai.id
