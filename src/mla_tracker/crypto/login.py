"""Session login (docs/keys.md): an agency signs the hub's one-time challenge with a current key."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

from . import dsse, wire
from .errors import EnvelopeFormatError
from .keyevents import Hex64, rfc3339
from .keys import SigningKey

LOGIN_PAYLOAD_TYPE = "application/vnd.mla-tracker.login+json"
LOGIN_TYPE = "https://mla-tracker.dev/login/v1"


class Login(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """The signed payload of a login."""

    type: str
    agency: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    key_id: Hex64
    challenge: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    issued_at: datetime


def encode_login(*, agency: str, key_id: str, challenge: str, issued_at: datetime) -> bytes:
    """Serialise a login payload: compact JSON, fields in the documented order."""
    return msgspec.json.encode(
        {
            "type": LOGIN_TYPE,
            "agency": agency,
            "key_id": key_id,
            "challenge": challenge,
            "issued_at": rfc3339(issued_at),
        }
    )


def sign_login(
    *, agency: str, challenge: str, key: SigningKey, issued_at: datetime
) -> dsse.Envelope:
    """A signed login envelope answering `challenge`."""
    payload = encode_login(
        agency=agency, key_id=key.key_id, challenge=challenge, issued_at=issued_at
    )
    return dsse.sign(LOGIN_PAYLOAD_TYPE, payload, key)


def parse_login(payload: bytes) -> Login:
    """Decode a login payload strictly; raises EnvelopeFormatError."""
    login = wire.decode(payload, Login, "payload")
    if login.type != LOGIN_TYPE:
        raise EnvelopeFormatError(f"login type must be '{LOGIN_TYPE}'")
    if login.issued_at.tzinfo is None:
        raise EnvelopeFormatError("issued_at needs a UTC offset or 'Z'")
    return login
