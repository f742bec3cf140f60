"""ASEAN members and their IANA time zones (mla-law.md §7, IANA tz 2025b)."""

from __future__ import annotations

from collections.abc import Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import ContentInvalid

#: Member → (name, default IANA zone). Where a state spans zones the capital's comes first.
ASEAN_MEMBERS: Mapping[str, tuple[str, str]] = {
    "BN": ("Brunei Darussalam", "Asia/Brunei"),
    "KH": ("Cambodia", "Asia/Phnom_Penh"),
    "ID": ("Indonesia", "Asia/Jakarta"),
    "LA": ("Lao PDR", "Asia/Vientiane"),
    "MY": ("Malaysia", "Asia/Kuala_Lumpur"),
    "MM": ("Myanmar", "Asia/Yangon"),
    "PH": ("Philippines", "Asia/Manila"),
    "SG": ("Singapore", "Asia/Singapore"),
    "TH": ("Thailand", "Asia/Bangkok"),
    "VN": ("Viet Nam", "Asia/Ho_Chi_Minh"),
    "TL": ("Timor-Leste", "Asia/Dili"),
}


def resolve_timezone(country: str, timezone: str | None) -> str:
    """The agency's IANA zone: the one given (checked), else its ASEAN member's default."""
    if timezone:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ContentInvalid(f"unknown IANA time zone '{timezone}'") from exc
        return timezone
    if country in ASEAN_MEMBERS:
        return ASEAN_MEMBERS[country][1]
    raise ContentInvalid(
        f"country '{country}' is not an ASEAN member: give its IANA time zone explicitly"
    )
