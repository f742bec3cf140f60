"""The example case of the README, the docs and `mla demo`: a Lao request to Thailand.

One home for the example content, so the demo, the tests and docs/examples/ (checked
against it by tests/e2e/test_readme_walkthrough.py) cannot drift apart.
"""

from __future__ import annotations

from typing import Any


def mla_content(requester: str, requested: str, **over: Any) -> dict[str, Any]:
    """A complete MLA request: Lao police asking Thailand for subscriber data of a scam account."""
    content: dict[str, Any] = {
        "kind": "mla",
        "requesting_agency": requester,
        "requested_agency": requested,
        "legal_basis": {"instrument": "asean_mlat_2004", "citation": "Art 1(2)(a), Art 6"},
        "case_reference": "LA-MPS-CYB-2026-0142",
        "offences": [
            {"name": "online fraud", "statute": "Penal Code Art 166", "maximum_penalty": "5 years"}
        ],
        "summary_of_facts": "Victims paid into an account advertised on a messaging app.",
        "assistance_sought": "Subscriber information for the account, to identify its holder.",
        "data_requested": [
            {
                "category": "subscriber",
                "identifiers": ["+66 81 234 5678"],
                "time_range": {
                    "start": "2026-08-01T00:00:00+07:00",
                    "end": "2026-10-31T23:59:59+07:00",
                },
            }
        ],
        "custodian": {"name": "Example Mobile Co.", "country": "TH"},
        "delivery_form": "certified electronic copy",
        "procedure_requested": "certificate of authenticity by the custodian",
    }
    content.update(over)
    return content


def preservation_content(requester: str, requested: str, **over: Any) -> dict[str, Any]:
    """A complete expedited preservation request (Budapest Art 29(2))."""
    content = mla_content(requester, requested, kind="preservation")
    for name in ("assistance_sought", "delivery_form", "procedure_requested"):
        content.pop(name)
    content.update(
        necessity="The provider deletes logs after 90 days.",
        mla_to_follow=True,
        legal_basis={"instrument": "budapest_convention", "citation": "Art 29"},
    )
    content.update(over)
    return content
