"""The statement wire format, protocol v2 (docs/protocol.md), and the per-request hash chain.

A statement is a JSON payload signed in a DSSE envelope. The action's body is *detached*:
the payload carries `body_sha256`, the hex SHA-256 of the body's exact bytes, and the bytes
travel beside the envelope. Auditors verify every signature and link from envelopes alone;
parties also check each body against its digest; a body deleted after its retention period
breaks nothing. A statement's digest is the hex SHA-256 of its exact payload bytes; `prev`
is the previous statement's digest, GENESIS for the first.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Protocol

import msgspec

from . import dsse, wire
from .errors import BodyMismatch, ChainError, CryptoError, EnvelopeFormatError, SignatureError
from .keys import SigningKey, VerifyingKey

PAYLOAD_TYPE = "application/vnd.mla-tracker.statement.v2+json"
STATEMENT_TYPE = "https://mla-tracker.dev/statement/v2"
GENESIS = "0" * 64

_Name = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


def _is_lower_hex(text: str) -> bool:
    """Whether text is only the digits 0-9a-f, in pairs."""
    try:
        # fromhex also reads spaces and upper case; writing back lower case without spaces
        # and comparing leaves exactly [0-9a-f].
        return bytes.fromhex(text).hex() == text
    except ValueError:
        return False


class StatementMeta(
    msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True, omit_defaults=True
):
    """The little an auditor needs to check transitions without reading any body.

    `transmit` carries kind, urgency and requested_agency; `assign` carries
    executing_agency; the hub's `deadline_warning`, `deadline_missed` and `expire` carry
    deadline; every other action an empty object. Each must equal the body's field.
    """

    kind: _Name | None = None
    urgency: _Name | None = None
    requested_agency: _Name | None = None
    executing_agency: _Name | None = None
    #: The hub's deadline statements name the deadline (e.g. `decide-2`).
    deadline: _Name | None = None


class Statement(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """The signed payload of one action on one request."""

    type: str
    request_id: uuid.UUID
    seq: Annotated[int, msgspec.Meta(ge=1)]
    prev: str
    action: _Name
    actor: _Name
    key_id: str
    issued_at: datetime
    body_sha256: str
    meta: StatementMeta

    def __post_init__(self) -> None:
        # One check for the three digests instead of a msgspec pattern each (a third of the
        # cost of decoding a statement), and exact: a pattern's `$` lets a final newline by.
        if not (
            len(self.prev) == len(self.key_id) == len(self.body_sha256) == 64
            and _is_lower_hex(self.prev + self.key_id + self.body_sha256)
        ):
            raise ValueError("prev, key_id and body_sha256 must each be 64 lowercase hex digits")


class SignedStatement(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """What a client sends: the envelope and, beside it, the body's bytes in base64."""

    envelope: dsse.Envelope
    body: str

    def body_bytes(self) -> bytes:
        """The exact body bytes (standard padded base64 only)."""
        return wire.b64decode(self.body, "body")


class KeyResolver(Protocol):
    """Answers which public key an agency held under a key id at a time, or raises."""

    def key_for(self, agency_id: str, key_id: str, at: datetime) -> VerifyingKey:
        """The key if it belonged to agency_id and was valid at `at`; raise CryptoError else."""
        ...


def digest(payload: bytes) -> str:
    """A statement's digest: hex SHA-256 of its payload bytes."""
    return hashlib.sha256(payload).hexdigest()


def body_digest(body: bytes) -> str:
    """The `body_sha256` of a detached body: hex SHA-256 of its exact bytes."""
    return hashlib.sha256(body).hexdigest()


def encode_body(body: Mapping[str, Any]) -> bytes:
    """Serialise an action's body as compact JSON (any strict JSON encoding would do)."""
    return msgspec.json.encode(body)


def parse_statement(payload: bytes) -> Statement:
    """Decode a payload strictly (crypto.wire rules); raises a CryptoError naming the problem."""
    st = wire.decode(payload, Statement, "statement payload")
    if st.type != STATEMENT_TYPE:
        raise EnvelopeFormatError(f"statement type must be '{STATEMENT_TYPE}', got '{st.type}'")
    if st.issued_at.tzinfo is None:
        raise EnvelopeFormatError("issued_at needs a UTC offset or 'Z'")
    return st


def check_body(statement: Statement, body: bytes) -> None:
    """Raise BodyMismatch unless body hashes to the statement's body_sha256."""
    if body_digest(body) != statement.body_sha256:
        raise BodyMismatch(
            f"the body's SHA-256 is {body_digest(body)}, the statement signed "
            f"{statement.body_sha256}"
        )


def encode_payload(
    *,
    request_id: uuid.UUID,
    seq: int,
    prev: str,
    action: str,
    actor: str,
    key_id: str,
    body_sha256: str,
    meta: Mapping[str, str] | None = None,
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
            "body_sha256": body_sha256,
            "meta": dict(meta or {}),
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


def verify_signed_by(envelope: dsse.AnyEnvelope, keys: KeyResolver) -> tuple[Statement, bytes]:
    """Verify a statement against the key its actor held under that key id at issued_at."""
    st, payload, key, signed = _signed_by(envelope, keys)
    key.verify(*signed)
    return st, payload


def _signed_by(
    envelope: dsse.AnyEnvelope, keys: KeyResolver
) -> tuple[Statement, bytes, VerifyingKey, tuple[bytes, bytes]]:
    """verify_signed_by up to the Ed25519 verification: (statement, payload, key, (sig, msg))."""
    if envelope.payloadType != PAYLOAD_TYPE:
        raise EnvelopeFormatError(
            f"payloadType must be '{PAYLOAD_TYPE}', got '{envelope.payloadType}'"
        )
    if len(envelope.signatures) != 1:
        raise SignatureError(
            f"a statement carries exactly one signature, got {len(envelope.signatures)}"
        )
    payload = envelope.payload_bytes()
    st = parse_statement(payload)
    keyid = envelope.signatures[0].keyid
    if st.key_id != keyid:
        raise EnvelopeFormatError("statement key_id differs from the signature's keyid")
    key = keys.key_for(st.actor, keyid, st.issued_at)
    return st, payload, key, dsse.signed_message(envelope, payload, key)


def verify_chain(
    envelopes: Sequence[dsse.AnyEnvelope],
    keys: KeyResolver,
    bodies: Sequence[bytes | None] | None = None,
) -> list[Statement]:
    """Verify one request's statements: signatures by keys valid then, links, bodies held.

    `bodies[i]` is statement i's detached body, or None where it is withheld (auditors) or
    deleted (retention); without `bodies` no body is checked. Returns the statements.
    """
    return check_chain(envelopes, keys, bodies)[0]


def check_chain(
    envelopes: Sequence[dsse.AnyEnvelope],
    keys: KeyResolver,
    bodies: Sequence[bytes | None] | None = None,
) -> tuple[list[Statement], list[str]]:
    """verify_chain, also giving every statement's digest (computed once, for the links).

    The Ed25519 verifications run in a row after the other checks of the statements before
    them, which keeps their code and tables in the CPU's caches (Python code between two of
    them evicts a measurable part); the error raised is still the first in seq order, as if
    each statement were checked whole before the next.
    """
    if bodies is not None and len(bodies) != len(envelopes):
        raise ChainError(f"{len(envelopes)} statements but {len(bodies)} bodies")
    prev = GENESIS
    request_id: uuid.UUID | None = None
    verified: list[Statement] = []
    digests: list[str] = []
    unverified: list[tuple[int, VerifyingKey, tuple[bytes, bytes]]] = []
    for index, envelope in enumerate(envelopes, start=1):
        try:
            st, payload, key, signed = _signed_by(envelope, keys)
        except CryptoError as exc:
            exc.add_note(f"statement seq {index}")
            _verify_pending(unverified)  # an earlier bad signature is the first failure
            raise
        # This statement's signature comes before its links in the order of the checks.
        unverified.append((index, key, signed))
        try:
            if request_id is None:
                request_id = st.request_id
            elif st.request_id != request_id:
                raise ChainError(f"statement {index} belongs to request {st.request_id}")
            if st.seq != index:
                raise ChainError(f"statement {index} has seq {st.seq}: a gap or reordering")
            if st.prev != prev:
                raise ChainError(f"statement {index} does not link to its predecessor")
            body = None if bodies is None else bodies[index - 1]
            if body is not None:
                check_body(st, body)
        except CryptoError as exc:
            exc.add_note(f"statement seq {index}")
            _verify_pending(unverified)
            raise
        prev = digest(payload)
        verified.append(st)
        digests.append(prev)
    _verify_pending(unverified)
    return verified, digests


def _verify_pending(unverified: list[tuple[int, VerifyingKey, tuple[bytes, bytes]]]) -> None:
    """Verify the signatures put off, in seq order; the first bad one raises, noting its seq."""
    for seq, key, signed in unverified:
        try:
            key.verify(*signed)
        except CryptoError as exc:
            exc.add_note(f"statement seq {seq}")
            raise
    unverified.clear()
