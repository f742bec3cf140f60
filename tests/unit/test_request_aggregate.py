"""The Request aggregate on its own, without a database: every action, table-driven."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import msgspec
import pytest

from mla_tracker.domain.bodies import decode_body
from mla_tracker.domain.content import RequestContent
from mla_tracker.domain.errors import (
    ContentInvalid,
    DomainError,
    MetadataMismatch,
    NotPermitted,
    PartyRefused,
    RequestIncomplete,
    TransitionRefused,
)
from mla_tracker.domain.model import Action, AgencyRole, Kind, Party, State, Urgency
from mla_tracker.domain.request import (
    AgencyFacts,
    Facts,
    Move,
    PackageAnnounced,
    PackageFacts,
    RequestFacts,
    decide,
    expected_meta,
    open_request,
    references,
)
from mla_tracker.domain.transitions import TABLES, states_of
from tests.support import mla_content, preservation_content

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
RID = uuid.UUID("0b9f6c1e-3a52-4c1d-9e77-5d2a8f4b1c20")
MLA_ID = uuid.UUID("11111111-2222-4333-8444-555555555555")
SHA = "ab" * 32
HELD_UNTIL = date(2027, 2, 1)

AGENCIES = {
    a.id: a
    for a in (
        AgencyFacts("la-mps", AgencyRole.CENTRAL_AUTHORITY, "LA"),
        AgencyFacts("th-oag", AgencyRole.CENTRAL_AUTHORITY, "TH"),
        AgencyFacts("th-ccib", AgencyRole.EXECUTING_AUTHORITY, "TH"),
        AgencyFacts("vn-a05", AgencyRole.EXECUTING_AUTHORITY, "VN"),
        AgencyFacts("asean-audit", AgencyRole.AUDITOR, "SG"),
    )
}
PARTY_AGENCY = {
    Party.REQUESTER: "la-mps",
    Party.REQUESTED: "th-oag",
    Party.EXECUTOR: "th-ccib",
    Party.SERVER: "hub",
}
FACTS = Facts(
    agencies=AGENCIES,
    requests={
        MLA_ID: RequestFacts(
            MLA_ID, Kind.MLA, State.TRANSMITTED, Urgency.NORMAL, "la-mps", "th-oag"
        )
    },
    packages={"pkg-1": PackageFacts("pkg-1", SHA)},
    max_package_bytes=1_000_000,
)

#: A valid body for every action other than transmit.
BODIES: dict[Action, dict[str, Any]] = {
    Action.ACKNOWLEDGE: {},
    Action.REQUEST_INFO: {"questions": "Which time zone are the times in?"},
    Action.PROVIDE_INFO: {"answer": "UTC+07:00"},
    Action.ACCEPT: {"note": "in full"},
    Action.REFUSE: {"grounds": ["political_offence"], "reasons": "political"},
    Action.POSTPONE: {"reason": "ongoing domestic case", "until": "2027-01-10"},
    Action.ASSIGN: {"executing_agency": "th-ccib"},
    Action.DELIVER_EVIDENCE: {
        "package_id": "pkg-2",
        "ciphertext_sha256": SHA,
        "ciphertext_size": 1024,
        "recipients": ["age1example"],
    },
    Action.RECEIVE_EVIDENCE: {"package_id": "pkg-1", "ciphertext_sha256": SHA},
    Action.COMPLETE_EXECUTION: {},
    Action.CLOSE: {"note": "done"},
    Action.WITHDRAW: {},
    Action.PRESERVE: {"until": (NOW.date() + timedelta(days=61)).isoformat()},
    Action.EXTEND: {"until": "2027-06-01"},
    Action.SUPERSEDE: {"mla_request_id": str(MLA_ID)},
    Action.RELEASE: {},
    Action.EXPIRE: {"deadline": "preservation_expiry-3", "until": "2027-01-31"},
    Action.REPORT_OBSTACLE: {"reason": "data_not_available", "reasons": "logs kept 30 days"},
    Action.AMEND: {"changes": "narrowed the time range to October"},
    Action.ACCEPT_CONDITIONALLY: {"partial": True, "conditions": "subscriber data only"},
    Action.ACCEPT_CONDITIONS: {},
    Action.DECLINE_CONDITIONS: {},
    Action.NOTIFY_CONFIDENTIALITY: {"reasons": "the provider must be told"},
    Action.PROCEED: {},
    Action.NOTIFY_PRESERVATION_RISK: {
        "risk": "availability_not_ensured",
        "reasons": "the provider purges on notice",
    },
    Action.CONTINUE_PRESERVATION: {},
    Action.DISCLOSE_TRAFFIC_DATA: {
        "package_id": "pkg-3",
        "ciphertext_sha256": SHA,
        "ciphertext_size": 512,
        "recipients": ["age1example"],
        "provider_country": "VN",
        "provider": "Example Telecom VN",
    },
    Action.DEADLINE_WARNING: {
        "deadline": "decide-2",
        "rule": "mla.decide.normal",
        "source": "policy default",
        "responsible": "requested",
        "responsible_agency": "th-oag",
        "due_at": "2027-01-15T16:59:59.999999Z",
    },
    Action.DEADLINE_MISSED: {
        "deadline": "decide-2",
        "rule": "mla.decide.normal",
        "source": "policy default",
        "responsible": "requested",
        "responsible_agency": "th-oag",
        "due_at": "2027-01-15T16:59:59.999999Z",
    },
}

#: What each action changes in the projection beyond state and head.
CHANGES: dict[Action, dict[str, Any]] = {
    Action.ASSIGN: {"executing_agency": "th-ccib"},
    Action.PRESERVE: {"preserved_until": NOW.date() + timedelta(days=61)},
    Action.EXTEND: {"preserved_until": date(2027, 6, 1)},
    Action.SUPERSEDE: {"linked_request_id": MLA_ID},
    Action.DECLINE_CONDITIONS: {"conditions_digest": None},
}


def _request(kind: Kind, state: State, **over: Any) -> RequestFacts:
    held = state in (State.PRESERVED, State.EXTENDED)
    base = RequestFacts(
        RID,
        kind,
        state,
        Urgency.NORMAL,
        "la-mps",
        "th-oag",
        executing_agency="th-ccib",
        preserved_until=HELD_UNTIL if held else None,
        conditions_digest="c" * 64,
    )
    return replace(base, **over)


def _move(action: Action, actor: str, body: dict[str, Any], **over: Any) -> Move:
    typed = decode_body(action, body)
    fields: dict[str, Any] = {
        "action": action,
        "actor": actor,
        "issued_at": NOW,
        "meta": expected_meta(action, typed),
        "body": typed,
    }
    fields.update(over)
    return Move(**fields)


def _every_move() -> list[tuple[Kind, State, Action, Party]]:
    cases = []
    for kind in Kind:
        for state in sorted(states_of(kind)):
            for action in Action:
                if action is Action.TRANSMIT:
                    continue
                for party in Party:
                    cases.append((kind, state, action, party))
    return cases


@pytest.mark.parametrize(("kind", "state", "action", "party"), _every_move())
def test_every_move_follows_the_table(
    kind: Kind, state: State, action: Action, party: Party
) -> None:
    request = _request(kind, state)
    move = _move(action, PARTY_AGENCY[party], BODIES[action])
    allowed = TABLES[kind].get((state, action))
    if allowed is None:
        with pytest.raises(TransitionRefused) as refused:
            decide(request, party, move, FACTS)
        assert not isinstance(refused.value, PartyRefused)
        return
    if party not in allowed.parties:
        with pytest.raises(PartyRefused):
            decide(request, party, move, FACTS)
        return
    decision = decide(request, party, move, FACTS)
    assert decision.state is allowed.target
    assert dict(decision.changes) == CHANGES.get(action, {})
    assert decision.binds_conditions is (action is Action.ACCEPT_CONDITIONALLY)
    if action is Action.DELIVER_EVIDENCE:
        assert decision.announced == PackageAnnounced("pkg-2", SHA, 1024, "th-ccib", "c" * 64)
    elif action is Action.DISCLOSE_TRAFFIC_DATA:
        assert decision.announced == PackageAnnounced("pkg-3", SHA, 512, "th-oag", "c" * 64)
    else:
        assert decision.announced is None


def test_outsiders_are_refused_every_move() -> None:
    request = _request(Kind.MLA, State.ACKNOWLEDGED)
    with pytest.raises(PartyRefused, match="not a party"):
        decide(request, None, _move(Action.ACCEPT, "vn-spp", {}), FACTS)


PRESERVED = (Kind.PRESERVATION, State.PRESERVED)
PRES_ACKED = (Kind.PRESERVATION, State.ACKNOWLEDGED)
EXECUTING = (Kind.MLA, State.IN_EXECUTION)
PARTLY = (Kind.MLA, State.PARTIALLY_EXECUTED)
ACKED = (Kind.MLA, State.ACKNOWLEDGED)
ACCEPTED = (Kind.MLA, State.ACCEPTED)
Q, R, X = Party.REQUESTED, Party.REQUESTER, Party.EXECUTOR
DUAL = {"grounds": ["dual_criminality"], "reasons": "not an offence here"}
TH_RESERVED = {"dual_criminality_reservations": frozenset({"TH"})}


def _mla(request_id: uuid.UUID, state: State, requester: str, requested: str) -> RequestFacts:
    return RequestFacts(request_id, Kind.MLA, state, Urgency.NORMAL, requester, requested)


def _preservation_content(article: int | None) -> RequestContent:
    offence = {"name": "online fraud", "budapest_article": article}
    content = preservation_content("la-mps", "th-oag", offences=[offence])
    return msgspec.convert(content, RequestContent)


def _violation(
    rid: str,
    where: tuple[Kind, State],
    party: Party,
    action: Action,
    body: dict[str, Any],
    facts: dict[str, Any],
    error: type[DomainError],
    match: str,
) -> Any:
    return pytest.param(where, party, action, body, facts, error, match, id=rid)


#: Every rule beyond the table, each case named after the article it enforces.
VIOLATIONS = [
    _violation(
        "BC-29(5)-preservation-not-refused-for-fundamental-rights",
        PRES_ACKED,
        Q,
        Action.REFUSE,
        {"grounds": ["fundamental_rights"], "reasons": "x"},
        {},
        ContentInvalid,
        "29\\(5\\)",
    ),
    _violation(
        "BC-29(3)-no-dual-criminality-without-reservation",
        PRES_ACKED,
        Q,
        Action.REFUSE,
        DUAL,
        {"content": _preservation_content(None)},
        ContentInvalid,
        "29\\(4\\) reservation, and it has not",
    ),
    _violation(
        "BC-29(4)-reservation-never-covers-arts-2-11",
        PRES_ACKED,
        Q,
        Action.REFUSE,
        DUAL,
        {**TH_RESERVED, "content": _preservation_content(8)},
        ContentInvalid,
        "Arts 2-11",
    ),
    _violation(
        "BC-27(5)-postponement-runs-to-a-future-date",
        ACKED,
        Q,
        Action.POSTPONE,
        {"reason": "x", "until": "2026-11-22"},
        {},
        ContentInvalid,
        "future",
    ),
    _violation(
        "BC-29(7)-preservation-at-least-60-days",
        PRES_ACKED,
        Q,
        Action.PRESERVE,
        {"until": (NOW.date() + timedelta(days=59)).isoformat()},
        {},
        ContentInvalid,
        "60 days",
    ),
    _violation(
        "BC-29(7)-extension-ends-later",
        PRESERVED,
        Q,
        Action.EXTEND,
        {"until": HELD_UNTIL.isoformat()},
        {},
        ContentInvalid,
        "after the current",
    ),
    _violation(
        "policy-executor-in-the-requested-state",
        ACCEPTED,
        Q,
        Action.ASSIGN,
        {"executing_agency": "vn-a05"},
        {},
        ContentInvalid,
        "requested state",
    ),
    _violation(
        "policy-executor-is-an-executing-authority",
        ACCEPTED,
        Q,
        Action.ASSIGN,
        {"executing_agency": "la-mps"},
        {},
        ContentInvalid,
        "executing authority",
    ),
    _violation(
        "policy-executor-is-registered",
        ACCEPTED,
        Q,
        Action.ASSIGN,
        {"executing_agency": "xx-none"},
        {},
        ContentInvalid,
        "executing authority",
    ),
    _violation(
        "BC-29(7)-supersede-names-an-mla-request",
        PRESERVED,
        R,
        Action.SUPERSEDE,
        {"mla_request_id": str(uuid.uuid4())},
        {},
        ContentInvalid,
        "no MLA request",
    ),
    _violation(
        "BC-29(7)-supersede-by-the-same-requester",
        PRESERVED,
        R,
        Action.SUPERSEDE,
        {"mla_request_id": str(MLA_ID)},
        {"requests": {MLA_ID: _mla(MLA_ID, State.TRANSMITTED, "vn-spp", "th-oag")}},
        ContentInvalid,
        "same requester",
    ),
    _violation(
        "BC-29(7)-supersede-to-the-same-requested-authority",
        PRESERVED,
        R,
        Action.SUPERSEDE,
        {"mla_request_id": str(MLA_ID)},
        {"requests": {MLA_ID: _mla(MLA_ID, State.TRANSMITTED, "la-mps", "vn-spp")}},
        ContentInvalid,
        "same requested",
    ),
    _violation(
        "BC-29(7)-supersede-not-by-a-withdrawn-request",
        PRESERVED,
        R,
        Action.SUPERSEDE,
        {"mla_request_id": str(MLA_ID)},
        {"requests": {MLA_ID: _mla(MLA_ID, State.WITHDRAWN, "la-mps", "th-oag")}},
        ContentInvalid,
        "withdrawn",
    ),
    _violation(
        "BC-29(7)-supersede-not-by-a-refused-request",
        PRESERVED,
        R,
        Action.SUPERSEDE,
        {"mla_request_id": str(MLA_ID)},
        {"requests": {MLA_ID: _mla(MLA_ID, State.REFUSED, "la-mps", "th-oag")}},
        ContentInvalid,
        "refused",
    ),
    _violation(
        "BC-30(1)-disclosure-names-a-provider-in-another-state",
        PRESERVED,
        Q,
        Action.DISCLOSE_TRAFFIC_DATA,
        {**BODIES[Action.DISCLOSE_TRAFFIC_DATA], "provider_country": "TH"},
        {},
        ContentInvalid,
        "another state",
    ),
    _violation(
        "policy-package-size-limit",
        EXECUTING,
        X,
        Action.DELIVER_EVIDENCE,
        {**BODIES[Action.DELIVER_EVIDENCE], "ciphertext_size": 2_000_000},
        {},
        ContentInvalid,
        "larger than this hub",
    ),
    _violation(
        "policy-package-delivered-once",
        EXECUTING,
        X,
        Action.DELIVER_EVIDENCE,
        {**BODIES[Action.DELIVER_EVIDENCE], "package_id": "pkg-1"},
        {},
        ContentInvalid,
        "already delivered",
    ),
    _violation(
        "policy-receipt-names-a-delivered-package",
        PARTLY,
        R,
        Action.RECEIVE_EVIDENCE,
        {"package_id": "pkg-9", "ciphertext_sha256": SHA},
        {},
        ContentInvalid,
        "no package",
    ),
    _violation(
        "policy-receipt-matches-the-delivery",
        PARTLY,
        R,
        Action.RECEIVE_EVIDENCE,
        {"package_id": "pkg-1", "ciphertext_sha256": "cd" * 32},
        {},
        ContentInvalid,
        "differs",
    ),
]


@pytest.mark.parametrize(
    ("where", "party", "action", "body", "facts", "error", "match"), VIOLATIONS
)
def test_rules_beyond_the_table(
    where: tuple[Kind, State],
    party: Party,
    action: Action,
    body: dict[str, Any],
    facts: dict[str, Any],
    error: type[DomainError],
    match: str,
) -> None:
    request = _request(*where)
    with pytest.raises(error, match=match):
        decide(request, party, _move(action, PARTY_AGENCY[party], body), replace(FACTS, **facts))


@pytest.mark.parametrize(
    ("grounds", "facts"),
    [
        pytest.param(["essential_interests"], {}, id="BC-29(5)(b)-other-essential-interests"),
        pytest.param(["political_offence"], {}, id="BC-29(5)(a)-political-offence"),
        pytest.param(
            ["dual_criminality"],
            {**TH_RESERVED, "content": _preservation_content(None)},
            id="BC-29(4)-reserved-and-outside-arts-2-11",
        ),
    ],
)
def test_preservation_refusals_the_convention_allows(
    grounds: list[str], facts: dict[str, Any]
) -> None:
    request = _request(*PRES_ACKED)
    move = _move(Action.REFUSE, "th-oag", {"grounds": grounds, "reasons": "x"})
    assert decide(request, Q, move, replace(FACTS, **facts)).state is State.REFUSED


def test_bc_27_7_obstacles_are_reported_not_refusal_grounds() -> None:
    for ground in ("insufficient_information", "data_not_available"):
        with pytest.raises(ContentInvalid):
            decode_body(Action.REFUSE, {"grounds": [ground], "reasons": "x"})
        assert decode_body(Action.REPORT_OBSTACLE, {"reason": ground, "reasons": "x"})


@pytest.mark.parametrize(
    "requests",
    [
        pytest.param(
            {MLA_ID: _mla(MLA_ID, State.TRANSMITTED, "la-mps", "th-oag")},
            id="BC-29(7)-same-requester-same-requested",
        ),
        pytest.param(
            {MLA_ID: _mla(MLA_ID, State.IN_EXECUTION, "la-mps", "th-oag")},
            id="BC-29(7)-pending-in-execution",
        ),
    ],
)
def test_supersede_by_a_pending_mla_request(requests: dict[uuid.UUID, RequestFacts]) -> None:
    decision = decide(
        _request(*PRESERVED),
        R,
        _move(Action.SUPERSEDE, "la-mps", {"mla_request_id": str(MLA_ID)}),
        replace(FACTS, requests=requests),
    )
    assert decision.state is State.SUPERSEDED


def test_bc_35_contact_points_hand_over_to_their_central_authorities() -> None:
    points = {
        "la-247": AgencyFacts("la-247", AgencyRole.CONTACT_POINT_24_7, "LA"),
        "th-247": AgencyFacts("th-247", AgencyRole.CONTACT_POINT_24_7, "TH"),
        "vn-spp": AgencyFacts("vn-spp", AgencyRole.CENTRAL_AUTHORITY, "VN"),
    }
    facts = replace(
        FACTS,
        agencies={**AGENCIES, **points},
        requests={MLA_ID: _mla(MLA_ID, State.TRANSMITTED, "la-mps", "th-oag")},
    )
    preservation = _request(
        *PRESERVED, requesting_agency="la-247", requested_agency="th-247", executing_agency=None
    )
    move = _move(Action.SUPERSEDE, "la-247", {"mla_request_id": str(MLA_ID)})
    assert decide(preservation, R, move, facts).state is State.SUPERSEDED
    foreign = replace(preservation, requested_agency="vn-spp")
    with pytest.raises(ContentInvalid, match="same requested"):
        decide(foreign, R, move, facts)
    # A contact point sends and receives preservations, never formal MLA requests.
    content = preservation_content("la-247", "th-247")
    opened, _ = open_request(RID, points["la-247"], _transmit(content, "la-247"), facts)
    assert opened.requested_agency == "th-247"
    with pytest.raises(NotPermitted, match="central authority only"):
        open_request(
            RID, points["la-247"], _transmit(mla_content("la-247", "th-oag"), "la-247"), facts
        )
    with pytest.raises(ContentInvalid, match="not a registered central authority"):
        open_request(RID, AGENCIES["la-mps"], _transmit(mla_content("la-mps", "th-247")), facts)


def test_bc_28_3_conditions_bind_the_packages_delivered_after_them() -> None:
    acked = _request(*ACKED, conditions_digest=None)
    proposed = decide(
        acked,
        Q,
        _move(Action.ACCEPT_CONDITIONALLY, "th-oag", BODIES[Action.ACCEPT_CONDITIONALLY]),
        FACTS,
    )
    assert (proposed.state, proposed.binds_conditions) == (State.CONDITIONS_PROPOSED, True)
    with pytest.raises(ContentInvalid):  # conditions may not be empty
        decode_body(Action.ACCEPT_CONDITIONALLY, {"conditions": ""})
    with pytest.raises(ContentInvalid):  # a plain accept carries no conditions any more
        decode_body(Action.ACCEPT, {"partial": True, "conditions": "x"})


@pytest.mark.parametrize(
    ("action", "body", "meta"),
    [
        (Action.ASSIGN, {"executing_agency": "th-ccib"}, {}),
        (Action.ASSIGN, {"executing_agency": "th-ccib"}, {"executing_agency": "th-other"}),
        (Action.ACCEPT, {}, {"executing_agency": "th-ccib"}),
    ],
)
def test_signed_meta_must_match_the_body(
    action: Action, body: dict[str, Any], meta: dict[str, str]
) -> None:
    state = State.ACCEPTED if action is Action.ASSIGN else State.ACKNOWLEDGED
    request = _request(Kind.MLA, state, executing_agency=None)
    with pytest.raises(MetadataMismatch):
        decide(request, Party.REQUESTED, _move(action, "th-oag", body, meta=meta), FACTS)


def _transmit(content: dict[str, Any], actor: str = "la-mps", **over: Any) -> Move:
    return _move(Action.TRANSMIT, actor, content, **over)


def test_open_request() -> None:
    content = mla_content("la-mps", "th-oag", urgency="urgent", urgency_justification="fraud")
    request, decision = open_request(RID, AGENCIES["la-mps"], _transmit(content), FACTS)
    assert decision.state is State.TRANSMITTED
    assert (request.kind, request.urgency, request.requested_agency) == (
        Kind.MLA,
        Urgency.URGENT,
        "th-oag",
    )
    assert expected_meta(Action.TRANSMIT, msgspec.convert(content, RequestContent)) == {
        "kind": "mla",
        "urgency": "urgent",
        "requested_agency": "th-oag",
    }
    preservation = preservation_content("la-mps", "th-oag")
    request, _ = open_request(RID, AGENCIES["la-mps"], _transmit(preservation), FACTS)
    assert request.kind is Kind.PRESERVATION


@pytest.mark.parametrize(
    ("content", "actor", "over", "error", "match"),
    [
        (mla_content("la-mps", "th-oag"), "th-ccib", {}, NotPermitted, "central authority"),
        (mla_content("th-oag", "la-mps"), "la-mps", {}, ContentInvalid, "signing agency"),
        (mla_content("la-mps", "la-mps"), "la-mps", {}, ContentInvalid, "differ"),
        (mla_content("la-mps", "th-ccib"), "la-mps", {}, ContentInvalid, "central authority"),
        (mla_content("la-mps", "th-oag", offences=[]), "la-mps", {}, RequestIncomplete, "offences"),
        (
            mla_content("la-mps", "th-oag", linked_request_id=str(uuid.uuid4())),
            "la-mps",
            {},
            ContentInvalid,
            "linked_request_id",
        ),
        (
            mla_content(
                "la-mps",
                "th-oag",
                data_requested=[
                    {
                        "category": "traffic",
                        "identifiers": ["x"],
                        "time_range": {
                            "start": "2026-02-01T00:00:00Z",
                            "end": "2026-01-01T00:00:00Z",
                        },
                    }
                ],
            ),
            "la-mps",
            {},
            ContentInvalid,
            "precede",
        ),
        (
            mla_content("la-mps", "th-oag"),
            "la-mps",
            {"meta": {"kind": "preservation", "urgency": "normal", "requested_agency": "th-oag"}},
            MetadataMismatch,
            "meta",
        ),
    ],
)
def test_open_request_refusals(
    content: dict[str, Any],
    actor: str,
    over: dict[str, Any],
    error: type[DomainError],
    match: str,
) -> None:
    with pytest.raises(error, match=match):
        open_request(RID, AGENCIES[actor], _transmit(content, actor, **over), FACTS)


def test_references_name_what_the_rules_look_up() -> None:
    request = _request(Kind.MLA, State.ACCEPTED)
    assign = decode_body(Action.ASSIGN, BODIES[Action.ASSIGN])
    assert references(Action.ASSIGN, assign, request).agencies == {"th-ccib", "th-oag"}
    supersede = decode_body(Action.SUPERSEDE, BODIES[Action.SUPERSEDE])
    assert references(Action.SUPERSEDE, supersede, request).requests == {MLA_ID}
    receipt = decode_body(Action.RECEIVE_EVIDENCE, BODIES[Action.RECEIVE_EVIDENCE])
    assert references(Action.RECEIVE_EVIDENCE, receipt, request).packages == {"pkg-1"}
    content = decode_body(Action.TRANSMIT, mla_content("la-mps", "th-oag"))
    assert references(Action.TRANSMIT, content, None).agencies == {"th-oag"}
