"""The completeness check and content rules, on the domain alone."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from mla_tracker.domain.bodies import decode_body
from mla_tracker.domain.completeness import check_completeness, required_missing
from mla_tracker.domain.content import RequestContent
from mla_tracker.domain.countries import ASEAN_MEMBERS, resolve_timezone
from mla_tracker.domain.errors import ContentInvalid
from mla_tracker.domain.model import Action, Kind
from tests.support import mla_content, preservation_content

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def _content(**over: object) -> RequestContent:
    return msgspec.convert(mla_content("la-mps", "th-oag", **over), RequestContent)


def test_a_complete_request_has_no_gaps() -> None:
    assert check_completeness(_content()) == []
    pres = msgspec.convert(preservation_content("la-mps", "th-oag"), RequestContent)
    assert check_completeness(pres) == []


def test_an_empty_request_lists_every_essential() -> None:
    empty = RequestContent(kind=Kind.MLA, requesting_agency="la-mps", requested_agency="th-oag")
    fields = {m.field for m in required_missing(empty)}
    assert fields == {
        "legal_basis",
        "case_reference",
        "offences",
        "summary_of_facts",
        "data_requested",
        "custodian",
        "assistance_sought",
    }
    pres = RequestContent(
        kind=Kind.PRESERVATION, requesting_agency="la-mps", requested_agency="th-oag"
    )
    pres_fields = {m.field for m in required_missing(pres)}
    assert {"necessity", "mla_to_follow"} <= pres_fields
    assert "assistance_sought" not in pres_fields


def test_conditional_essentials() -> None:
    urgent = _content(urgency="urgent")
    assert [m.field for m in required_missing(urgent)] == ["urgency_justification"]
    secret = _content(confidentiality={"required": True})
    assert [m.field for m in required_missing(secret)] == ["confidentiality.reasons"]
    no_penalty = _content(offences=[{"name": "fraud", "statute": "PC 166"}])
    assert [m.field for m in required_missing(no_penalty)] == ["offences[0].maximum_penalty"]


def test_decode_body_rejects_unknown_fields_and_wrong_types() -> None:
    with pytest.raises(ContentInvalid, match="unknown field"):
        decode_body(Action.ACCEPT, {"partial": False, "bogus": 1})
    with pytest.raises(ContentInvalid):
        decode_body(Action.POSTPONE, {"reason": "x", "until": "tomorrow"})
    with pytest.raises(ContentInvalid):
        decode_body(Action.TRANSMIT, {**mla_content("la-mps", "th-oag"), "kind": "arrest"})


def test_time_zones() -> None:
    assert resolve_timezone("LA", None) == "Asia/Vientiane"
    assert resolve_timezone("MM", None) == "Asia/Yangon"
    assert resolve_timezone("FR", "Europe/Paris") == "Europe/Paris"
    assert len(ASEAN_MEMBERS) == 11
    with pytest.raises(ContentInvalid):
        resolve_timezone("FR", None)
    with pytest.raises(ContentInvalid):
        resolve_timezone("LA", "Asia/Nowhere")
