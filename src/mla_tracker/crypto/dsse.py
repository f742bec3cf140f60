"""DSSE envelopes (github.com/secure-systems-lab/dsse, protocol v1): sign and verify.

The signature covers PAE(payloadType, payload) over the exact payload bytes; nothing is
re-canonicalised, so a verifier in any language checks the same bytes.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable

import msgspec

from .errors import EnvelopeFormatError, SignatureError
from .keys import SigningKey, VerifyingKey


class Signature(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """One signature of an envelope."""

    keyid: str
    sig: str


class Envelope(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """A DSSE envelope as it travels in JSON."""

    payloadType: str
    payload: str
    signatures: list[Signature]

    def payload_bytes(self) -> bytes:
        """The exact signed payload bytes (standard or URL-safe base64 accepted, per DSSE)."""
        return b64decode_strict(self.payload, "payload")

    def to_json(self) -> bytes:
        """The envelope as compact JSON."""
        return msgspec.json.encode(self)


def b64decode_strict(text: str, what: str) -> bytes:
    """Decode standard or URL-safe base64, raising EnvelopeFormatError naming the field."""
    cleaned = text.replace("-", "+").replace("_", "/")
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        return base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise EnvelopeFormatError(f"{what} is not valid base64") from exc


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 Pre-Authentication Encoding."""
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def sign(payload_type: str, payload: bytes, key: SigningKey) -> Envelope:
    """Wrap payload in an envelope signed by key."""
    sig = key.sign(pae(payload_type, payload))
    return Envelope(
        payloadType=payload_type,
        payload=base64.b64encode(payload).decode(),
        signatures=[Signature(keyid=key.key_id, sig=base64.b64encode(sig).decode())],
    )


def parse_envelope(data: bytes) -> Envelope:
    """Parse envelope JSON strictly; raises EnvelopeFormatError."""
    try:
        return msgspec.json.decode(data, type=Envelope)
    except msgspec.DecodeError as exc:
        raise EnvelopeFormatError(f"not a DSSE envelope: {exc}") from exc


def verify(
    envelope: Envelope,
    expected_type: str,
    key_for: Callable[[str], VerifyingKey],
) -> bytes:
    """Check the one signature with the key `key_for(keyid)` returns; give the payload bytes.

    Raises EnvelopeFormatError for a malformed envelope and SignatureError for a bad or
    missing signature; `key_for` may raise its own error for an unknown key id.
    """
    if envelope.payloadType != expected_type:
        raise EnvelopeFormatError(
            f"payloadType must be '{expected_type}', got '{envelope.payloadType}'"
        )
    if len(envelope.signatures) != 1:
        raise SignatureError(
            f"a statement carries exactly one signature, got {len(envelope.signatures)}"
        )
    payload = envelope.payload_bytes()
    signature = envelope.signatures[0]
    sig = b64decode_strict(signature.sig, "signature")
    key = key_for(signature.keyid)
    if key.key_id != signature.keyid:
        raise SignatureError("signature keyid does not match the key used")
    key.verify(sig, pae(envelope.payloadType, payload))
    return payload
