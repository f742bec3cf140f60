"""Where every enumerated value and rule of the domain comes from, or that it is policy.

Citations follow `../shared/reference/mla-law.md`: BC = Budapest Convention, UNCC = UN
Convention against Cybercrime, EU = Regulation (EU) 2023/1543, MACMA = Singapore's and
Malaysia's Mutual Assistance in Criminal Matters Acts. "policy" marks a choice of this
project that no instrument prescribes. `docs/legal.md` is generated from this module and
the transition table (`python -m mla_tracker.domain.legal_doc`), and a test fails when the
two drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from . import content as c
from .model import AgencyRole, Kind, Urgency


@dataclass(frozen=True)
class Rule:
    """One rule the domain enforces, its source, and where it lives."""

    id: str
    text: str
    source: str
    where: str


ENUM_SOURCES: Mapping[type[StrEnum], Mapping[str, str]] = {
    Kind: {
        Kind.MLA: "ASEAN MLAT Art 1; BC 27",
        Kind.PRESERVATION: "BC 29",
    },
    Urgency: {
        Urgency.NORMAL: "policy",
        Urgency.URGENT: "policy (BC 25(3) speaks of urgent circumstances, with no number)",
        Urgency.EMERGENCY: (
            "UNCC Art 2: a significant and imminent risk to a person's life or safety"
        ),
    },
    AgencyRole: {
        AgencyRole.CENTRAL_AUTHORITY: "ASEAN MLAT Art 4; BC 27(2)",
        AgencyRole.EXECUTING_AUTHORITY: "policy (the competent authority of mla-law.md §2 row 7)",
        AgencyRole.AUDITOR: "policy (design.md §1)",
        AgencyRole.CONTACT_POINT_24_7: "BC 35; the UNCC 24/7 network",
    },
    c.Instrument: {
        c.Instrument.ASEAN_MLAT_2004: "ASEAN MLAT, Kuala Lumpur, 29 Nov 2004",
        c.Instrument.UN_CYBERCRIME_CONVENTION: "UN Convention against Cybercrime (UNGA 2024)",
        c.Instrument.BUDAPEST_CONVENTION: "Convention on Cybercrime (CETS 185)",
        c.Instrument.UNTOC: "UN Convention against Transnational Organized Crime",
        c.Instrument.UNCAC: "UN Convention against Corruption",
        c.Instrument.BILATERAL_TREATY: "a bilateral MLA treaty (cite it)",
        c.Instrument.RECIPROCITY: "reciprocity under the requested state's law",
        c.Instrument.DOMESTIC_LAW: "the requested state's MLA law (e.g. MACMA)",
    },
    c.DataCategory: {
        c.DataCategory.SUBSCRIBER: "BC 18(3)",
        c.DataCategory.TRAFFIC: "BC 1(d)",
        c.DataCategory.CONTENT: "UNCC Art 2",
        c.DataCategory.IDENTIFICATION: "EU 2023/1543 Art 3(10)",
    },
    c.RefusalGround: {
        c.RefusalGround.POLITICAL_OFFENCE: "BC 27(4)(a), 29(5)(a)",
        c.RefusalGround.SOVEREIGNTY_SECURITY_PUBLIC_ORDER: "BC 27(4)(b), 29(5)(b)",
        c.RefusalGround.ESSENTIAL_INTERESTS: "BC 27(4)(b), 29(5)(b)",
        c.RefusalGround.DUAL_CRIMINALITY: "BC 25(5); for preservation only 29(4); EU Art 12(1)",
        c.RefusalGround.NE_BIS_IN_IDEM: "EU 2023/1543 Art 12(1)",
        c.RefusalGround.FUNDAMENTAL_RIGHTS: "EU 2023/1543 Art 12(1)",
        c.RefusalGround.DISCRIMINATORY_PROSECUTION: (
            "policy (a common treaty ground; ASEAN MLAT Art 3 is unconfirmed)"
        ),
        c.RefusalGround.MILITARY_OFFENCE: (
            "policy (a common treaty ground; ASEAN MLAT Art 3 is unconfirmed)"
        ),
        c.RefusalGround.IMMUNITY_OR_PRIVILEGE: "EU 2023/1543 Art 12(1)",
        c.RefusalGround.OTHER: "policy (name the ground in the reasons)",
    },
    c.ObstacleReason: {
        c.ObstacleReason.INSUFFICIENT_INFORMATION: "BC 27(7)",
        c.ObstacleReason.DATA_NOT_AVAILABLE: "BC 27(7)",
        c.ObstacleReason.EXECUTION_IMPOSSIBLE: "BC 27(7)",
        c.ObstacleReason.SIGNIFICANT_DELAY: "BC 27(7)",
        c.ObstacleReason.OTHER: "BC 27(7)",
    },
    c.PreservationRisk: {
        c.PreservationRisk.AVAILABILITY_NOT_ENSURED: "BC 29(6)",
        c.PreservationRisk.CONFIDENTIALITY_THREATENED: "BC 29(6)",
        c.PreservationRisk.INVESTIGATION_PREJUDICED: "BC 29(6)",
    },
}

RULES: tuple[Rule, ...] = (
    Rule(
        "preservation-minimum",
        "A preservation lasts at least 60 days from the day it is granted.",
        "BC 29(7)",
        "domain/rules.py _preserve",
    ),
    Rule(
        "extension-later",
        "An extension ends after the current preservation date.",
        "BC 29(7)",
        "domain/rules.py _extend",
    ),
    Rule(
        "preservation-grounds",
        "A preservation is refused only for a political offence or where it would prejudice "
        "sovereignty, security, ordre public or other essential interests.",
        "BC 29(5)(a)-(b)",
        "domain/rules.py _refuse",
    ),
    Rule(
        "preservation-dual-criminality",
        "Lack of dual criminality refuses a preservation only if the requested state made the "
        "29(4) reservation (operator configuration) and no offence is one of BC Arts 2-11.",
        "BC 29(3)-(4)",
        "domain/rules.py _check_dual_criminality_reservation",
    ),
    Rule(
        "obstacle-not-refusal",
        "Execution that is impossible or significantly delayed is reported with reasons "
        "(`report_obstacle`), not refused; the requester provides information, amends or "
        "withdraws.",
        "BC 27(7)",
        "domain/transitions.py; domain/content.py ObstacleReason",
    ),
    Rule(
        "postponement-future",
        "A postponement runs until a future date.",
        "BC 27(5)",
        "domain/rules.py _postpone",
    ),
    Rule(
        "conditions-answered",
        "A partial or conditional acceptance waits for the requester to accept or decline "
        "the conditions before execution; accepted conditions bind the request and every "
        "package delivered under it.",
        "BC 27(6), 28(2)-(3)",
        "domain/transitions.py; domain/rules.py _accept_conditionally",
    ),
    Rule(
        "confidentiality-notice",
        "A requested state that cannot keep a request confidential says so, and the "
        "requester decides whether to proceed or withdraw.",
        "BC 27(8)",
        "domain/transitions.py",
    ),
    Rule(
        "preservation-risk-notice",
        "A requested state that finds preservation would not ensure the data, or would "
        "threaten confidentiality or prejudice the investigation, says so before preserving; "
        "the requester decides to continue or release.",
        "BC 29(6)",
        "domain/transitions.py",
    ),
    Rule(
        "traffic-disclosure",
        "Traffic data identifying a provider in another state is disclosed as a sealed "
        "package while preserving; the provider is not in the requested state.",
        "BC 30(1)",
        "domain/rules.py _deliver",
    ),
    Rule(
        "supersede-pending-mla",
        "A preservation is superseded only by a pending (not withdrawn or refused) MLA "
        "request from the same requester to the same requested central authority, or "
        "between the central authorities of the states of the 24/7 contact points.",
        "BC 29(7); BC 35",
        "domain/rules.py _supersede",
    ),
    Rule(
        "contact-points",
        "A 24/7 contact point sends and receives preservation requests for its state, never "
        "formal MLA requests.",
        "BC 35",
        "domain/request.py open_request",
    ),
    Rule(
        "preservation-contents",
        "A preservation request names the offence and facts, the data and their link to it, "
        "why preservation is necessary, and states the intent to submit an MLA request "
        "(`mla_to_follow` true); the custodian is any available information (recommended).",
        "BC 29(2)",
        "domain/completeness.py",
    ),
    Rule(
        "mla-contents",
        "An MLA request names the offence with its statute and maximum penalty, the facts, "
        "the assistance sought and the custodian.",
        "MACMA s.19(2) (SG), s.19(3) (MY)",
        "domain/completeness.py",
    ),
    Rule(
        "emergency",
        "An emergency request describes the significant and imminent risk to a person's life "
        "or safety; an urgent one justifies its urgency.",
        "UNCC Art 2 (emergency); policy (urgent)",
        "domain/completeness.py",
    ),
    Rule(
        "instrument-binds",
        "A request relying on a multilateral instrument that does not bind both states (or "
        "whose status is unknown) gets a completeness warning, not a refusal.",
        "policy (operator-editable data, domain/legal_profile.py)",
        "domain/legal_profile.py",
    ),
    Rule(
        "executor-in-requested-state",
        "The executing authority is a registered executing authority in the requested state.",
        "policy",
        "domain/rules.py _assign",
    ),
    Rule(
        "package-once",
        "A package is delivered once, within the hub's size limit, and a receipt names a "
        "delivered package with the same digest.",
        "policy",
        "domain/rules.py _deliver, _receive",
    ),
    Rule(
        "deadlines-as-data",
        "Entering a state opens the deadlines of the request's kind and urgency (table "
        "below); each names its source, and an operator's file may set others per pair of "
        "countries (a bilateral arrangement).",
        "policy default where no instrument sets a number; BC 29(7) for preservation expiry",
        "domain/deadlines.py; domain/deadline_file.py",
    ),
    Rule(
        "business-days",
        "A business-day deadline counts the responsible agency's business days after the "
        "day it starts (weekend and national public holidays of its country; Brunei rests "
        "on Friday and Sunday) and falls at the end of the last one in the agency's zone.",
        "policy",
        "domain/calendars.py",
    ),
    Rule(
        "decision-clock-stops",
        "The decision clock stops while information is requested or a confidentiality "
        "notice awaits the requester, and resumes with the business days that were left.",
        "policy",
        "domain/deadline_clock.py",
    ),
)
