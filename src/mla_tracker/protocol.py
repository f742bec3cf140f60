"""Protocol v2 from the outside: sign a statement as an agency, verify a request as an auditor.

The CLI, the tests, the benchmarks and the auditor's tools all go through here, so a
client and the hub can never disagree on how a statement is made or checked. Nothing here
talks to a server or a database.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec

from .crypto import dsse, wire
from .crypto.errors import EncodingError
from .crypto.keys import SigningKey
from .crypto.statement import (
    KeyResolver,
    SignedStatement,
    Statement,
    body_digest,
    check_chain,
    encode_body,
    encode_payload,
    sign_statement,
)
from .domain.bodies import decode_body
from .domain.errors import DomainError
from .domain.model import Action, State
from .domain.replay import SignedMove, replay
from .domain.request import META_FIELDS, expected_meta


def meta_for(action: str, body: Mapping[str, Any]) -> dict[str, str]:
    """The `meta` a statement must sign for this action and body (see domain.request)."""
    try:
        move = Action(action)
    except ValueError:
        return {}  # the hub refuses the unknown action itself
    try:
        return expected_meta(move, decode_body(move, dict(body)))
    except DomainError:
        # An invalid body is the hub's to refuse with a precise message; sign what is there.
        return {name: str(body[name]) for name in META_FIELDS.get(move, ()) if name in body}


def _as_mapping(body: Mapping[str, Any] | bytes) -> Mapping[str, Any]:
    if not isinstance(body, bytes):
        return body
    try:
        parsed = wire.loads(body, "body")
    except EncodingError:
        return {}  # the hub refuses the body with a precise message; sign what is there
    return parsed if isinstance(parsed, Mapping) else {}


def sign(
    key: SigningKey,
    *,
    request_id: uuid.UUID,
    seq: int,
    prev: str,
    action: str,
    actor: str,
    body: Mapping[str, Any] | bytes,
    issued_at: datetime | None = None,
    meta: Mapping[str, str] | None = None,
) -> SignedStatement:
    """A signed statement with its detached body, ready to send."""
    raw = body if isinstance(body, bytes) else encode_body(body)
    if meta is None:
        meta = meta_for(action, _as_mapping(body))
    payload = encode_payload(
        request_id=request_id,
        seq=seq,
        prev=prev,
        action=action,
        actor=actor,
        key_id=key.key_id,
        body_sha256=body_digest(raw),
        meta=meta,
        issued_at=issued_at,
    )
    return SignedStatement(envelope=sign_statement(payload, key), body=wire.b64encode(raw))


def to_json(signed: SignedStatement) -> dict[str, Any]:
    """The JSON-ready form of a signed statement, as `POST …/statements` takes it."""
    result: dict[str, Any] = msgspec.to_builtins(signed)
    return result


@dataclass(frozen=True)
class VerifiedRequest:
    """What an offline verification established about one request."""

    request_id: uuid.UUID
    head_digest: str
    statements: Sequence[Statement]
    states: Sequence[State]
    bodies_checked: int
    #: Each statement's digest, in seq order (the last is head_digest).
    digests: Sequence[str] = ()


def verify_request(
    envelopes: Sequence[dsse.AnyEnvelope],
    keys: KeyResolver,
    bodies: Sequence[bytes | None] | None = None,
) -> VerifiedRequest:
    """Check one request's chain offline: every signature by a key its actor held then,
    every link, every body held against its digest, every transition against the table.

    Raises a CryptoError or DomainError; its notes name the statement's seq.
    """
    statements, digests = check_chain(envelopes, keys, bodies)
    if not statements:
        raise DomainError("a request has at least its transmit statement")
    # to_builtins leaves out the fields left at their default, None: the fields signed.
    states = replay(
        [SignedMove(st.action, st.actor, msgspec.to_builtins(st.meta)) for st in statements]
    )
    held = sum(1 for b in bodies or () if b is not None)
    return VerifiedRequest(
        request_id=statements[0].request_id,
        head_digest=digests[-1],
        statements=statements,
        states=states,
        bodies_checked=held,
        digests=digests,
    )


def parse_statement_list(
    items: Sequence[Mapping[str, Any]],
) -> tuple[list[dsse.Envelope], list[bytes | None]]:
    """Envelopes and bodies from `GET /v1/requests/{id}/statements` JSON (bodies may be null)."""
    envelopes: list[dsse.Envelope] = []
    bodies: list[bytes | None] = []
    for index, item in enumerate(items, start=1):
        try:
            # Already parsed JSON (no duplicate keys can survive that); base64 and the
            # payload are checked strictly when the chain is verified.
            envelopes.append(msgspec.convert(item["envelope"], dsse.Envelope))
        except msgspec.ValidationError as exc:
            raise EncodingError(f"[{index}].envelope", str(exc)) from exc
        body = item.get("body")
        bodies.append(None if body is None else wire.b64decode(body, f"[{index}].body"))
    return envelopes, bodies
