"""Key events (docs/keys.md): the signed, chained record of every key an agency gains or loses.

Each agency has one chain: `seq` from 1, `prev` the previous event's digest (GENESIS first),
in a DSSE envelope signed by the hub's server key (register, recover, operator revoke) or
by a current key of the agency (add, agency revoke).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec

from . import dsse, wire
from .errors import EnvelopeFormatError
from .keys import SigningKey, VerifyingKey
from .statement import GENESIS, digest

KEY_EVENT_PAYLOAD_TYPE = "application/vnd.mla-tracker.key-event+json"
KEY_EVENT_TYPE = "https://mla-tracker.dev/key-event/v1"
#: `signer` of an event signed by the hub's server key (its `keyid` is the server key id).
SERVER_SIGNER = "server"

EventKind = Literal["register", "add", "revoke", "recover"]
#: 64 lowercase hex digits, exactly: msgspec searches with Python's `re`, whose `$` also
#: matches before a final newline, which `(?!\n)` refuses (`\Z` has no ECMA-262 spelling).
Hex64 = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$(?!\n)")]

__all__ = [
    "GENESIS",
    "KEY_EVENT_PAYLOAD_TYPE",
    "KEY_EVENT_TYPE",
    "SERVER_SIGNER",
    "KeyEvent",
    "digest",
    "encode_key_event",
    "parse_key_event",
    "rfc3339",
    "sign_key_event",
]


class KeyEvent(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """The signed payload of one key event."""

    type: str
    agency: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    seq: Annotated[int, msgspec.Meta(ge=1)]
    prev: Hex64
    event: EventKind
    key_id: Hex64
    public_key: str | None = None
    issued_at: datetime
    usable_from: datetime | None = None

    def verifying_key(self) -> VerifyingKey:
        """The subject key of a register/add/recover event, checked against `key_id`."""
        if self.public_key is None:
            raise EnvelopeFormatError(f"a '{self.event}' key event needs public_key")
        key = VerifyingKey(wire.b64decode(self.public_key, "public_key"))
        if key.key_id != self.key_id:
            raise EnvelopeFormatError("key_id is not the SHA-256 of public_key")
        return key


def rfc3339(when: datetime) -> str:
    """UTC with microseconds and a `Z`, as every time in the protocol is written."""
    return when.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def encode_key_event(
    *,
    agency: str,
    seq: int,
    prev: str,
    event: EventKind,
    key_id: str,
    issued_at: datetime,
    public_key: VerifyingKey | None = None,
    usable_from: datetime | None = None,
) -> bytes:
    """Serialise a key event payload: compact JSON, fields in the documented order."""
    doc: dict[str, Any] = {
        "type": KEY_EVENT_TYPE,
        "agency": agency,
        "seq": seq,
        "prev": prev,
        "event": event,
        "key_id": key_id,
    }
    if public_key is not None:
        doc["public_key"] = public_key.to_base64()
    doc["issued_at"] = rfc3339(issued_at)
    if usable_from is not None:
        doc["usable_from"] = rfc3339(usable_from)
    return msgspec.json.encode(doc)


def sign_key_event(payload: bytes, key: SigningKey) -> dsse.Envelope:
    """Sign a key event payload as a DSSE envelope."""
    return dsse.sign(KEY_EVENT_PAYLOAD_TYPE, payload, key)


def parse_key_event(payload: bytes) -> KeyEvent:
    """Decode a key event payload strictly; raises EnvelopeFormatError naming the problem."""
    ev = wire.decode(payload, KeyEvent, "payload")
    if ev.type != KEY_EVENT_TYPE:
        raise EnvelopeFormatError(f"key event type must be '{KEY_EVENT_TYPE}'")
    for name in ("issued_at", "usable_from"):
        value = getattr(ev, name)
        if value is not None and value.tzinfo is None:
            raise EnvelopeFormatError(f"{name} needs a UTC offset or 'Z'")
    if ev.event == "revoke" and ev.public_key is not None:
        raise EnvelopeFormatError("a 'revoke' key event carries no public_key")
    if (ev.event == "recover") != (ev.usable_from is not None):
        raise EnvelopeFormatError("usable_from is required on 'recover' and only there")
    if ev.event != "revoke":
        ev.verifying_key()
    return ev


def payload_of(envelope: dsse.Envelope) -> bytes:
    """The payload bytes of a key event envelope (not yet verified)."""
    if envelope.payloadType != KEY_EVENT_PAYLOAD_TYPE:
        raise EnvelopeFormatError(f"payloadType must be '{KEY_EVENT_PAYLOAD_TYPE}'")
    return envelope.payload_bytes()
