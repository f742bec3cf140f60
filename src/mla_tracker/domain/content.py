"""Request content (mla-law.md §3) and the body of every action, as strict msgspec types.

Field names follow the MLA practice of MACMA s.19 (SG/MY), Budapest Art 29(2) for
preservation, and the UNODC MLA Request Writer Tool's essentials.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

import msgspec

from .model import Kind, Urgency

# msgspec searches with Python's `re`, whose `$` also matches before a final newline; the
# `(?!\n)` after it refuses that newline. `\Z` would too, but these patterns are published
# in the OpenAPI schema, whose (ECMA-262) regexes have no `\Z` and read `$` as the very end.
AgencyId = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$(?!\n)")]
Text = Annotated[str, msgspec.Meta(max_length=20_000)]
ShortText = Annotated[str, msgspec.Meta(max_length=500)]
CountryCode = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{2}$(?!\n)")]
Sha256Hex = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$(?!\n)")]
PackageId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9._-]{1,128}$(?!\n)")]


class _Strict(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class Instrument(StrEnum):
    """The legal basis a request relies on."""

    ASEAN_MLAT_2004 = "asean_mlat_2004"
    UN_CYBERCRIME_CONVENTION = "un_cybercrime_convention"
    BUDAPEST_CONVENTION = "budapest_convention"
    UNTOC = "untoc"
    UNCAC = "uncac"
    BILATERAL_TREATY = "bilateral_treaty"
    RECIPROCITY = "reciprocity"
    DOMESTIC_LAW = "domestic_law"


class DataCategory(StrEnum):
    """Categories of electronic data (sources per value in domain/sources.py).

    Subscriber information: Budapest 18(3); traffic data: Budapest 1(d); content data: UN
    Convention against Cybercrime Art 2; identification data: EU 2023/1543 Art 3(10).
    """

    SUBSCRIBER = "subscriber"
    TRAFFIC = "traffic"
    CONTENT = "content"
    IDENTIFICATION = "identification"


class RefusalGround(StrEnum):
    """Grounds on which a request may be refused (sources per value in domain/sources.py).

    Execution that is impossible or significantly delayed (missing information, data no
    longer held) is not a ground: it is reported with `report_obstacle` (Budapest 27(7)).
    """

    POLITICAL_OFFENCE = "political_offence"
    SOVEREIGNTY_SECURITY_PUBLIC_ORDER = "sovereignty_security_public_order"
    ESSENTIAL_INTERESTS = "essential_interests"
    DUAL_CRIMINALITY = "dual_criminality"
    NE_BIS_IN_IDEM = "ne_bis_in_idem"
    FUNDAMENTAL_RIGHTS = "fundamental_rights"
    DISCRIMINATORY_PROSECUTION = "discriminatory_prosecution"
    MILITARY_OFFENCE = "military_offence"
    IMMUNITY_OR_PRIVILEGE = "immunity_or_privilege"
    OTHER = "other"


#: Budapest Art 29(5)(a)-(b): preservation may be refused only for a political offence or
#: where execution would prejudice sovereignty, security, ordre public or other essential
#: interests. Lack of dual criminality is a further ground only for a state that made the
#: 29(4) reservation, and never for offences under Arts 2-11 (the aggregate checks that).
PRESERVATION_REFUSAL_GROUNDS = frozenset(
    {
        RefusalGround.POLITICAL_OFFENCE,
        RefusalGround.SOVEREIGNTY_SECURITY_PUBLIC_ORDER,
        RefusalGround.ESSENTIAL_INTERESTS,
    }
)

#: Budapest Arts 2-11: the offences a 29(4) reservation can never cover.
BUDAPEST_OFFENCE_ARTICLES = range(2, 12)


class ObstacleReason(StrEnum):
    """Why execution is impossible or significantly delayed (Budapest 27(7)): reported, not
    a refusal."""

    INSUFFICIENT_INFORMATION = "insufficient_information"
    DATA_NOT_AVAILABLE = "data_not_available"
    EXECUTION_IMPOSSIBLE = "execution_impossible"
    SIGNIFICANT_DELAY = "significant_delay"
    OTHER = "other"


class PreservationRisk(StrEnum):
    """What a requested state tells the requester before preserving (Budapest 29(6))."""

    AVAILABILITY_NOT_ENSURED = "availability_not_ensured"
    CONFIDENTIALITY_THREATENED = "confidentiality_threatened"
    INVESTIGATION_PREJUDICED = "investigation_prejudiced"


class LegalBasis(_Strict):
    """The instrument relied on, and the exact citation."""

    instrument: Instrument
    citation: ShortText = ""


class Offence(_Strict):
    """An offence under investigation, with the statute and maximum penalty."""

    name: ShortText
    statute: ShortText = ""
    maximum_penalty: ShortText = ""
    #: The Budapest Convention article (2-11) that establishes the offence, if any: a 29(4)
    #: dual-criminality reservation never covers those.
    budapest_article: Annotated[int, msgspec.Meta(ge=2, le=11)] | None = None


class TimeRange(_Strict):
    """A span of time; both ends must carry a UTC offset."""

    start: datetime
    end: datetime


class DataRequest(_Strict):
    """One category of data sought, with the identifiers it concerns."""

    category: DataCategory
    identifiers: list[ShortText] = []
    time_range: TimeRange | None = None
    description: Text = ""


class Custodian(_Strict):
    """Who holds the data and where."""

    name: ShortText
    country: CountryCode | None = None
    address: ShortText = ""


class Confidentiality(_Strict):
    """Whether the request must be kept confidential, and why."""

    required: bool = False
    reasons: Text = ""


class RequestContent(_Strict):
    """What a requesting central authority asks; the body of the `transmit` statement."""

    kind: Kind
    requesting_agency: AgencyId
    requested_agency: AgencyId
    legal_basis: LegalBasis | None = None
    case_reference: ShortText = ""
    offences: list[Offence] = []
    summary_of_facts: Text = ""
    assistance_sought: Text = ""
    data_requested: list[DataRequest] = []
    custodian: Custodian | None = None
    urgency: Urgency = Urgency.NORMAL
    urgency_justification: Text = ""
    confidentiality: Confidentiality = msgspec.field(default_factory=Confidentiality)
    procedure_requested: Text = ""
    delivery_form: ShortText = ""
    respond_by: date | None = None
    linked_request_id: uuid.UUID | None = None
    necessity: Text = ""
    mla_to_follow: bool | None = None


# ---- bodies of the other actions -------------------------------------------------------


class Empty(_Strict):
    """A body with nothing but an optional note."""

    note: Text = ""


class InfoRequest(_Strict):
    """What the requested side still needs (common practice: no article prescribes it)."""

    questions: Annotated[Text, msgspec.Meta(min_length=1)]


class InfoProvided(_Strict):
    """The requester's answer to an information request."""

    answer: Annotated[Text, msgspec.Meta(min_length=1)]


class Acceptance(_Strict):
    """A decision to execute in full and without conditions (Budapest 27(4)-(6))."""

    note: Text = ""


class ConditionalAcceptance(_Strict):
    """A decision to execute in part or under conditions, which the requester must accept
    or decline before execution (Budapest 27(6), 28(2)-(3))."""

    conditions: Annotated[Text, msgspec.Meta(min_length=1)]
    partial: bool = False
    use_limitations: Text = ""
    confidentiality: Text = ""
    note: Text = ""


class Obstacle(_Strict):
    """Execution is impossible or significantly delayed, with reasons (Budapest 27(7))."""

    reason: ObstacleReason
    reasons: Annotated[Text, msgspec.Meta(min_length=1)]


class Amendment(_Strict):
    """The requester's amendment answering an obstacle (what changed, in words)."""

    changes: Annotated[Text, msgspec.Meta(min_length=1)]
    note: Text = ""


class ConfidentialityNotice(_Strict):
    """The requested side cannot keep the request confidential (Budapest 27(8))."""

    reasons: Annotated[Text, msgspec.Meta(min_length=1)]


class PreservationRiskNotice(_Strict):
    """Preservation would not ensure the data or would prejudice the case (Budapest 29(6))."""

    risk: PreservationRisk
    reasons: Annotated[Text, msgspec.Meta(min_length=1)]


class Refusal(_Strict):
    """A refusal with its grounds and reasons (reasons are required, Budapest 27(7))."""

    grounds: Annotated[list[RefusalGround], msgspec.Meta(min_length=1)]
    reasons: Annotated[Text, msgspec.Meta(min_length=1)]


class Postponement(_Strict):
    """A postponement with its reason and until when (Budapest 27(5))."""

    reason: Annotated[Text, msgspec.Meta(min_length=1)]
    until: date


class Assignment(_Strict):
    """Which executing authority carries the request out."""

    executing_agency: AgencyId
    note: Text = ""


class EvidenceFile(_Strict):
    """One payload file of an evidence package."""

    path: ShortText
    sha256: Sha256Hex
    size: Annotated[int, msgspec.Meta(ge=0)]


class EvidenceDelivery(_Strict):
    """A sealed evidence package handed over: what it is and who can open it."""

    package_id: PackageId
    ciphertext_sha256: Sha256Hex
    ciphertext_size: Annotated[int, msgspec.Meta(ge=1)]
    recipients: Annotated[list[ShortText], msgspec.Meta(min_length=1)]
    files: list[EvidenceFile] = []
    note: Text = ""


class TrafficDisclosure(EvidenceDelivery, kw_only=True):
    """Traffic data revealing a provider in another state, disclosed expeditiously as a
    sealed package while preserving (Budapest 30(1))."""

    provider_country: CountryCode
    provider: ShortText


class EvidenceReceipt(_Strict):
    """The requester's receipt after decrypting and checking a package."""

    package_id: PackageId
    ciphertext_sha256: Sha256Hex
    verified: bool = True
    note: Text = ""


class Preservation(_Strict):
    """Data preserved until a date (at least 60 days, Budapest 29(7))."""

    until: date
    reference: ShortText = ""
    note: Text = ""


class Extension(_Strict):
    """A later preservation end date."""

    until: date
    note: Text = ""


class DeadlineNotice(_Strict):
    """The hub's statement that a deadline is near (a warning) or has passed (a miss)."""

    #: The clock's id of the deadline, e.g. `decide-2` (also in the signed `meta`).
    deadline: ShortText
    #: The rule's id (e.g. `mla.decide.normal`) and the source it names.
    rule: ShortText
    source: Text
    responsible: ShortText
    responsible_agency: ShortText
    due_at: datetime


class Expiry(_Strict):
    """The hub's statement that a preservation's date has passed (Budapest 29(7))."""

    deadline: ShortText
    until: date


class Supersession(_Strict):
    """The formal MLA request that now carries the preserved data."""

    mla_request_id: uuid.UUID
    note: Text = ""
