"""Commands the workflows accept; the API takes these as request bodies unchanged."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from ..domain.content import AgencyId, CountryCode
from ..domain.model import AgencyRole


class NewKey(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """An Ed25519 public key to register for an agency."""

    public_key: Annotated[
        str,
        msgspec.Meta(
            description="standard base64 of the raw 32-byte Ed25519 public key",
            min_length=44,
            max_length=44,
        ),
    ]
    valid_from: datetime | None = None


class RegisterAgency(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """Register an agency, optionally with its first public key."""

    id: AgencyId
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
    country: CountryCode
    role: AgencyRole
    timezone: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    public_key: Annotated[str, msgspec.Meta(min_length=44, max_length=44)] | None = None


class RevokeKey(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """Revoke a key from a time (default: now)."""

    revoked_at: datetime | None = None
