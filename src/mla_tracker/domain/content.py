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

AgencyId = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9-]{1,62}[a-z0-9]$")]
Text = Annotated[str, msgspec.Meta(max_length=20_000)]
ShortText = Annotated[str, msgspec.Meta(max_length=500)]
CountryCode = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{2}$")]
Sha256Hex = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$")]
PackageId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9._-]{1,128}$")]


class _Strict(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class Instrument(StrEnum):
    """The legal basis a request relies on."""

    ASEAN_MLAT_2004 = "asean_mlat_2004"
    UN_CYBERCRIME_CONVENTION = "un_cybercrime_convention"
    BUDAPEST_CONVENTION = "budapest_convention"
    BILATERAL_TREATY = "bilateral_treaty"
    RECIPROCITY = "reciprocity"
    DOMESTIC_LAW = "domestic_law"


class DataCategory(StrEnum):
    """Categories of electronic data (Budapest 18(3), UN Convention Art 2, EU 2023/1543)."""

    SUBSCRIBER = "subscriber"
    TRAFFIC = "traffic"
    CONTENT = "content"
    IDENTIFICATION = "identification"


class RefusalGround(StrEnum):
    """Enumerated refusal grounds (Budapest 27(4), 29(5); ASEAN MLAT Art 3; EU Art 12)."""

    POLITICAL_OFFENCE = "political_offence"
    SOVEREIGNTY_SECURITY_PUBLIC_ORDER = "sovereignty_security_public_order"
    ESSENTIAL_INTERESTS = "essential_interests"
    DUAL_CRIMINALITY = "dual_criminality"
    NE_BIS_IN_IDEM = "ne_bis_in_idem"
    FUNDAMENTAL_RIGHTS = "fundamental_rights"
    DISCRIMINATORY_PROSECUTION = "discriminatory_prosecution"
    MILITARY_OFFENCE = "military_offence"
    INSUFFICIENT_INFORMATION = "insufficient_information"
    IMMUNITY_OR_PRIVILEGE = "immunity_or_privilege"
    DATA_NOT_AVAILABLE = "data_not_available"
    OTHER = "other"


#: Budapest Art 29(5): preservation may be refused only on these grounds.
PRESERVATION_REFUSAL_GROUNDS = frozenset(
    {RefusalGround.POLITICAL_OFFENCE, RefusalGround.SOVEREIGNTY_SECURITY_PUBLIC_ORDER}
)


class LegalBasis(_Strict):
    """The instrument relied on, and the exact citation."""

    instrument: Instrument
    citation: ShortText = ""


class Offence(_Strict):
    """An offence under investigation, with the statute and maximum penalty."""

    name: ShortText
    statute: ShortText = ""
    maximum_penalty: ShortText = ""


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
    """What the requested side still needs (Budapest 27(7))."""

    questions: Annotated[Text, msgspec.Meta(min_length=1)]


class InfoProvided(_Strict):
    """The requester's answer to an information request."""

    answer: Annotated[Text, msgspec.Meta(min_length=1)]


class Acceptance(_Strict):
    """A decision to execute, possibly in part or under conditions (Budapest 27(6))."""

    partial: bool = False
    conditions: Text = ""
    note: Text = ""


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


class Supersession(_Strict):
    """The formal MLA request that now carries the preserved data."""

    mla_request_id: uuid.UUID
    note: Text = ""
