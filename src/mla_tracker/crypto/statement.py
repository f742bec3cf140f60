"""The statement wire format (docs/protocol.md) and the per-request hash chain.

A statement is a JSON payload signed in a DSSE envelope. Its digest is the hex SHA-256 of
the exact payload bytes; `prev` is the previous statement's digest, GENESIS for the first.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec

from . import dsse
from .errors import ChainError, EnvelopeFormatError
from .keys import SigningKey, VerifyingKey

PAYLOAD_TYPE = "application/vnd.mla-tracker.statement+json"
STATEMENT_TYPE = "https://mla-tracker.dev/statement/v1"
GENESIS = "0" * 64

Hex64 = Annotated[str, msgspec.Meta(pattern=r"^[0-9a-f]{64}$")]


class Statement(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """The signed payload of one action on one request."""

    type: str
    request_id: uuid.UUID
    seq: Annotated[int, msgspec.Meta(ge=1)]
    prev: Hex64
    action: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    actor: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    key_id: Hex64
    issued_at: datetime
    body: dict[str, Any]


def digest(payload: bytes) -> str:
    """A statement's digest: hex SHA-256 of its payload bytes."""
    return hashlib.sha256(payload).hexdigest()


def parse_statement(payload: bytes) -> Statement:
    """Decode a payload strictly; raises EnvelopeFormatError naming the problem."""
    try:
        st = msgspec.json.decode(payload, type=Statement)
    except msgspec.DecodeError as exc:
        raise EnvelopeFormatError(f"statement payload: {exc}") from exc
    if st.type != STATEMENT_TYPE:
        raise EnvelopeFormatError(f"statement type must be '{STATEMENT_TYPE}'")
    if st.issued_at.tzinfo is None:
        raise EnvelopeFormatError("issued_at needs a UTC offset or 'Z'")
    return st


def encode_payload(
    *,
    request_id: uuid.UUID,
    seq: int,
    prev: str,
    action: str,
    actor: str,
    key_id: str,
    body: dict[str, Any],
    issued_at: datetime | None = None,
) -> bytes:
    """Serialise a statement payload (compact JSON, fields in protocol order)."""
    when = (issued_at or datetime.now(UTC)).astimezone(UTC)
    return msgspec.json.encode(
        {
            "type": STATEMENT_TYPE,
            "request_id": str(request_id),
            "seq": seq,
            "prev": prev,
            "action": action,
            "actor": actor,
            "key_id": key_id,
            "issued_at": when.isoformat(timespec="microseconds").replace("+00:00", "Z"),
            "body": body,
        }
    )


def sign_statement(payload: bytes, key: SigningKey) -> dsse.Envelope:
    """Sign a statement payload as a DSSE envelope."""
    return dsse.sign(PAYLOAD_TYPE, payload, key)


def verify_statement(
    envelope: dsse.Envelope, key_for: Callable[[str], VerifyingKey]
) -> tuple[Statement, bytes]:
    """Verify an envelope's signature and parse its statement; raises CryptoError subclasses."""
    payload = dsse.verify(envelope, PAYLOAD_TYPE, key_for)
    st = parse_statement(payload)
    if st.key_id != envelope.signatures[0].keyid:
        raise EnvelopeFormatError("statement key_id differs from the signature's keyid")
    return st, payload


def verify_chain(envelopes: Sequence[dsse.Envelope], key_for: Callable[[str], VerifyingKey]) -> str:
    """Verify every signature and link of one request's statements; return the head digest."""
    prev = GENESIS
    request_id: uuid.UUID | None = None
    for index, envelope in enumerate(envelopes, start=1):
        st, payload = verify_statement(envelope, key_for)
        if request_id is None:
            request_id = st.request_id
        elif st.request_id != request_id:
            raise ChainError(f"statement {index} belongs to request {st.request_id}")
        if st.seq != index:
            raise ChainError(f"statement {index} has seq {st.seq}: a gap or reordering")
        if st.prev != prev:
            raise ChainError(f"statement {index} does not link to its predecessor")
        prev = digest(payload)
    return prev
