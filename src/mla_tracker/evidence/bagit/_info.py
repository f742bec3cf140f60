"""Bag metadata: `BagInfo`, the fields it writes to bag-info.txt and their checks."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ._paths import _check_component
from .errors import BagInfoError

_LABEL_RE = re.compile(r"[^\s:][^:\r\n]*")


@dataclass(frozen=True, slots=True, kw_only=True)
class BagInfo:
    """Metadata written to bag-info.txt; `package_id` also names the bag directory."""

    request_id: str | None = None
    package_id: str
    producer: str
    sealed_at: datetime
    extra: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Refuse metadata that cannot be written faithfully."""
        _check_component(self.package_id, BagInfoError, "package id")
        if not self.package_id.isprintable() or self.package_id != self.package_id.strip():
            raise BagInfoError(
                f"package id {self.package_id!r} must be printable without edge whitespace"
            )
        if self.sealed_at.tzinfo is None or self.sealed_at.utcoffset() is None:
            raise BagInfoError("sealed_at must be a timezone-aware datetime")
        for label, value in self.standard_fields():
            _check_info_value(label, value)
        reserved = {label.casefold() for label, _ in self.standard_fields()}
        for label, value in self.extra.items():
            if not _LABEL_RE.fullmatch(label) or label != label.strip():
                raise BagInfoError(f"bag-info label {label!r} is not a valid label")
            if label.casefold() in reserved or label.casefold() in _COMPUTED_LABELS:
                raise BagInfoError(f"bag-info label {label!r} is set by the sealer itself")
            _check_info_value(label, value)

    def standard_fields(self) -> list[tuple[str, str]]:
        """The bag-info fields derived from this metadata, in the order they are written."""
        sealed = self.sealed_at.astimezone(UTC)
        fields = [("Source-Organization", self.producer)]
        if self.request_id is not None:
            fields.append(("External-Identifier", self.request_id))
            fields.append(("MLA-Request-Id", self.request_id))
        fields.append(("MLA-Package-Id", self.package_id))
        fields.append(("MLA-Sealed-At", sealed.isoformat().replace("+00:00", "Z")))
        fields.append(("Bagging-Date", sealed.date().isoformat()))
        return fields


_COMPUTED_LABELS = frozenset(
    {"payload-oxum", "bag-size", "bagging-date", "bagit-profile-identifier"}
)


def _check_info_value(label: str, value: str) -> None:
    if "\r" in value or "\n" in value:
        raise BagInfoError(f"bag-info value of {label} must not contain line breaks")
    if value != value.strip(" \t"):
        raise BagInfoError(f"bag-info value of {label} must not start or end with whitespace")


def _bag_size(octets: int) -> str:
    if octets < 1000:
        return f"{octets} bytes"
    size = float(octets)
    units = ["KB", "MB", "GB", "TB", "PB"]
    size /= 1000
    while size >= 1000 and len(units) > 1:
        size /= 1000
        units.pop(0)
    return f"{size:.1f} {units[0]}"
