"""Completeness check: which essentials a request lacks (UNODC MLA Request Writer Tool).

Required items block transmission; recommended items are reported as warnings.
Sources: MACMA s.19(2) (SG), s.19(3) (MY) for MLA requests; Budapest Art 29(2) for
preservation requests.
"""

from __future__ import annotations

from .content import RequestContent
from .errors import MissingItem
from .model import Kind, Urgency


def _req(field: str, message: str) -> MissingItem:
    return MissingItem(field, message, "required")


def _rec(field: str, message: str) -> MissingItem:
    return MissingItem(field, message, "recommended")


def check_completeness(content: RequestContent) -> list[MissingItem]:
    """List every missing essential (required) and weak spot (recommended), in field order."""
    found: list[MissingItem] = []
    if content.legal_basis is None:
        found.append(_req("legal_basis", "name the treaty, convention or law relied on"))
    elif not content.legal_basis.citation.strip():
        found.append(_rec("legal_basis.citation", "cite the article relied on"))
    if not content.case_reference.strip():
        found.append(_req("case_reference", "give the requesting side's case reference"))
    if not content.offences:
        found.append(_req("offences", "name at least one offence under investigation"))
    for i, offence in enumerate(content.offences):
        # Budapest 29(2)(b) asks a preservation request only for the offence and the facts.
        if content.kind is Kind.MLA and not offence.statute.strip():
            found.append(
                _req(f"offences[{i}].statute", "cite the statute creating the offence (MACMA s.19)")
            )
        if content.kind is Kind.MLA and not offence.maximum_penalty.strip():
            found.append(
                _req(f"offences[{i}].maximum_penalty", "state the maximum penalty (MACMA s.19)")
            )
    if not content.summary_of_facts.strip():
        found.append(_req("summary_of_facts", "summarise the facts linking data to offence"))
    if not content.data_requested:
        found.append(_req("data_requested", "list the data sought, by category"))
    for i, item in enumerate(content.data_requested):
        if not item.identifiers:
            found.append(
                _req(f"data_requested[{i}].identifiers", "name the account, number or address")
            )
        if item.time_range is None:
            found.append(_rec(f"data_requested[{i}].time_range", "limit the data to a time range"))
    if content.custodian is None:
        if content.kind is Kind.MLA:
            found.append(_req("custodian", "name the provider or custodian holding the data"))
        else:
            found.append(
                _rec("custodian", "give any available information on the custodian (29(2)(d))")
            )
    elif content.custodian.country is None:
        found.append(_rec("custodian.country", "say where the data is held"))
    if content.urgency is Urgency.EMERGENCY and not content.urgency_justification.strip():
        found.append(
            _req(
                "urgency_justification",
                "describe the significant and imminent risk to a person's life or safety "
                "(UN Convention against Cybercrime Art 2)",
            )
        )
    elif content.urgency is Urgency.URGENT and not content.urgency_justification.strip():
        found.append(_req("urgency_justification", "justify the urgency (policy)"))
    if content.confidentiality.required and not content.confidentiality.reasons.strip():
        found.append(_req("confidentiality.reasons", "give reasons for confidentiality"))
    if content.kind is Kind.MLA:
        if not content.assistance_sought.strip():
            found.append(_req("assistance_sought", "describe the assistance sought"))
        if not content.delivery_form.strip():
            found.append(_rec("delivery_form", "say in what form evidence should come"))
        if not content.procedure_requested.strip():
            found.append(_rec("procedure_requested", "name any procedure to follow"))
    else:
        if not content.necessity.strip():
            found.append(_req("necessity", "explain why preservation is necessary (29(2)(e))"))
        if content.mla_to_follow is not True:
            found.append(
                _req(
                    "mla_to_follow",
                    "state the intent to submit an MLA request for the data (29(2)(f)): "
                    "mla_to_follow must be true",
                )
            )
    return found


def required_missing(content: RequestContent) -> list[MissingItem]:
    """Only the items that block transmission."""
    return [m for m in check_completeness(content) if m.severity == "required"]
