"""DSSE envelopes (github.com/secure-systems-lab/dsse, protocol v1): sign and verify.

The signature covers PAE(payloadType, payload) over the exact payload bytes; nothing is
re-canonicalised, so a verifier in any language checks the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from . import wire
from .errors import EncodingError, EnvelopeFormatError, SignatureError
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
        """The exact signed payload bytes (standard padded base64 only, see crypto.wire)."""
        return wire.b64decode(self.payload, "envelope.payload")

    def to_json(self) -> bytes:
        """The envelope as compact JSON."""
        return msgspec.json.encode(self)


class DecodedSignature(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """One signature of a DecodedEnvelope, its bytes decoded."""

    keyid: str
    sig: bytes


class DecodedEnvelope(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """An envelope with its payload and signatures decoded, made by `decode_canonical` only."""

    payloadType: str
    payload: bytes
    signatures: list[DecodedSignature]

    def payload_bytes(self) -> bytes:
        """The exact signed payload bytes."""
        return self.payload


#: Either form of an envelope: as it travels, or decoded from its canonical bytes.
AnyEnvelope = Envelope | DecodedEnvelope


def decode_canonical(data: bytes) -> DecodedEnvelope:
    """The envelope whose canonical encoding (crypto.log_entry) is exactly `data`, decoded.

    msgspec reads base64 leniently (non-zero pad bits pass) but writes only the canonical
    padded spelling, members in DSSE order and no spaces: equal bytes after re-encoding
    prove all of that at once, so one decode gives what `Envelope.payload_bytes` and the
    strict signature decode would. Raises EncodingError for any other spelling.
    """
    try:
        envelope = msgspec.json.decode(data, type=DecodedEnvelope)
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:  # the latter: msgspec 0.19
        raise EncodingError("envelope", str(exc)) from exc
    if msgspec.json.encode(envelope) != data:
        raise EncodingError("envelope", "is not a canonical envelope encoding")
    return envelope


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 Pre-Authentication Encoding."""
    t = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(t), t, len(payload), payload)


def sign(payload_type: str, payload: bytes, key: SigningKey) -> Envelope:
    """Wrap payload in an envelope signed by key."""
    sig = key.sign(pae(payload_type, payload))
    return Envelope(
        payloadType=payload_type,
        payload=wire.b64encode(payload),
        signatures=[Signature(keyid=key.key_id, sig=wire.b64encode(sig))],
    )


def parse_envelope(data: bytes) -> Envelope:
    """Parse envelope JSON strictly (crypto.wire rules); raises EncodingError."""
    return wire.decode(data, Envelope, "envelope")


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
    sig = wire.b64decode(signature.sig, "envelope.signatures[0].sig")
    key = key_for(signature.keyid)
    if key.key_id != signature.keyid:
        raise SignatureError("signature keyid does not match the key used")
    key.verify(sig, pae(envelope.payloadType, payload))
    return payload


def verify_payload(envelope: AnyEnvelope, payload: bytes, key: VerifyingKey) -> None:
    """Check the one signature over PAE(payloadType, payload) made with `key`.

    For callers that already decoded `payload` from this envelope and resolved the key
    (the chain verifier); raises SignatureError.
    """
    key.verify(*signed_message(envelope, payload, key))


def signed_message(envelope: AnyEnvelope, payload: bytes, key: VerifyingKey) -> tuple[bytes, bytes]:
    """The (signature, message) `key` must verify for this envelope, after its own checks.

    verify_payload without the Ed25519 verification itself, for callers that verify many
    signatures in a row; raises SignatureError.
    """
    if len(envelope.signatures) != 1:
        raise SignatureError(
            f"a statement carries exactly one signature, got {len(envelope.signatures)}"
        )
    signature = envelope.signatures[0]
    if key.key_id != signature.keyid:
        raise SignatureError("signature keyid does not match the key used")
    sig = (
        signature.sig
        if isinstance(signature, DecodedSignature)
        else wire.b64decode(signature.sig, "envelope.signatures[0].sig")
    )
    return sig, pae(envelope.payloadType, payload)
