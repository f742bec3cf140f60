"""Custody assertions: the server's own signed record of every package upload and download.

Each package has its own chain (seq from 1, `prev` the previous assertion's digest, GENESIS
first), signed by the server's log key in a DSSE envelope like agency statements.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Annotated

import msgspec

from . import dsse
from .errors import ChainError, EnvelopeFormatError
from .keys import SigningKey, VerifyingKey
from .statement import GENESIS, digest

CUSTODY_PAYLOAD_TYPE = "application/vnd.mla-tracker.custody+json"
CUSTODY_TYPE = "https://mla-tracker.dev/custody/v1"


class CustodyAssertion(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """What the server saw happen to a package."""

    type: str
    request_id: uuid.UUID
    package_id: str
    seq: Annotated[int, msgspec.Meta(ge=1)]
    prev: str
    event: str
    agency: str
    ciphertext_sha256: str
    ciphertext_size: int
    range_start: int | None = None
    range_end: int | None = None
    at: datetime


def sign_custody(
    key: SigningKey,
    *,
    request_id: uuid.UUID,
    package_id: str,
    seq: int,
    prev: str,
    event: str,
    agency: str,
    ciphertext_sha256: str,
    ciphertext_size: int,
    byte_range: tuple[int, int] | None = None,
    at: datetime | None = None,
) -> tuple[dsse.Envelope, str]:
    """Sign one custody assertion; return the envelope and its digest."""
    when = (at or datetime.now(UTC)).astimezone(UTC)
    payload = msgspec.json.encode(
        {
            "type": CUSTODY_TYPE,
            "request_id": str(request_id),
            "package_id": package_id,
            "seq": seq,
            "prev": prev,
            "event": event,
            "agency": agency,
            "ciphertext_sha256": ciphertext_sha256,
            "ciphertext_size": ciphertext_size,
            "range_start": None if byte_range is None else byte_range[0],
            "range_end": None if byte_range is None else byte_range[1],
            "at": when.isoformat(timespec="microseconds").replace("+00:00", "Z"),
        }
    )
    return dsse.sign(CUSTODY_PAYLOAD_TYPE, payload, key), digest(payload)


def verify_custody_chain(
    envelopes: Sequence[dsse.Envelope], key_for: Callable[[str], VerifyingKey]
) -> list[CustodyAssertion]:
    """Verify a package's custody trail: signatures, seq and links. Raises CryptoError."""
    prev = GENESIS
    out: list[CustodyAssertion] = []
    for index, envelope in enumerate(envelopes, start=1):
        payload = dsse.verify(envelope, CUSTODY_PAYLOAD_TYPE, key_for)
        try:
            assertion = msgspec.json.decode(payload, type=CustodyAssertion)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:  # the latter: msgspec 0.19
            raise EnvelopeFormatError(f"custody assertion: {exc}") from exc
        if assertion.seq != index or assertion.prev != prev:
            raise ChainError(f"custody assertion {index} is out of place")
        if out and (assertion.package_id, assertion.request_id) != (
            out[0].package_id,
            out[0].request_id,
        ):
            raise ChainError(f"custody assertion {index} belongs to another package")
        prev = digest(payload)
        out.append(assertion)
    return out
