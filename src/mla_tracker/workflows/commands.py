"""Commands the workflows accept; the API takes these as request bodies unchanged."""

from __future__ import annotations

from typing import Annotated

import msgspec

from ..crypto.dsse import Envelope
from ..domain.content import AgencyId, CountryCode
from ..domain.model import AgencyRole


class NewKey(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """An Ed25519 public key the operator registers: a first key, or a recovery key.

    Valid from the moment the hub records it; there is no way to name another time.
    """

    public_key: Annotated[
        str,
        msgspec.Meta(
            description="standard base64 of the raw 32-byte Ed25519 public key",
            min_length=44,
            max_length=44,
        ),
    ]


class RegisterAgency(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """Register an agency, optionally with its first public key."""

    id: AgencyId
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
    country: CountryCode
    role: AgencyRole
    timezone: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    public_key: Annotated[str, msgspec.Meta(min_length=44, max_length=44)] | None = None


class RevokeKey(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """The operator revokes a key from now on (the body is `{}`: it cannot be back-dated)."""


class SignedKeyEvent(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """A key event (add or revoke) signed by a current key of the agency (docs/keys.md)."""

    envelope: Envelope


class NewChallenge(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """Ask for a login challenge (the body is `{}`)."""


class SignedLogin(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """A login: the challenge signed by a current key of the agency (docs/keys.md)."""

    envelope: Envelope
